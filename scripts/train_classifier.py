"""`python scripts/train_classifier.py` runs `recipekit.commands.train_classifier` (as `llm-recipes` does)."""

from recipekit.commands.train_classifier import main

if __name__ == "__main__":
    main()
