"""``python -m recipekit``: the same as ``llm-recipes``."""

from recipekit.commands import main

raise SystemExit(main())
