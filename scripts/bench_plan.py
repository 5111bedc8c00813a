"""`python scripts/bench_plan.py` runs `recipekit.commands.bench_plan` (as `llm-recipes` does)."""

from recipekit.commands.bench_plan import main

if __name__ == "__main__":
    main()
