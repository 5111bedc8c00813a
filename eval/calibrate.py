"""`python eval/calibrate.py` runs `recipekit.commands.calibrate` (as `llm-recipes` does)."""

from recipekit.commands.calibrate import main

if __name__ == "__main__":
    main()
