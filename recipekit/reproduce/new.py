"""``llm-recipes new``: a dataset of the user's converted, measured, fitted to a card by the planner, and written
as recipes and a chain, all as one unit (a refusal writes nothing)."""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from recipekit.data.transaction import Plan
from recipekit.errors import InputError
from recipekit.files import atomic_write_text, remove_file, writes_held
from recipekit.paths import at_root, root, shown
from recipekit.plan.fit import METHODS, Planned, Search, choose_cutoff, search
from recipekit.reproduce.new_recipes import NewRun, export_args, predict_args, recipe_text, template_for, train_args

DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
MAKER = "generic"  # the converter recorded with the sets: ``new`` converts through ``convert generic``
GLOBAL_BATCH = 16
MIN_TRAIN = 20  # training rows left after the held-out sets
HELD_OUT = (10, 1000)  # rows of NAME_val and of NAME_test: a tenth of the rows, within these bounds


def require_config(model: str) -> None:
    """The model's config.json on this machine, else one line saying how to make it available."""
    from recipekit.plan.models import config_path

    try:
        config_path(model)
    except InputError:
        raise InputError(f"--model {model}: its config.json is not available offline (not a local folder, not in "
                         f"the Hugging Face cache, not shipped in recipekit/plan/configs/); fetch it once with "
                         f"`huggingface-cli download {model} config.json` (or pass a local folder with --model)") \
            from None


def local_card(name: str | None, gpus: int | None) -> tuple[str, int]:
    """The card and count: --gpu/--gpus, else this machine's GPU; no GPU and no --gpu is one line."""
    if name is not None:
        return name, gpus or 1
    import torch

    if not torch.cuda.is_available():
        from recipekit.plan.gpus import GPUS

        raise InputError(f"no GPU on this machine: name the card the run will use with --gpu ({', '.join(GPUS)}) "
                         "and --gpus N")
    return torch.cuda.get_device_name(0), gpus or torch.cuda.device_count()


def columns_needed(args: argparse.Namespace) -> dict[str, str]:
    """Flag -> column, for every column the flags name; the task's own columns required."""
    needed = {"--input-column": args.input_column, "--output-column": args.output_column,
              "--chosen-column": args.chosen_column, "--rejected-column": args.rejected_column}
    if args.task == "preference":
        if not (args.chosen_column and args.rejected_column) or args.output_column or args.label_map:
            raise InputError("--task preference needs --chosen-column and --rejected-column (and no "
                             "--output-column or --label-map)")
    elif not args.output_column or args.chosen_column or args.rejected_column:
        raise InputError(f"--task {args.task} needs --output-column (and no --chosen-column/--rejected-column)")
    if args.label_map and args.task != "classify":
        raise InputError("--label-map is for --task classify")
    if not (args.input_column or args.template or args.instruction):
        raise InputError("give --input-column, --template or --instruction (what the model reads)")
    found = {flag: column for flag, column in needed.items() if column}
    if args.template:
        from recipekit.converters.generic import template_fields

        found.update({f"--template {{{field}}}": field for field in template_fields(args.template)})
    return found


def read_columns(args: argparse.Namespace) -> tuple[int, list[str]]:
    """(rows, column names) of the source; a column the flags name that it lacks is one line."""
    from recipekit.data.readers import read_source

    source = args.hf or args.data
    splits = read_source(source, bool(args.hf))
    rows = sum(len(records) for records in splits.values())
    columns: list[str] = []
    for records in splits.values():
        for record in records[:1]:
            columns += [c for c in record.fields if c not in columns]
    for flag, column in columns_needed(args).items():
        if column not in columns:
            raise InputError(f"{flag} {column!r}: no such column (columns: {', '.join(columns)})", source)
    return rows, columns


def convert_flags(args: argparse.Namespace, held: int) -> list[str]:
    """The `convert generic` flags that make NAME, NAME_val and NAME_test from the source."""
    source = ["--hf", args.hf] if args.hf else ["--input", str(shown(Path(args.data).resolve()))]
    flags = [*source, "--name", args.name]
    for flag, value in (("--instruction", args.instruction), ("--input-column", args.input_column),
                        ("--template", args.template), ("--output-column", args.output_column),
                        ("--label-map", args.label_map), ("--chosen-column", args.chosen_column),
                        ("--rejected-column", args.rejected_column)):
        if value:
            flags += [flag, value]
    if args.task == "classify" and not args.label_map:
        flags.append("--stratify")
    return [*flags, "--val-size", str(held), "--test-size", str(held)]


