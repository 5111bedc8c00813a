"""`python converters/generic.py` runs `recipekit.converters.generic` (as `llm-recipes` does)."""

from recipekit.converters.generic import main

if __name__ == "__main__":
    main()
