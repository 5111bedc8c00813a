"""Recipes before any GPU: reading a recipe and its header (``reading``), the rules it must follow
(``checks``), and the tiny models and tokenizers the smoke runs and tests train (``tiny_model``)."""
