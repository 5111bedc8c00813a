"""A recipe's plan: its run read from the YAML (and DeepSpeed JSON), the simulated step, memory per GPU, fit on
a card, time and cost, and the cheapest changes that make a run fit, each simulated again."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.paths import at_root, shown
from recipekit.plan.gpus import Gpu
from recipekit.plan.memory import GIB, Memory, Setup, per_gpu
from recipekit.plan.models import load_config
from recipekit.plan.simulate import Shape, Simulation, simulate
from recipekit.plan.timing import operations, step_time
from recipekit.recipes.arguments import names_of
from recipekit.recipes.reading import Recipe, load_recipe

# stages LLaMA-Factory trains against a frozen reference model, two rows per example (dpo: chosen and rejected;
# kto: the example and its KL pair): planned as a DPO step
REFERENCE_STAGES = ("dpo", "kto")

MFU_SOURCE = ("what the step-time model gives: each operation on the card's roofline, kernel launches, the "
              "optimizer step and communication (recipekit/plan/timing.py)")
# model types Liger patches (LLaMA-Factory's apply_liger_kernel): its fused linear cross-entropy replaces their
# loss in the stages that need no logits (pt, sft)
LIGER_MODEL_TYPES = {"gemma", "gemma2", "gemma3", "gemma3_text", "glm", "glm4", "granite", "llama", "mistral",
                     "mixtral", "olmo2", "phi3", "qwen2", "qwen3", "qwen3_moe", "qwen3_next", "qwen3_5", "gpt_oss"}
# LLaMA-Factory settings that change a run's memory or time and that the plan does not model: key -> (the values
# the plan does model, what goes unplanned); a plan names those its recipe sets to another value
UNMODELLED = {
    "packing": ((None, False), "rows packed into cutoff_len blocks change the steps' count"),
    "neat_packing": ((False,), "rows packed into cutoff_len blocks change the steps' count"),
    "optim": (("adamw_torch", "adamw_torch_fused", "adamw_hf", "adamw_apex_fused"),
              "optimizer states are planned as AdamW's"),
    "quantization_bit": ((None, 4), "base weights other than 4-bit are planned in 16 bits"),
    "quantization_method": (("bnb",), "4-bit weights are planned as bitsandbytes' NF4"),
    "use_reentrant_gc": ((True,), "checkpointing is planned reentrant"),
    "eval_strategy": (("no",), "evaluation during training: neither its time nor its batch's memory is planned"),
    "fsdp": ((None, "", []), "FSDP sharding is planned as whole copies"),
    "torch_compile": ((False,), "a compiled step is planned as an eager one"),
    "use_unsloth": ((False,), "Unsloth's kernels"),
    "use_unsloth_gc": ((False,), "Unsloth's offloaded checkpoints"),
    "use_galore": ((False,), "GaLore's projected optimizer states"),
    "use_apollo": ((False,), "APOLLO's optimizer states"),
    "use_badam": ((False,), "BAdam's block-wise training"),
    "use_adam_mini": ((False,), "Adam-mini's optimizer states"),
    "use_muon": ((False,), "Muon's optimizer states"),
    "use_dora": ((False,), "DoRA's weight-norm activations"),
    "use_llama_pro": ((False,), "LLaMA Pro's added layers"),
    "mixture_of_depths": ((None,), "mixture-of-depths layers"),
    "shift_attn": ((False,), "shifted short attention"),
    "upcast_layernorm": ((False,), "fp32 norm layers"),
    "upcast_lmhead_output": ((False,), "fp32 logits of the head"),
    "additional_target": ((None,), "extra trainable modules"),
    "resize_vocab": ((False,), "the vocabulary resized to the tokenizer's"),
}


@dataclass(frozen=True)
class Run:
    """What a recipe runs, in the planner's terms."""

    model: str
    shape: Shape
    setup: Setup
    accumulation: int
    epochs: float
    max_steps: int
    datasets: tuple[str, ...]
    dataset_dir: str
    max_samples: int | None
    predict: bool = False
    new_tokens: int = 0
    precision: str = "half"  # bf16 | fp16 | tf32 | fp32 | half (LLaMA-Factory's choice for the card)

    def precision_on(self, gpu: Gpu) -> str:
        """The precision the run computes in on ``gpu`` ("half" is bf16 where the card has it, else fp16)."""
        return gpu.half_precision() if self.precision == "half" else self.precision


