"""``plan --measure``: a few real training steps of the recipe on this machine's device, beside its plan.

The recipe's architecture is built from its config with random weights (nothing is downloaded) and saved with a
small BPE tokenizer; synthetic rows, each long enough to be cut to ``cutoff_len`` (the length a plan assumes),
are registered as its data; LLaMA-Factory then trains a few steps of the recipe as written (method, batch,
accumulation, checkpointing, LoRA targets, DPO, DeepSpeed) in a fresh process (``recipekit.plan.probe``), under
torchrun for DeepSpeed or several GPUs. What this machine cannot run is changed as in a tiny run (half precision
without CUDA, 4-bit without bitsandbytes) and said; the plan compared is the plan of the run as measured.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.plan.gpus import Gpu, device_card
from recipekit.plan.memory import GIB
from recipekit.recipes.arguments import PAIRED_STAGES
from recipekit.recipes.reading import Recipe

MEASURED_RUNS = Path(__file__).with_name("measured_runs.yaml")  # bench_plan.py --measure's table
MEASURED_STAGES = ("sft", "dpo")
NOT_MEASURED = ("adapter_name_or_path", "ref_model", "ref_model_adapters", "eval_dataset", "predict_dataset",
                "val_size", "early_stopping_steps", "load_best_model_at_end", "metric_for_best_model",
                "resume_from_checkpoint", "max_samples", "run_name", "plot_loss", "save_steps", "eval_steps",
                "preprocessing_num_workers")
WORDS = 400  # distinct words of the synthetic text (each one BPE token)
# On the CPU, glibc's malloc keeps freed blocks under its mmap threshold (which grows to 32 MiB) in its heap, so
# the resident set keeps what the steps have freed (0.76 GiB after a DPO step of Qwen2.5-0.5B at 256 tokens); at
# 64 KiB every tensor is mapped and given back when freed, and the resident peak is what the step holds.
CPU_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "65536"}


@dataclass
class Measured:
    """What the steps measured on this device, and the plan of the same run."""

    device: str
    steps: int
    step_seconds: float  # median optimizer step after the first
    peak_gib: float  # CUDA: peak reserved + the context; CPU: peak resident memory over the process's baseline
    planned_gib: float  # CUDA: the plan's peak per GPU; CPU: the same without the CUDA allowance
    planned_step_seconds: float | None  # None: no card for this device
    allocated_gib: float | None = None
    notes: list[str] = field(default_factory=list)
    shape: dict[str, Any] = field(default_factory=dict)
    step_flops: int = 0  # the simulated optimizer step's FLOPs per GPU (recomputation included)
    peak_tflops: float | None = None  # the card's peak at the run's precision; None: no card

    def mfu(self, seconds: float | None) -> float | None:
        """The step's FLOPs over the card's peak in ``seconds``: model FLOPs utilisation."""
        return None if seconds is None or self.peak_tflops is None else self.step_flops / (
            self.peak_tflops * 1e12 * seconds)

    @property
    def planned_mfu(self) -> float | None:
        return self.mfu(self.planned_step_seconds)

    @property
    def measured_mfu(self) -> float | None:
        return self.mfu(self.step_seconds)

    @property
    def memory_ratio(self) -> float:
        return self.planned_gib / self.peak_gib

    @property
    def time_ratio(self) -> float | None:
        return None if self.planned_step_seconds is None else self.planned_step_seconds / self.step_seconds

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "memory_ratio": self.memory_ratio, "time_ratio": self.time_ratio,
                "planned_mfu": self.planned_mfu, "measured_mfu": self.measured_mfu}


def synthetic_text(words: int, offset: int = 0) -> str:
    return " ".join(f"w{(offset + i) % WORDS}" for i in range(words))


def random_model(model: str, template: str, out: Path, classifier: bool = False) -> None:
    """``model``'s architecture (its config) with random weights, and a tokenizer with ``template``'s tokens (an
    encoder's wraps text pairs as BERT's does). For a classifier the bare model is saved, as a hub checkpoint is
    loaded by one: the head is new."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    from recipekit.plan.models import is_encoder, load_config
    from recipekit.recipes.tiny_model import train_tokenizer
    from recipekit.recipes.tiny_run import TEMPLATE_TOKENS

    config = load_config(model)
    tokenizer = train_tokenizer([synthetic_text(WORDS * 4)], 1024, TEMPLATE_TOKENS.get(template, []),
                                encoder=is_encoder(config))
    config.bos_token_id, config.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    torch.manual_seed(0)
    with torch.device("cuda" if cuda else "cpu"):
        model = (AutoModel if classifier else AutoModelForCausalLM).from_config(config, dtype=dtype)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def cached_random_model(model: str, template: str, out: Path, classifier: bool = False) -> None:
    """``random_model`` at ``out``: a link to the copy kept in the cache (``models/`` beside the plans, made in a
    scratch folder there and renamed into place), so that a sweep builds and writes each architecture once; where
    the cache cannot be written, built at ``out`` itself."""
    import hashlib
    import os
    import shutil
    import tempfile

    import torch
    import transformers

    from recipekit.plan.models import config_path
    from recipekit.plan.simulate import cache_dir
    from recipekit.recipes.tiny_run import TEMPLATE_TOKENS

    blob = json.dumps([config_path(model).read_text(encoding="utf-8"), TEMPLATE_TOKENS.get(template, []),
                       classifier, WORDS, torch.cuda.is_available(), transformers.__version__])
    folder = cache_dir().parent / "models" / hashlib.sha256(blob.encode()).hexdigest()[:24]
    if not (folder / "config.json").is_file():
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".making-"))
        except OSError:  # a read-only cache only costs time
            random_model(model, template, out, classifier)
            return
        try:
            random_model(model, template, scratch / "model", classifier)
            os.replace(scratch / "model", folder)
        except OSError:  # made meanwhile by another run: that one is the same
            if not (folder / "config.json").is_file():
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    out.symlink_to(folder, target_is_directory=True)


