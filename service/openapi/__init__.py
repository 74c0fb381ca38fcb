"""The OpenAPI document, derived from the declared operations and the pydantic schemas, and the /docs page."""
