"""The OpenAPI document, built from the operation table and the pydantic schemas, and the /docs page."""
