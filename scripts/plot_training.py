"""`python scripts/plot_training.py` runs `recipekit.commands.plot_training` (as `llm-recipes` does)."""

from recipekit.commands.plot_training import main

if __name__ == "__main__":
    main()