def producer_model(value: str, made_by: dict[str, Path], seen: int = 0) -> str:
    """A model path another recipe writes -> the base model that recipe trains (its architecture)."""
    producer = made_by.get(value.rstrip("/"))
    if producer is None or seen > 5:
        return value
    return producer_model(str(load_recipe(producer).written("model_name_or_path", value)), made_by, seen + 1)


def deepspeed_setup(path: str | None, hidden: int) -> dict[str, Any]:
    """ZeRO stage, offload and bucket elements of a DeepSpeed JSON ("auto" filled as the HF Trainer fills it)."""
    if not path:
        return {"zero": 0}
    source = at_root(path)  # a recipe's own relative path, as its other paths
    if not source.is_file():
        raise InputError("no such DeepSpeed config", str(source))
    zero = json.loads(source.read_text(encoding="utf-8")).get("zero_optimization", {})
    stage = int(zero.get("stage", 0) or 0)

    def elements(key: str, auto: float) -> int:
        value = zero.get(key, auto)
        return int(auto if value == "auto" else float(value))

    buckets = elements("reduce_bucket_size", hidden * hidden)
    if stage == 3:
        buckets += elements("stage3_prefetch_bucket_size", 0.9 * hidden * hidden)
    offload = lambda key: str((zero.get(key) or {}).get("device", "none")) in ("cpu", "nvme")  # noqa: E731
    return {"zero": stage if stage in (1, 2, 3) else 0, "offload_optimizer": offload("offload_optimizer"),
            "offload_params": offload("offload_param"), "buffer_elements": buckets}


def read_run(recipe: Recipe, gpus: int, made_by: dict[str, Path], seq: int | None = None,
             half_available: bool = True) -> tuple[Run, Any]:
    """The run a LLaMA-Factory or classifier recipe describes, and its architecture's config (on a device without
    half precision, ``half_available`` False: LLaMA-Factory then loads the model in fp32)."""
    value = recipe.setting  # every value as the recipe's trainer reads it, its parser's defaults included
    model = producer_model(str(value("model_name_or_path")), made_by)
    config = load_config(model)
    classifier = recipe.is_classifier
    method = str(value("finetuning_type"))
    if method not in ("full", "lora"):
        raise InputError(f"finetuning_type {method!r}: the planner knows full and lora", str(recipe.path))
    rank = int(value("lora_rank"))
    labels = value("labels", None)
    head = len(labels if isinstance(labels, list) else str(labels).split(",")) if classifier and labels else None
    if classifier and head is None:
        raise InputError("a classifier recipe needs labels to be planned", str(recipe.path))
    gc = bool(value("gradient_checkpointing")) if classifier else not value("disable_gradient_checkpointing")
    predict = bool(value("do_predict")) and not value("do_train")
    batch = int(value("per_device_eval_batch_size" if predict else "per_device_train_batch_size"))
    target = value("lora_target")
    # LLaMA-Factory loads a model without bf16/fp16 flags in the checkpoint's half precision on a card that has
    # it (infer_optim_dtype), so its runs are half precision either way; the classifier's Trainer follows the flags
    half = bool(value("bf16") or value("fp16") or value("pure_bf16", False) or (half_available and not classifier))
    precision = ("bf16" if value("bf16") or value("pure_bf16", False) else "fp16" if value("fp16") else
                 "half" if half else "tf32" if value("tf32", None) else "fp32")
    shape = Shape(batch=batch, seq=int(seq or value("cutoff_len")), method=method,
                  lora_rank=rank, lora_alpha=int(value("lora_alpha") or 2 * rank),
                  lora_target=",".join(names_of(target)), lora_dropout=float(value("lora_dropout") or 0.0),
                  gradient_checkpointing=gc,
                  dpo=recipe.stage in REFERENCE_STAGES, head_labels=head, bf16=half,
                  # LLaMA-Factory: flash_attn disabled -> eager; auto (transformers' default), sdpa and fa2/fa3
                  # -> kernels that hold no score matrix, simulated as sdpa
                  attention="eager" if str(value("flash_attn", "auto")) == "disabled" else "sdpa",
                  fused_loss=bool(value("enable_liger_kernel", False)) and not classifier
                  and recipe.stage in ("pt", "sft") and config.model_type in LIGER_MODEL_TYPES)
    ds = deepspeed_setup(value("deepspeed"), int(getattr(config, "hidden_size", 4096)))
    setup = Setup(gpus=gpus, half=shape.bf16, quantization_bit=value("quantization_bit"),
                  double_quantization=bool(value("double_quantization")),
                  reference_model=shape.dpo and bool(value("ref_model", None)),
                  pure_bf16=bool(value("pure_bf16", False)), **ds)
    names = names_of(value("dataset"))
    max_steps = int(value("max_steps") or -1)
    return Run(model, shape, setup, int(value("gradient_accumulation_steps")), float(value("num_train_epochs")),
               max_steps if max_steps > 0 else -1, tuple(names), str(value("dataset_dir")), value("max_samples"),
               predict, int(value("max_new_tokens", 0)), precision), config


