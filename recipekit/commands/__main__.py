"""``python -m recipekit.commands``: the same as ``llm-recipes``."""

from recipekit.commands import main

raise SystemExit(main())
