"""Notes: a resource each user owns."""
