"""`python converters/yelp.py` runs `recipekit.converters.yelp` (as `llm-recipes` does)."""

from recipekit.converters.yelp import main

if __name__ == "__main__":
    main()