def convert(flags: list[str], data_dir: Path) -> Any:
    """``convert generic`` with ``flags`` into ``data_dir`` (the conversion, its sets staged and committed); the
    ``--input`` the flags give relative to the root (as the chain's convert step reads it) is read there."""
    from recipekit.converters import generic
    from recipekit.converters.command import with_input

    here = with_input(flags, lambda path: str(at_root(path)))
    conversion = generic.convert(generic.build_parser().parse_args([*here, "--data-dir", str(data_dir)]))
    conversion.commit(flags[flags.index("--name") + 1], data_dir, maker=MAKER)
    return conversion


def check_sets_free(names: list[str], force: bool) -> None:
    """Sets of these names that another converter wrote are replaced only with --force (the commit refuses
    too; this says so before any work, with this command's flags)."""
    from recipekit.data.dataset_info import load_registry, maker_of

    registry_path = root() / "data" / "dataset_info.json"
    registry = load_registry(registry_path)
    taken = {name: maker_of(registry[name]) for name in names if name in registry}
    taken = {name: maker for name, maker in taken.items() if maker not in (None, MAKER)}
    if taken and not force:
        makers = " and convert ".join(sorted(set(taken.values())))
        raise InputError(f"{', '.join(map(repr, taken))} {'was' if len(taken) == 1 else 'were'} written by convert "
                         f"{makers}: choose another NAME, or --force to replace it", str(shown(registry_path)))


def label_set(conversion: Any, name: str, column: str, source: str) -> list[str]:
    """The classes of the converted rows, most frequent first; one class only is one line."""
    counts: Counter[str] = Counter()
    for staged in conversion.plan.sets.values():
        counts.update(str(label) for label in staged.labels if label is not None)
    if len(counts) < 2:
        only = ", ".join(repr(label) for label in counts) or "none"
        raise InputError(f"--output-column {column}: one class only ({only}); a classifier needs two or more",
                         source)
    labels = [label for label, _ in counts.most_common()]
    if any("," in label for label in labels):
        raise InputError(f"--output-column {column}: a label holds a comma ({labels}); rename it with --label-map",
                         source)
    return labels


