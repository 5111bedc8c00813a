"""Is a scored set in the training data? Exact, 13-gram and near-duplicate matches between sets."""