def unmodelled(recipe: Recipe, config: Any) -> list[str]:
    """The recipe's settings that change its memory or time and that the plan does not model, each with why
    (``UNMODELLED``; Liger's kernels other than its fused cross-entropy)."""
    found = [f"{key}: {why}" for key, (modelled, why) in UNMODELLED.items()
             if key in recipe.written() and recipe.written(key) not in modelled]
    if recipe.written("enable_liger_kernel") and config.model_type in LIGER_MODEL_TYPES:
        found.append("enable_liger_kernel: its RMSNorm, SwiGLU and rotary kernels (its fused cross-entropy is "
                     "planned in the pt and sft stages)")
    return found


def registered_rows(run: Run) -> int | None:
    """Training rows of the run's registered sets, when their files exist (each capped at max_samples)."""
    from recipekit.data.dataset_info import load_registry

    registry = load_registry(Path(run.dataset_dir) / "dataset_info.json")
    total = 0
    for name in run.datasets:
        file_name = registry.get(name, {}).get("file_name")
        path = Path(run.dataset_dir) / str(file_name)
        if not file_name or not path.is_file():
            return None
        with path.open("rb") as handle:
            rows = sum(1 for line in handle if line.strip())
        total += min(rows, run.max_samples) if run.max_samples else rows
    return total or None


def optimizer_steps(rows: int, per_device: int, accumulation: int, gpus: int, epochs: float) -> int:
    """The HF Trainer's count: each rank's share of the rows in batches, a last partial accumulation still a step,
    epochs times that, rounded up."""
    batches = math.ceil(math.ceil(rows / gpus) / per_device)
    return math.ceil(epochs * math.ceil(batches / accumulation))


def plan_rows(run: Run, rows: int | None, facts: Any) -> tuple[int | None, str | None]:
    """The training rows a plan counts and where they come from: ``--rows``; else the report's run as its chain
    file states it (capped at ``max_samples``), whatever lies in the data folder; else, for a recipe of no report,
    the registered data."""
    if rows:
        return rows, "--rows"
    stated = facts.rows if facts else {}
    if stated:
        train = min(stated["train"], run.max_samples) if run.max_samples else stated["train"]
        capped = f"; max_samples keeps {train:,}" if train < stated["train"] else ""
        return train, f"the report's run: {stated['train']:,}, {stated['said']}{capped}"
    found = registered_rows(run)
    return found, f"the registered data in {run.dataset_dir}/" if found else None


