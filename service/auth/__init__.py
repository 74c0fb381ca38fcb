"""Authentication: passwords, tokens, login sessions and their resources."""
