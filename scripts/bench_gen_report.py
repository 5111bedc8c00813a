"""`python scripts/bench_gen_report.py` runs `recipekit.commands.bench_gen_report` (as `llm-recipes` does)."""

from recipekit.commands.bench_gen_report import main

if __name__ == "__main__":
    main()
