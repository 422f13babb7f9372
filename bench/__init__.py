"""`make bench`: powercat's paths measured against same-run baselines (docs/performance.md)."""
