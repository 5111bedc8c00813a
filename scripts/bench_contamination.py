"""`python scripts/bench_contamination.py` runs `recipekit.commands.bench_contamination` (as `llm-recipes speed
contamination` does)."""

from recipekit.commands.bench_contamination import main

if __name__ == "__main__":
    main()
