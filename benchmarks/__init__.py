"""retrieval-harness engine: datasets, retrievers, exact search, metrics, records, leaderboard."""

__version__ = "0.1.0"
