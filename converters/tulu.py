"""`python converters/tulu.py` runs `recipekit.converters.tulu` (as `llm-recipes` does)."""

from recipekit.converters.tulu import main

if __name__ == "__main__":
    main()
