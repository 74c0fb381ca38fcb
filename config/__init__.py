"""Settings and deployment configuration (hypercorn, nginx)."""
