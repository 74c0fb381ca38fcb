"""The account's email address, its confirmation, and password recovery by mail."""
