"""`python eval/gen_report.py` runs `recipekit.commands.gen_report` (as `llm-recipes` does)."""

from recipekit.commands.gen_report import main

if __name__ == "__main__":
    main()
