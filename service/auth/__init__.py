"""Credentials and login sessions: passwords, limits, tokens, bearer and cookie logins."""
