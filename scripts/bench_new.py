"""`python scripts/bench_new.py` runs `recipekit.commands.bench_new` (as `llm-recipes speed new` does)."""

from recipekit.commands.bench_new import main

if __name__ == "__main__":
    main()