def predict_memory(run: Run, config: Any, params: int) -> Memory:
    """Generation: weights plus the key/value cache of the batch at prompt + new tokens, and the logits."""
    from recipekit.plan.memory import CUDA_CONTEXT, FRAGMENTATION, NF4_BYTES

    layers, heads = config.num_hidden_layers, config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    weights = params * (NF4_BYTES[run.setup.double_quantization] if run.setup.quantization_bit == 4 else 2.0)
    tokens = run.shape.batch * (run.shape.seq + run.new_tokens)
    parts = {"weights": weights, "kv cache": 2.0 * layers * kv_heads * head_dim * tokens * 2,
             "activations": 4.0 * run.shape.batch * config.vocab_size * 2}
    parts["allowance"] = CUDA_CONTEXT + FRAGMENTATION * sum(parts.values())
    return Memory(parts)


TIGHT = 0.95  # a plan above this share of the card's memory fits too tightly to trust (the allowance is assumed)


@dataclass
class Option:
    """One change tried on a run that does not fit: what it is, the peak it gives, the host memory it needs
    (offloaded states, DeepSpeed's estimate) and its planned optimizer step."""

    change: str
    peak_gib: float
    fits: bool
    host_gib: float = 0.0
    step_seconds: float | None = None


def evaluate(run: Run, config: Any) -> tuple[Simulation, Memory]:
    sim = simulate(config, run.shape)
    return sim, per_gpu(sim, run.setup)