def synthetic_row(row: int, cutoff: int, pairwise: bool, labels: list[str] | None,
                  separator: str | None) -> dict[str, str]:
    """One Alpaca row whose every text is longer than ``cutoff`` tokens: a prompt and a response, chosen and
    rejected responses, or (``labels``) a classifier's input (two texts around ``separator``) and a label."""
    long = lambda offset: synthetic_text(cutoff + 8, row + offset)  # noqa: E731
    if labels is not None:
        text = long(0) if separator is None else f"{long(0)} {separator} {long(1)}"
        return {"instruction": "", "input": text, "output": labels[row % len(labels)]}
    if pairwise:
        return {"instruction": long(0), "input": "", "chosen": long(1), "rejected": long(2)}
    return {"instruction": long(0), "input": "", "output": long(1)}


def synthetic_data(folder: Path, rows: int, cutoff: int, pairwise: bool, labels: list[str] | None = None,
                   separator: str | None = None) -> None:
    """``rows`` synthetic rows (``synthetic_row``) registered as ``measure``."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "measure.jsonl").open("w", encoding="utf-8") as handle:
        for row in range(rows):
            handle.write(json.dumps(synthetic_row(row, cutoff, pairwise, labels, separator)) + "\n")
    entry: dict[str, Any] = {"file_name": "measure.jsonl"}
    if pairwise:
        entry.update(ranking=True, columns={"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"})
    (folder / "dataset_info.json").write_text(json.dumps({"measure": entry}), encoding="utf-8")


def check_measurable(recipe: Recipe) -> None:
    """A recipe ``--measure`` can train (LLaMA-Factory's sft or dpo, or a classifier, with do_train), else one
    error naming it."""
    stage = recipe.stage
    if (stage is not None and stage not in MEASURED_STAGES) or not recipe.trains:
        what = "a classifier" if stage is None else f"stage {stage}"
        raise InputError(f"--measure trains: stage sft or dpo, or a classifier, with do_train (this recipe: "
                         f"{what}, do_train {recipe.trains})", str(recipe.path))


def measured_args(recipe: Recipe, work: Path, steps: int, notes: list[str]) -> dict[str, Any]:
    """The recipe's arguments for the measured run: its own model swapped for the random one, its data for the
    synthetic rows, a few steps, nothing saved or evaluated; what this machine cannot run dropped (noted)."""
    from recipekit.recipes.tiny_run import runnable_here

    check_measurable(recipe)
    a = {key: value for key, value in recipe.written().items() if key not in NOT_MEASURED}
    for key in ("adapter_name_or_path", "ref_model"):
        if recipe.written(key):
            notes.append(f"{key} not loaded: a new adapter of the recipe's LoRA settings, the policy as reference")
    a.update(model_name_or_path=str(work / "model"), dataset="measure", dataset_dir=str(work / "data"),
             output_dir=str(work / "run"), do_train=True, do_predict=False, do_eval=False, eval_strategy="no",
             save_strategy="no", report_to="none", max_steps=steps, logging_steps=1,
             cutoff_len=int(recipe.setting("cutoff_len")))
    if not recipe.is_classifier:  # LLaMA-Factory's own keys (the classifier's parser refuses them)
        a.update(overwrite_output_dir=True, overwrite_cache=True)
    runnable_here(a, notes)
    return a


def write_synthetic_data(recipe: Recipe, folder: Path, rows: int, cutoff: int) -> None:
    """The measured run's rows, in the shape the recipe's trainer reads (classifier rows carry its labels)."""
    if recipe.is_classifier:
        head = recipe.parsed(explain=False)[0]
        synthetic_data(folder, rows, cutoff, False, head.label_names(), head.text_pair_separator)
    else:
        synthetic_data(folder, rows, cutoff, recipe.stage in PAIRED_STAGES)


def measure(recipe: Recipe, gpus: int, steps: int, log_dir: Path, cards: dict[str, Gpu],
            made_by: dict[str, Path]) -> Measured:
    """Run ``steps`` real steps of ``recipe`` on this machine and plan the same run (``made_by``: which recipe
    writes a model folder, for a recipe that trains another's output); the run's log goes to
    ``log_dir/measure.log``."""
    import tempfile

    import torch

    from recipekit.plan.planner import evaluate, producer_model, read_run
    from recipekit.steps import module_command, run_logged, torchrun_command, torchrun_env

    if steps < 2:
        raise InputError("--measure-steps must be at least 2 (the first step is not timed)")
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="llm-recipes-measure-") as scratch:
        work = Path(scratch)
        args = measured_args(recipe, work, steps, notes)
        ranks = gpus if torch.cuda.is_available() else 1
        if gpus > 1 and ranks == 1:
            notes.append(f"--gpus {gpus}: one CPU process measured")
        rows = int(recipe.setting("per_device_train_batch_size")) * int(
            recipe.setting("gradient_accumulation_steps")) * ranks * (steps + 1)
        write_synthetic_data(recipe, work / "data", rows, int(args["cutoff_len"]))
        model = producer_model(str(recipe.setting("model_name_or_path")), made_by)
        print(f"measure: {model} with random weights (built once, then cached)", file=sys.stderr, flush=True)
        cached_random_model(model, str(recipe.template), work / "model",
                            recipe.is_classifier)
        (work / "args.json").write_text(json.dumps(args), encoding="utf-8")
        probe = [*module_command("recipekit.plan.probe"), str(work / "args.json"), str(work / "probe"),
                 *(["classifier"] if recipe.is_classifier else [])]
        group = ranks > 1 or recipe.deepspeed  # several ranks, or DeepSpeed (which needs a process group)
        command = torchrun_command(probe, torchrun_env(ranks) if group else {}) or probe
        print(f"measure: {steps} steps of {recipe.path} ({' '.join(command[1:3])}); log: {log_dir / 'measure.log'}",
              file=sys.stderr, flush=True)
        env = {"WANDB_MODE": "disabled", "LLAMAFACTORY_VERBOSITY": "WARN"}
        run_logged(command, log_dir / "measure.log", env if torch.cuda.is_available() else {**env, **CPU_ALLOCATOR})
        results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(work.glob("probe.rank*.json"))]
        if not results:
            raise InputError("the measured run wrote no result", str(log_dir / "measure.log"))
        measured_recipe = Recipe(recipe.path, {**args, "model_name_or_path": model}, recipe.header, recipe.classifier)
        run, config = read_run(measured_recipe, ranks, {}, half_available=torch.cuda.is_available())
        sim, memory = evaluate(run, config)
    return summarize(results, run, sim, memory, cards, steps, notes)


def summarize(results: list[dict[str, Any]], run: Any, sim: Any, memory: Any, cards: dict[str, Gpu], steps: int,
              notes: list[str]) -> Measured:
    """The probes' results (one per rank) against the plan of the same run: the largest rank's peak, the median
    step after each rank's first; on CUDA the peak reserved plus the context against the plan's whole peak and
    the step against the card's planned step, on the CPU the resident peak against the plan without the CUDA
    allowance."""
    from recipekit.plan.timing import step_time

    first = results[0]
    times = [t for r in results for t in r["step_seconds"][1:]] or first["step_seconds"]
    if first["device"] == "cpu":
        peak = max(r["rss_peak"] - r["rss_before"] for r in results)
        planned, allocated, gpu = memory.total - memory.parts["allowance"], None, None
        notes.append("CPU: resident memory over the process's own before the run (freed tensors given back); "
                     "planned without the CUDA allowance; no card for this CPU, so no planned time")
    else:
        peak = max(r["reserved_peak"] + r["context"] for r in results)
        allocated = max(r["allocated_peak"] for r in results) / GIB
        planned = memory.total
        key = device_card(first["device"], first["device_total"] / GIB, cards)
        gpu = cards[key] if key else None
        if gpu is None:
            notes.append(f"{first['device']} is not in the cards table: no planned time")
    planned_time = peak_tflops = None
    if gpu is not None:
        precision = run.precision_on(gpu)
        planned_time = step_time(sim, gpu, precision, run.setup, run.accumulation,
                                 run.shape.gradient_checkpointing).step_seconds
        peak_tflops = gpu.peak_tflops(precision)
    return Measured(first["device"] if gpu is None else f"{first['device']} ({gpu.name})", steps,
                    statistics.median(times), peak / GIB, planned / GIB, planned_time, allocated, notes,
                    asdict(run.shape), sim.flops * run.accumulation, peak_tflops)
