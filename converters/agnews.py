"""`python converters/agnews.py` runs `recipekit.converters.agnews` (as `llm-recipes` does)."""

from recipekit.converters.agnews import main

if __name__ == "__main__":
    main()