def options(run: Run, config: Any, gpu: Gpu) -> list[Option]:
    """The usual fixes, cheapest first, each simulated: more accumulation for a smaller per-device batch (same
    global batch), gradient checkpointing, ZeRO-3, offload, a shorter cutoff, QLoRA; then the GPU count."""
    tries: list[tuple[str, Run]] = []
    batch = run.shape.batch
    while batch > 1:
        batch //= 2
        factor = run.shape.batch // batch
        tries.append((f"per_device_train_batch_size {batch}, gradient_accumulation_steps "
                      f"{run.accumulation * factor} (same global batch)",
                      replace(run, shape=replace(run.shape, batch=batch), accumulation=run.accumulation * factor)))
    if not run.shape.gradient_checkpointing:
        tries.append(("gradient checkpointing on", replace(run, shape=replace(run.shape, gradient_checkpointing=True))))
    lora_zero3 = run.shape.head_labels and run.shape.method == "lora"  # refused by the classifier trainer
    if run.setup.zero < 3 and not lora_zero3:
        tries.append(("deepspeed: recipes/deepspeed/ds_z3_config.json", replace(run, setup=replace(run.setup, zero=3))))
    if not run.setup.offload_optimizer and not run.setup.quantization_bit and not lora_zero3:
        tries.append(("deepspeed: recipes/deepspeed/ds_z3_offload_config.json (optimizer and parameters on the CPU)",
                      replace(run, setup=replace(run.setup, zero=3, offload_optimizer=True, offload_params=True))))
    if run.shape.seq > 256:
        shorter = replace(run, shape=replace(run.shape, seq=run.shape.seq // 2))
        tries.append((f"cutoff_len {run.shape.seq // 2}", shorter))
    if run.shape.method == "lora" and not run.setup.quantization_bit and run.setup.zero < 3:
        tries.append(("quantization_bit: 4 (QLoRA)", replace(run, setup=replace(run.setup, quantization_bit=4))))
    def priced(change: str, candidate: Run, sim: Simulation, memory: Memory) -> Option:
        seconds = step_time(sim, gpu, candidate.precision_on(gpu), candidate.setup, candidate.accumulation,
                            candidate.shape.gradient_checkpointing).step_seconds
        return Option(change, memory.total / GIB, memory.total <= gpu.memory_gib * GIB, memory.host_bytes / GIB,
                      seconds)

    found = [priced(change, candidate, *evaluate(candidate, config)) for change, candidate in tries]
    if run.setup.zero >= 1:
        sim = simulate(config, run.shape)  # the step does not change with the GPU count
        for gpus in range(run.setup.gpus + 1, 65):
            more = replace(run, setup=replace(run.setup, gpus=gpus))
            memory = per_gpu(sim, more.setup)
            if memory.total <= gpu.memory_gib * GIB:
                found.append(priced(f"{gpus} GPUs", more, sim, memory))
                break
    return found


def reported_step_seconds(time: dict[str, Any]) -> tuple[list[float], float | None]:
    """A report's own seconds per optimizer step ([low, high], or [] when it gives no step count or rate) and
    the steps it ran (None when unknown)."""
    total = [value * 3600 for value in numbers(time.get("hours"))] or [value * 60 for value in
                                                                        numbers(time.get("minutes"))]
    if time.get("steps_per_second"):
        per_step = 1 / float(time["steps_per_second"])
        return [per_step], (total[0] / per_step if total else None)
    steps = time.get("steps")
    if steps and total:
        return [value / float(steps) for value in total], float(steps)
    return [], None


def numbers(value: Any) -> list[float]:
    return [] if value is None else [float(v) for v in (value if isinstance(value, list) else [value])]


def against_report(time: dict[str, Any], sim: Simulation, run: Run, gpu: Gpu, step_seconds: float,
                   cards: dict[str, Gpu] | None) -> dict[str, Any]:
    """The report's own time beside the plan: seconds per optimizer step both ways, the plan for the report's
    steps, and (``cards``) which cards' plans fall within the time goal of the report's step."""
    from recipekit.plan.calibration import TIME_GOAL

    reported, steps = reported_step_seconds(time)
    result: dict[str, Any] = {"said": time["said"], "hours": numbers(time.get("hours")) or None,
                              "minutes": numbers(time.get("minutes")) or None, "steps": steps,
                              "eval": time.get("eval"), "seconds_per_step": reported or None,
                              "planned_seconds_per_step": step_seconds, "card": gpu.name}
    if not reported:
        return result
    result["ratio"] = [step_seconds / value for value in reversed(reported)]
    if steps:
        result["planned_hours"] = steps * step_seconds / 3600
    if cards:
        matching = []
        for key, card in cards.items():
            seconds = step_time(sim, card, run.precision_on(card), run.setup, run.accumulation,
                                run.shape.gradient_checkpointing).step_seconds
            if TIME_GOAL[0] <= seconds / max(reported) and seconds / min(reported) <= TIME_GOAL[1]:
                matching.append(key)
        result["matching_cards"] = matching
    return result


def batch_note(report: int, per_device: int, gpus: int, planned: int) -> str:
    """What a GPU count other than the report's does to the global batch, and the accumulation that keeps it."""
    note = f"global batch {planned} on {gpus} GPU(s), the report's is {report}"
    if report % (per_device * gpus) == 0:
        return note + (f": gradient_accumulation_steps={report // (per_device * gpus)} keeps it (the step count and "
                       "time above are for the recipe as written)")
    return note + (f": no whole gradient_accumulation_steps keeps it at per-device batch {per_device}; choose a GPU "
                   "count that divides it, or say the batch changed")


def plan(recipe: Recipe, gpu: Gpu, gpus: int, made_by: dict[str, Path], rows: int | None = None,
         mfu: float | None = None, price: float | None = None, seq: int | None = None,
         cards: dict[str, Gpu] | None = None) -> dict[str, Any]:
    """Everything the planner says about one recipe on ``gpus`` cards, as a JSON-ready dict (``cards``: the
    table in which to look for the cards whose plans match the report's own time). Without ``seq``, a recipe
    whose report's chain states the longest row of its data is planned at that length, and at ``cutoff_len`` (the
    worst case LLaMA-Factory pads to) beside it."""
    try:
        facts = recipe.facts()
    except InputError:  # a copy of a shipped recipe keeps a header whose chain has no entry for it
        facts = None
    cutoff = int(recipe.setting("cutoff_len"))
    stated = facts.tokens if facts and seq is None and facts.tokens.get("longest", cutoff) < cutoff else None
    run, config = read_run(recipe, gpus, made_by, stated["longest"] if stated else seq)
    price_given = price is not None
    result: dict[str, Any] = {"recipe": str(shown(recipe.path)), "model": run.model, "gpu": asdict(gpu), "gpus": gpus,
                              "shape": asdict(run.shape), "setup": asdict(run.setup),
                              "unmodelled": unmodelled(recipe, config)}
    if run.predict:
        import torch

        from recipekit.plan.models import build_model

        with torch.device("meta"):
            params = sum(p.numel() for p in build_model(config, None, torch.bfloat16).parameters())
        memory = predict_memory(run, config, params)
        result.update(kind="predict", params=params, time=None,
                      time_note="generation is bound by memory bandwidth, not FLOPs: no time estimate")
    else:
        sim, memory = evaluate(run, config)
        precision = run.precision_on(gpu)
        peak = gpu.peak_tflops(precision) * 1e12
        timed = step_time(sim, gpu, precision, run.setup, run.accumulation, run.shape.gradient_checkpointing)
        # a measured MFU (--mfu) replaces the model: the step's FLOPs at that share of the peak
        step_seconds = sim.flops * run.accumulation / (peak * mfu) if mfu is not None else timed.step_seconds
        efficiency = sim.flops * run.accumulation / (peak * step_seconds)
        price = price if price is not None else gpu.price_per_hour
        rows, rows_source = plan_rows(run, rows, facts)
        global_batch = run.shape.batch * run.accumulation * gpus
        steps = run.max_steps if run.max_steps > 0 else (
            optimizer_steps(rows, run.shape.batch, run.accumulation, gpus, run.epochs) if rows else None)
        tokens = run.shape.batch * run.accumulation * run.shape.seq * (2 if run.shape.dpo else 1)
        hours = steps * step_seconds / 3600 if steps else None
        result.update(kind="train", params=sim.params, trainable=sim.trainable, largest_layer=sim.largest_layer,
                      flops_per_micro_batch=sim.flops, simulated_seconds=round(sim.seconds, 1),
                      global_batch=global_batch, rows=rows, steps=steps, step_seconds=step_seconds,
                      tokens_per_second_per_gpu=tokens / step_seconds,
                      time={"hours": hours, "gpu_hours": hours * gpus if hours else None,
                            "cost": hours * gpus * price if hours and price else None, "price_per_gpu_hour": price,
                            "price_source": "--price" if price_given else gpu.price_source},
                      precision=precision, step_parts=timed.parts, bound=timed.bound, operations=operations(sim),
                      mfu=efficiency, mfu_source="--mfu" if mfu is not None else MFU_SOURCE,
                      step_seconds_model=timed.step_seconds,
                      rows_source=rows_source,
                      time_note=None if steps else "rows unknown: pass --rows N or convert the data first")
        if facts and facts.time:
            result["report_time"] = against_report(facts.time, sim, run, gpu, step_seconds, cards)
        report_batch = facts.batch() if facts else None
        if report_batch and report_batch[3] != global_batch:
            result["global_batch_note"] = batch_note(report_batch[3], run.shape.batch, gpus, global_batch)
    result["memory"] = {"per_gpu_gib": {k: v / GIB for k, v in memory.parts.items()},
                        "peak_gib": memory.total / GIB, "model_states_gib": memory.model_states / GIB,
                        "host_gib": memory.host_bytes / GIB}
    result["fits"] = memory.total <= gpu.memory_gib * GIB
    result["tight"] = result["fits"] and memory.total > TIGHT * gpu.memory_gib * GIB
    result["options"] = [] if result["fits"] or run.predict else [asdict(o) for o in options(run, config, gpu)]
    if stated:
        worst = replace(run, shape=replace(run.shape, seq=cutoff))
        peak = (predict_memory(worst, config, result["params"]) if run.predict else evaluate(worst, config)[1]).total
        result["seq_source"] = f"the report's longest row: {stated['said']}"
        result["worst_case"] = {"seq": cutoff, "peak_gib": peak / GIB, "fits": peak <= gpu.memory_gib * GIB}
    return result
