"""`python eval/score_labels.py` runs `recipekit.commands.score_labels` (as `llm-recipes` does)."""

from recipekit.commands.score_labels import main

if __name__ == "__main__":
    main()
