"""Exporting a trained adapter: merged into its base model, with a model card."""
