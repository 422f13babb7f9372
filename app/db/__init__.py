"""Database plumbing: the one engine factory and the dialect helpers."""
