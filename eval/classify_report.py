"""`python eval/classify_report.py` runs `recipekit.commands.classify_report` (as `llm-recipes` does)."""

from recipekit.commands.classify_report import main

if __name__ == "__main__":
    main()
