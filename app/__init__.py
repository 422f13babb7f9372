"""powercat: a standardized catalogue of government power items (权力事项)."""

__version__ = "0.1.0"
