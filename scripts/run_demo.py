"""`python scripts/run_demo.py` runs `recipekit.commands.run_demo` (as `llm-recipes` does)."""

from recipekit.commands.run_demo import main

if __name__ == "__main__":
    main()
