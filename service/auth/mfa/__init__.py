"""The second factor: TOTP enrolment, recovery codes, and the second step of a login."""
