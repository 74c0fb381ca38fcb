"""Tokens other services trust: JWTs and their keys, introspection, personal access tokens."""
