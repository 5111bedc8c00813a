"""Before renting GPUs: does a recipe fit, how much memory each GPU peaks at and why, how long, what it costs.

One training step of the recipe's real architecture (config.json only: a local folder, the Hugging Face cache
or the package's plan/configs/) runs on fake tensors with PyTorch's MemTracker and every operation counted
(FLOPs and bytes): activations by simulation, model states by DeepSpeed's accounting for the recipe's precision,
ZeRO stage and offload, LoRA and 4-bit weights, DPO's pair batch and reference. Step time: each operation on the
card's roofline at the run's precision, kernel launches, 4-bit dequantisation, the optimizer step and ZeRO's
communication (recipekit/plan/timing.py, checked against published runs by bench_plan.py --published); cost at
the card's dated price (recipekit/plan/cards.yaml; --price, --cards). When a run does not fit, the usual changes
are each simulated. --measure also trains a few real steps on this machine's device and prints the measured peak
memory and step time beside the plan of that run (recipekit/plan/measure.py). Writes plan.json and plan.md.

Without --gpu (or --gpu-mem): the card the recipe's header names ('# Hardware:' line), else this machine's GPU;
else it prints the peak memory per GPU and the cards that hold it, one line, writes nothing and exits 0 (name
one with --gpu for the time, cost and plan files); with --measure, that peak beside the steps measured on this
machine's device, in plan.json and plan.md.

Example:
    llm-recipes plan recipes/agnews_full.yaml --gpu a100-40g --gpus 8 --seq 256 --rows 120000
    llm-recipes plan recipes/qwen3_4b_tulu_sft_lora.yaml --gpu rtx4090 --gpus 2 --price 0.69
    llm-recipes plan recipes/classifier/arena_deberta_v3.yaml --gpu-mem 24 --gpu-tflops 150 --mfu 0.3
    llm-recipes plan recipes/qwen3_4b_tulu_sft_lora.yaml --gpu h200 --measure
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recipekit.cli import at_least, number_above, script_parser
from recipekit.errors import InputError
from recipekit.files import announce, atomic_write_text, write_json, writing_command
from recipekit.paths import at_root
from recipekit.plan.gpus import GPUS, Gpu, default_card, load_cards, peak_and_cards, report_hardware, resolve_gpu
from recipekit.plan.padding import add_padding
from recipekit.recipes.datacheck import measured_seq
from recipekit.recipes.reading import Recipe, load_recipe, producers


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("recipe", help="a LLaMA-Factory or classifier recipe")
    parser.add_argument("--gpu", help=f"card: {', '.join(GPUS)} (default: the header's 'Hardware:' card, else this "
                                      "machine's GPU, else only the cards the run fits are listed)")
    parser.add_argument("--gpus", type=at_least(1), default=1, help="GPUs in the run (default: 1)")
    parser.add_argument("--gpu-mem", type=number_above(0),
                        help="memory of another card in GiB (or override the table's)")
    parser.add_argument("--gpu-tflops", type=number_above(0), help="its dense bf16/fp16 peak in TFLOP/s")
    parser.add_argument("--seq", type=at_least(1), help="tokens per row instead of cutoff_len (the worst case)")
    parser.add_argument("--data", action="store_true",
                        help="measure the recipe's registered data (LLaMA-Factory's tokenizing through check_data; "
                             "the model's tokenizer when local, else a tiny BPE: approximate): the longest row sets "
                             "the length, and the plan says the tokens its padded batches run, what packing would "
                             "run, and the hours at the mean padded row")
    parser.add_argument("--rows", type=at_least(1), help="training rows (default: the registered data's count)")
    parser.add_argument("--mfu", type=number_above(0, 1),
                        help="a measured model FLOPs utilisation, to time the run by instead of the step-time model")
    parser.add_argument("--price", type=number_above(0, low_included=True),
                        help="price per GPU-hour (default: the card's dated price, if any)")
    parser.add_argument("--cards", metavar="FILE",
                        help="a cards file of your own (recipekit/plan/cards.yaml's layout) adding or replacing cards")
    parser.add_argument("--out", help="folder for plan.json and plan.md (default: outputs/plan/RECIPE)")
    parser.add_argument("--report-hardware", action="store_true",
                        help="plan on the report's hardware (card and count, in its chain file) not --gpu/--gpus")
    parser.add_argument("--measure", action="store_true",
                        help="also train a few real steps of the recipe on this machine's device (its architecture "
                             "with random weights, synthetic rows at cutoff_len) and print measured peak memory and "
                             "step time beside the plan of that run")
    parser.add_argument("--measure-steps", type=at_least(2), default=4,
                        help="optimizer steps --measure runs (the first is not timed; default 4)")
    parser.add_argument("--write-header", action="store_true",
                        help="put the plan's one-line summary into the recipe's header (a '# Plan' line)")
    return parser


# pragma: no mutate end
def card_list(result: dict, cards: dict[str, Gpu]) -> dict:
    """The run's peak per GPU and the cards that hold it, one line."""
    found = peak_and_cards(result, cards)
    peak, fits = found["peak_gib"], found["fits_cards"]
    where = f"{result['gpus']} GPU{'s' * (result['gpus'] > 1)}"
    said = f"it fits {', '.join(fits)}" if fits else "it fits none of the cards (give --gpu CARD for the changes)"
    print(f"{result['recipe']}: {peak:.1f} GiB peak per GPU on {where}; {said}; no card is named (--gpu, the "
          "header's 'Hardware:') and this machine has none: name one with --gpu for time, cost and plan files")
    return found


