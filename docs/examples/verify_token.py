"""Verify one of the service's access tokens offline, as a resource server does.

Only the service's JWKS URL is needed, no shared secret. A logout is seen
only when the access token expires (ACCESS_TOKEN_TTL); a resource server
that must see it at once asks POST /api/v1/auth/introspect instead.

    python verify_token.py JWKS_URL ISSUER AUDIENCE TOKEN [ALGORITHM]
"""

import sys

import jwt


def verify(
    client: jwt.PyJWKClient, token: str, *, issuer: str, audience: str, algorithm: str = "EdDSA"
) -> dict:
    """The token's claims if it is a live access token of that issuer for that audience.

    ``algorithm`` is the service's one algorithm: pin it, never take it from the token.
    """
    key = client.get_signing_key_from_jwt(token)  # picked by the token's kid, fetched once and cached
    claims = jwt.decode(
        token,
        key,
        algorithms=[algorithm],
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    if claims.get("typ") != "access":  # a refresh token is not a credential for an API call
        raise jwt.InvalidTokenError("not an access token")
    return claims


if __name__ == "__main__":
    jwks_url, issuer, audience, token, *algorithm = sys.argv[1:]
    client = jwt.PyJWKClient(jwks_url)  # one per process: it caches the key set
    print(
        verify(
            client, token, issuer=issuer, audience=audience, algorithm=algorithm[0] if algorithm else "EdDSA"
        )
    )
