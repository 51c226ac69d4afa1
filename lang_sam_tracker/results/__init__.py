"""The results file: record building, spooling, the JSONL file, its index, keys, reading back, merging."""
