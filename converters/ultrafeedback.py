"""`python converters/ultrafeedback.py` runs `recipekit.converters.ultrafeedback` (as `llm-recipes` does)."""

from recipekit.converters.ultrafeedback import main

if __name__ == "__main__":
    main()
