"""`python converters/afqmc.py` runs `recipekit.converters.afqmc` (as `llm-recipes` does)."""

from recipekit.converters.afqmc import main

if __name__ == "__main__":
    main()
