"""Accounts: registration, the profile, the password's storage and rules, the account key."""
