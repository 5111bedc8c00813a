"""`python scripts/doctor.py` runs `recipekit.commands.doctor` (as `llm-recipes` does)."""

from recipekit.commands.doctor import main

if __name__ == "__main__":
    main()
