"""Recipes before any GPU: reading a recipe and its header (``reading``), what it stands for (``facts``: the
report's settings, hardware, global batch and differences, from the report's chain file), the rules it must follow
(``checks``), and the tiny models and tokenizers the smoke runs and tests train (``tiny_model``)."""
