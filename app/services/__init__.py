"""Use cases: no HTTP, no commit; whoever opens the session owns the transaction."""
