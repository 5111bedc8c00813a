"""`python converters/arena.py` runs `recipekit.converters.arena` (as `llm-recipes` does)."""

from recipekit.converters.arena import main

if __name__ == "__main__":
    main()