def measured_here(args: argparse.Namespace, recipe: Recipe, result: dict, cards: dict[str, Gpu],
                  made_by: dict[str, Path]) -> dict:
    """``--measure`` with no card named and none in the table for this machine (the CPU, or a GPU the table lacks):
    the device measured is the plan's; its peak per GPU beside the measured steps (no time or cost without a card's
    peaks); writes plan.json and plan.md."""
    from recipekit.plan.measure import measure
    from recipekit.report.plan import render_measured_here

    out = Path(args.out) if args.out else at_root("outputs") / "plan" / Path(args.recipe).stem
    found = peak_and_cards(result, cards)
    found["measured"] = measure(recipe, args.gpus, args.measure_steps, out, cards, made_by).as_dict()
    markdown = render_measured_here(found)
    write_json(out / "plan.json", found)
    atomic_write_text(out / "plan.md", markdown)
    print(markdown.rstrip())
    announce(f"\nwrote {out / 'plan.json'}, {out / 'plan.md'}")
    return found


@writing_command
def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    from recipekit.plan.planner import plan
    from recipekit.report.plan import header_line, render_markdown, set_plan_line

    recipe = load_recipe(args.recipe)
    if recipe.is_export:
        raise InputError("an export recipe trains nothing: plan the recipe that trains its adapter "
                         f"({recipe.written('adapter_name_or_path', 'adapter_name_or_path')})", args.recipe)
    named = True
    if args.report_hardware:
        card, args.gpus, named = report_hardware(recipe.facts().hardware)
        args.gpu = card
    cards = load_cards(args.cards)
    chosen, card_given = None, args.gpu is not None or args.gpu_mem is not None or args.gpu_tflops is not None
    if not card_given:
        args.gpu, chosen = default_card(recipe, cards)
    gpu = resolve_gpu(args.gpu or max(cards, key=lambda key: cards[key].memory_gib), args.gpu_mem, args.gpu_tflops,
                      cards)
    if args.measure:  # before any simulating: a recipe it cannot train is refused at once
        from recipekit.plan.measure import check_measurable

        check_measurable(recipe)
    seq, note, lengths = args.seq, None, None
    if args.data:
        seq, note, lengths = measured_seq(recipe, args.recipe)
    made_by = producers()
    result = plan(recipe, gpu, args.gpus, made_by, args.rows, args.mfu, args.price, seq, cards)
    if note:
        result["seq_note"] = note
    if args.gpu is None and not card_given:
        if not args.measure:
            return card_list(result, cards)
        return measured_here(args, recipe, result, cards, made_by)
    if chosen:
        print(f"planned on {args.gpu}: {chosen} (name another with --gpu)")
    if lengths and result["kind"] == "train":
        add_padding(result, lengths, recipe)
    out = Path(args.out) if args.out else at_root("outputs") / "plan" / Path(args.recipe).stem
    markdown = render_markdown(result) + (f"\n{note}\n" if note else "")
    if args.measure:
        from recipekit.plan.measure import measure
        from recipekit.report.plan import render_measured

        measured = measure(recipe, args.gpus, args.measure_steps, out, cards, made_by)
        result["measured"] = measured.as_dict()
        markdown += "\n" + render_measured(result["measured"])
    write_json(out / "plan.json", result)
    atomic_write_text(out / "plan.md", markdown)
    print(markdown.rstrip())
    announce(f"\nwrote {out / 'plan.json'}, {out / 'plan.md'}")
    if args.write_header:
        line = f"# Plan ({'report' if named else 'the report names no GPU; planned'} on {header_line(result)})."
        text = set_plan_line(recipe.path.read_text(encoding="utf-8"), line)
        atomic_write_text(recipe.path, text)
        announce(f"wrote to {args.recipe}: {line}")
    return result


if __name__ == "__main__":
    main()
