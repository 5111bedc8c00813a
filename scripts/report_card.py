"""`python scripts/report_card.py` runs `recipekit.commands.report_card` (as `llm-recipes` does)."""

from recipekit.commands.report_card import main

if __name__ == "__main__":
    main()
