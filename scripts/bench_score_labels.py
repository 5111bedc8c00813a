"""`python scripts/bench_score_labels.py` runs `recipekit.commands.bench_score_labels` (as `llm-recipes` does)."""

from recipekit.commands.bench_score_labels import main

if __name__ == "__main__":
    main()
