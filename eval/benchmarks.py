"""`python eval/benchmarks.py` runs `recipekit.commands.benchmarks` (as `llm-recipes` does)."""

from recipekit.commands.benchmarks import main

if __name__ == "__main__":
    main()
