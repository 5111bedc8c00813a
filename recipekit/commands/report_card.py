"""The report card of a reproduction: the report's published numbers beside this run's, 95% intervals, verdicts.

Reads the chain (recipes/reproduce/REPORT.yaml) and the reproduction's folder (the eval scripts' per-row
files, reproduce.json for times); writes report_card.md, report_card.json and report_card.png there. A
number is reproduced when the report's value lies in this run's 95% interval (a percentile bootstrap of the
rows); otherwise the card gives the difference. A --tiny card says so first and gives no verdicts.

Example:
    llm-recipes report-card agnews
    llm-recipes report-card yelp5 --out outputs/reproduce/yelp5-tiny --tiny --wandb
"""

from __future__ import annotations

import argparse
from typing import Any

from recipekit.cli import script_parser
from recipekit.converters.catalog import tiny_source_flags
from recipekit.errors import InputError, exit_on_input_error
from recipekit.files import announce
from recipekit.paths import root
from recipekit.reproduce.chain import add_chain_arguments, layout_for
from recipekit.reproduce.runner import STATE, held, load_state


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    add_chain_arguments(parser, "the reproduction's folder", "the folder holds a tiny run")
    parser.add_argument("--wandb", action="store_true", help="log the card to the reproduction's wandb group")
    return parser


# pragma: no mutate end
@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    from recipekit.reproduce.publish import write_card

    layout = layout_for(args.report, args.out, args.tiny, sources=tiny_source_flags, writes=False)
    state = load_state(root() / layout.out)
    if not state:
        raise InputError(f"no {STATE} here: run `python scripts/reproduce.py {layout.chain.name}` first",
                         str(layout.out))
    if bool(state.get("tiny")) != args.tiny:
        raise InputError(f"{STATE} says tiny={state.get('tiny')}: pass --tiny only for a tiny run", str(layout.out))
    if args.wandb:
        from recipekit.report.wandb import require_wandb

        require_wandb()
    with held(layout):  # not while a reproduction still runs there
        paths = write_card(layout, layout.steps(), state, args.wandb)
    announce(f"wrote {', '.join(map(str, paths))}")
    return {"card": [str(p) for p in paths]}


if __name__ == "__main__":
    main()
