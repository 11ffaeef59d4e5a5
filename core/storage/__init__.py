"""Storage and results: records, the SQLite store, the results read model and exports."""
