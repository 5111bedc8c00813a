"""Reports: the JSON is the truth (``writer``); Markdown, PNGs and wandb runs are rendered from it
(``classification``, ``generation``, ``reliability``, ``wandb``)."""
