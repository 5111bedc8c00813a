"""Planning a run before renting GPUs: one training step of the recipe's real architecture simulated on fake
tensors (memory by kind, FLOPs), then what each GPU holds under the recipe's precision and ZeRO stage, whether it
fits a card, how long the run takes and what it costs, and the cheapest changes that make it fit."""
