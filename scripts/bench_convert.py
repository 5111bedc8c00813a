"""`python scripts/bench_convert.py` runs `recipekit.commands.bench_convert` (as `llm-recipes` does)."""

from recipekit.commands.bench_convert import main

if __name__ == "__main__":
    main()