def plan_choice(args: argparse.Namespace, model: str, template: str, cutoff: int, rows: int, card: str,
                gpus: int, scratch: Path) -> tuple[list[Planned], Search, Any]:
    """The search on the card: the base run read from a LoRA recipe by the planner, every candidate planned."""
    from recipekit.plan.fit import Candidate
    from recipekit.plan.gpus import resolve_gpu
    from recipekit.plan.planner import read_run
    from recipekit.recipes.reading import load_recipe

    gpu = resolve_gpu(card)
    base = NewRun(args.name, args.task, model, template, cutoff, "bf16", Candidate("lora", 0, False, True, 1, 1))
    path = scratch / "base.yaml"
    path.write_text(recipe_text([], {k: v for k, v in train_args(base).items() if k != "bf16"}),
                    encoding="utf-8")
    run, config = read_run(load_recipe(path), gpus, {})  # the recipe written holds the cutoff
    global_batch = max(GLOBAL_BATCH // gpus, 1) * gpus
    found = Search(run, config, gpu, gpus, rows, global_batch, full_reference=args.task == "preference")
    methods = METHODS if args.method == "auto" else (args.method,)
    return search(found, methods, args.hours, args.budget), found, gpu


def targets(name: str) -> tuple[Path, Path]:
    base = root() / "recipes"
    return base / name, base / "reproduce" / f"{name}.yaml"


def create(args: argparse.Namespace) -> dict[str, Any]:
    """The whole command; returns what it chose and wrote."""
    from recipekit.recipes.datacheck import row_lengths
    from recipekit.reproduce.chain import chain_names
    from recipekit.reproduce.scaffold import chain, chain_text

    folder, chain_path = targets(args.name)
    if not args.force and (folder.exists() or chain_path.exists()):
        raise InputError(f"{args.name} already exists ({shown(folder if folder.exists() else chain_path)}): choose "
                         "another NAME, or --force to replace it")
    if args.force and chain_path.exists() and not folder.exists() and args.name in chain_names():
        raise InputError(f"{args.name} is a report's chain: choose another NAME")
    model = args.model or DEFAULT_MODEL
    require_config(model)
    from recipekit.plan.gpus import GPUS, card_key

    card, gpus = local_card(args.gpu, args.gpus)
    card = card_key(card, GPUS)
    source = args.hf or args.data
    rows, _ = read_columns(args)
    held = min(max(rows // 10, HELD_OUT[0]), HELD_OUT[1])
    if rows - 2 * held < MIN_TRAIN:
        raise InputError(f"{rows} rows: too few for train / val / test splits (at least {2 * HELD_OUT[0] + MIN_TRAIN} "
                         "needed)", source)
    flags = convert_flags(args, held)
    template = template_for(model)
    names = [args.name, f"{args.name}_val", f"{args.name}_test"]
    check_sets_free(names, args.force)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        (scratch / "data").mkdir()
        conversion = convert(flags, scratch / "data")
        labels = label_set(conversion, args.name, args.output_column, source) if args.task == "classify" else None
        from recipekit.data.dataset_info import load_registry

        registry = load_registry(scratch / "data" / "dataset_info.json")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            lengths, how = row_lengths(scratch / "data", names, registry, model, template)  # LLaMA-Factory's logs
        cutoff, cut, cutoff_why = choose_cutoff(lengths)
        train_rows = len(conversion.plan.sets[args.name].rows)
        planned, found, gpu = plan_choice(args, model, template, cutoff, train_rows, card, gpus, scratch)
        chosen = planned[0]
        run = NewRun(args.name, args.task, model, template, cutoff, gpu.half_precision(), chosen.candidate)
        texts = recipe_texts(run, card, gpu, gpus, chosen, scratch, train_rows)
    content = chain(run, flags, labels, card, gpus, f"{args.name}: {args.task} with {model} (llm-recipes new)")
    chain_header = [f"{args.name}: {args.task} on {source} with {model}, written by llm-recipes new.",
                    f"Run: llm-recipes reproduce {args.name} (--tiny: a CPU rehearsal on a tiny model; --dry-run: "
                    "the commands)."]
    with writes_held():
        conversion.plan = Plan(root() / "data", sets=conversion.plan.sets)  # the sets measured, now in data/
        conversion.commit(args.name, root() / "data", maker=MAKER, replace=args.force)
        for old in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            if old.name not in texts:
                remove_file(old)
        for file_name, text in texts.items():
            atomic_write_text(folder / file_name, text)
        atomic_write_text(chain_path, chain_text(chain_header, content))
    report(args, how, cutoff_why, cut, planned, found, conversion, folder, chain_path, labels)
    return {"cutoff_len": cutoff, "rows_cut": cut, "lengths_by": how, "labels": labels,
            "plans": [p.as_dict() for p in planned], "simulations": len(found.simulations),
            "recipes": sorted(str(folder / name) for name in texts), "chain": str(chain_path)}


def recipe_texts(run: NewRun, card: str, gpu: Any, gpus: int, chosen: Planned, scratch: Path,
                 rows: int) -> dict[str, str]:
    """File name -> text of the recipes, the training recipe's header carrying the planner's line for it."""
    from recipekit.plan.planner import plan
    from recipekit.recipes.reading import load_recipe
    from recipekit.report.plan import header_line

    c = chosen.candidate
    gpu_word = "GPU" if gpus == 1 else "GPUs"
    common = [f"Report: none (your own dataset {run.name}: no published numbers; its chain is "
              f"recipes/reproduce/{run.name}.yaml).",
              f"Hardware: {gpus}x {gpu.name}"]
    train = train_args(run)
    torchrun = "FORCE_TORCHRUN=1 " if c.deepspeed or gpus > 1 else ""

    def launch(command: str) -> list[str]:
        return ["Launch (from the repository root, after the chain's convert step):", f"  {command}", ""]
    header = [f"{run.name}: {run.task} ({'DPO' if run.stage == 'dpo' else 'SFT'}, {c.method}) of {run.model}, "
              "written by llm-recipes new; change a value, then re-check with llm-recipes check recipes and "
              f"llm-recipes plan recipes/{run.name}/train.yaml --gpu {card} --gpus {gpus}.", "",
              *launch(f"{torchrun}llamafactory-cli train recipes/{run.name}/train.yaml"), *common,
              f"Global batch: {c.batch} per device x {c.accumulation} accumulation x {gpus} {gpu_word} = "
              f"{c.batch * c.accumulation * gpus} rows per optimizer step",
              f"Target: this run's numbers on {run.name}_test with 95% intervals (llm-recipes reproduce {run.name})."]
    draft = scratch / "train.yaml"
    draft.write_text(recipe_text(header, train), encoding="utf-8")
    planned = plan(load_recipe(draft), gpu, gpus, {}, rows)
    header.append(f"Plan (planned on {header_line(planned)}).")
    texts = {"train.yaml": recipe_text(header, train)}
    predict_header = [f"{run.name}: greedy answers of the trained model for {run.name}_test (llm-recipes new).", "",
                      *launch(f"llamafactory-cli train recipes/{run.name}/predict.yaml"), *common,
                      "Global batch: none (prediction only).",
                      f"Target: {run.predict_dir}/generated_predictions.jsonl, scored by the chain's report step."]
    texts["predict.yaml"] = recipe_text(predict_header, predict_args(run))
    if run.adapter:
        export_header = [f"{run.name}: the adapter of recipes/{run.name}/train.yaml merged into {run.model} "
                         "(llm-recipes new).", "",
                         *launch(f"llamafactory-cli export recipes/{run.name}/export.yaml   # the merge alone"),
                         f"Report: none (exports what recipes/{run.name}/train.yaml trains).",
                         "Hardware: CPU (export_device cpu).", "Global batch: none (an export trains nothing).",
                         f"Target: {run.export_dir}: the merged weights, the tokenizer and a model card."]
        texts["export.yaml"] = recipe_text(export_header, export_args(run))
    return texts


def report(args: argparse.Namespace, how: str, cutoff_why: str, cut: int, planned: list[Planned], found: Search,
           conversion: Any, folder: Path, chain_path: Path, labels: list[str] | None) -> None:
    """What was measured, chosen and written, and the one command that runs it all."""
    from recipekit.report.writer import md_table

    counts = {name: len(staged.rows) for name, staged in conversion.plan.sets.items()}
    print("rows: " + ", ".join(f"{name} {n}" for name, n in counts.items()) +
          (f"; labels: {', '.join(labels)}" if labels else ""))
    print(f"tokens per row by {how}; cutoff_len {cutoff_why}")
    print(f"planned {len(planned)} candidates on {found.gpus} x {found.gpu.name} from {len(found.simulations)} "
          f"simulated steps (shared across candidates), global batch {found.global_batch}:")
    rows = [["chosen" if i == 0 else "", p.candidate.describe(), f"{p.peak_gib:.1f}", f"{p.hours:.3g}",
             f"${p.cost:.2f}" if p.cost is not None else "-", p.why or "the fastest that fits"]
            for i, p in enumerate(planned)]
    print(md_table(["", "plan", "peak GiB", "hours", "cost", "why"], rows))
    chosen = planned[0].candidate
    if chosen.method == "full":
        print(f"chosen: full fine-tuning, the fastest that fits; its output (saves/{args.name}/full/train) is the "
              "whole model, so there is no export step")
    print(f"wrote {shown(folder)}/ ({', '.join(sorted(p.name for p in folder.glob('*.yaml')))}), {shown(chain_path)} "
          f"and data/{args.name}*.jsonl")
    gpus = f" --gpus {found.gpus}" if found.gpus > 1 else ""
    print(f"run it all: llm-recipes reproduce {args.name}{gpus}   (a CPU rehearsal on a tiny model: llm-recipes "
          f"reproduce {args.name} --tiny)")
