"""`python eval/checkpoints.py` runs `recipekit.commands.checkpoints` (as `llm-recipes` does)."""

from recipekit.commands.checkpoints import main

if __name__ == "__main__":
    main()
