"""One converter per public dataset (raw files or a hub id -> Alpaca/ShareGPT JSONL in data/, registered), the
catalog of those datasets and their small raw fixtures."""
