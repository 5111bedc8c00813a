"""`python eval/kaggle_submission.py` runs `recipekit.commands.kaggle_submission` (as `llm-recipes` does)."""

from recipekit.commands.kaggle_submission import main

if __name__ == "__main__":
    main()
