"""The run record: an append-only, hash-chained, fsynced ``journal.jsonl`` per run directory."""
