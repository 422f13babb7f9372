"""HTTP edge: routers under /api/v1, dependencies and problem handlers."""
