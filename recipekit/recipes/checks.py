"""The rules a recipe must follow before any GPU: header, LLaMA-Factory's parser, datasets, paths, DeepSpeed.

Each check adds errors (the recipe would fail or mislead), warnings (legal but probably unintended) or
notes (what still has to be made) to a :class:`Findings`; ``scripts/check_recipes.py`` prints them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipekit.data.dataset_info import dataset_base, load_registry
from recipekit.errors import InputError
from recipekit.paths import at_root, shown
from recipekit.recipes.arguments import PAIRED_STAGES
from recipekit.recipes.facts import REQUIRED_KEYS, report_reference
from recipekit.recipes.reading import LAUNCH_LINE, MADE_BY_COMMANDS, Recipe

GPU_COUNTS = (1, 2, 8)
PLAIN_TEMPLATES = {"default", "empty", "alpaca", "vicuna"}
PATH_KEYS = ("model_name_or_path", "adapter_name_or_path", "ref_model", "ref_model_adapters")
BARE_HUB_KEYS = ("model_name_or_path", "ref_model")  # a bare name there may be a hub model (gpt2)


@dataclass(frozen=True)
class CheckContext:
    """What the checks compare a recipe with: the data folder (None: each recipe's own ``dataset_dir``), the
    recipes that write local paths, the GPU counts to resolve DeepSpeed's config at (and the command that makes
    each of this repository's datasets)."""

    data_dir: Path | None
    made_by: dict[str, Path]
    gpu_counts: list[int]
    converter_commands: dict[str, str] = field(default_factory=dict)


@dataclass
class Findings:
    """Errors, warnings and notes about one recipe."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_local(path: str, bare_hub_id: bool = True) -> bool:
    """A path on disk rather than a hub id ('org/name'; with ``bare_hub_id``, also a bare name such as 'gpt2', as
    transformers reads a model name that is not a local folder)."""
    first, slashes = path.split("/", 1)[0], path.count("/")
    return path.startswith(("/", "./", "../")) or first in {"saves", "outputs", "data", "recipes"} or \
        slashes > 1 or (slashes == 0 and not bare_hub_id) or at_root(path).exists()


def zero_stage(config: dict[str, Any]) -> int:
    """The ZeRO stage a config sets, 0 without one (or with one DeepSpeed refuses: its own check names it)."""
    zero = config.get("zero_optimization")
    try:
        return int((zero.get("stage") if isinstance(zero, dict) else None) or 0)
    except (TypeError, ValueError):
        return 0


def check_header(recipe: Recipe, found: Findings) -> None:
    """The header's launch line and report; the report's facts (its chain file's entry, or the header's own
    lines for a recipe of no report) and a global batch that adds up and matches the recipe. A recipe whose
    header names no report (a plain LLaMA-Factory recipe) needs no header: a note says what one would add."""
    if report_reference(recipe.header) is None:
        found.notes.append("no '# Report:' header line: checked as a plain LLaMA-Factory recipe (a header of "
                           "'Launch', 'Report:', 'Hardware:', 'Global batch:', 'Target:' lines adds the report checks)")
        return
    missing = [] if any(map(LAUNCH_LINE.match, recipe.header)) else ["launch"]
    try:
        facts = recipe.facts()
    except InputError as exc:
        found.errors.append(exc.message)
        return
    if facts.report is None:
        missing += [name.replace("_", " ") for name in REQUIRED_KEYS if not getattr(facts, name)]
    if missing:
        found.errors.append(f"header lacks: {', '.join(missing)} (start the file with comment lines 'Launch', "
                            "'Report: recipes/reproduce/REPORT.yaml (or none)'; a recipe of no report adds "
                            "'Hardware:', 'Global batch:', 'Target:')")
    batch = facts.batch()
    if batch:
        per_device, accumulation, gpus, total = batch
        where = "header" if facts.report is None else f"{shown(facts.source)} recipes: {facts.entry}"
        if per_device * accumulation * gpus != total:
            found.errors.append(f"{where}'s global batch does not add up: {per_device} x {accumulation} x {gpus} "
                                f"!= {total}")
        yaml_batch = batch_of(recipe)
        if recipe.trains and yaml_batch and yaml_batch != (per_device, accumulation):
            found.errors.append(f"{where} says {per_device} per device x {accumulation} accumulation "
                                f"but the recipe sets per_device_train_batch_size {yaml_batch[0]}, "
                                f"gradient_accumulation_steps {yaml_batch[1]}: make them agree")


def batch_of(recipe: Recipe) -> tuple[int, int] | None:
    """(per device, accumulation) as the trainer reads them (its defaults for keys left out); None when the
    recipe's parser refuses it (that is reported on its own) or it trains nothing (an export recipe)."""
    if recipe.is_export:
        return None
    try:
        return int(recipe.setting("per_device_train_batch_size")), int(recipe.setting("gradient_accumulation_steps"))
    except InputError:
        return None


def parse_with_llamafactory(recipe: Recipe, found: Findings) -> None:
    """LLaMA-Factory's HfArgumentParser over its own argument classes (unknown keys are refused)."""
    try:
        recipe.parsed()
    except InputError as exc:
        found.errors.append(exc.message)
    generates = recipe.written("predict_with_generate")
    if recipe.stage != "sft" and generates:
        found.errors.append("predict_with_generate only works with stage: sft")
    if recipe.stage == "sft" and recipe.predicts and not generates:
        found.errors.append("do_predict without predict_with_generate saves no predictions: set predict_with_generate")
    if recipe.trains and not recipe.datasets("dataset"):
        found.errors.append("do_train needs `dataset`")
    if (recipe.written("do_eval") or recipe.predicts) and not recipe.datasets("eval_dataset") \
            and not recipe.written("val_size"):
        found.errors.append("do_predict/do_eval needs `eval_dataset` (or val_size)")


def parse_classifier(recipe: Recipe, found: Findings) -> None:
    """The classifier's own HfArgumentParser (its settings + TrainingArguments): unknown keys, bad values."""
    try:
        recipe.parsed()
    except InputError as exc:
        found.errors.append(exc.message)


def data_folder(recipe: Recipe, context: CheckContext) -> Path:
    """Where the recipe's datasets are registered: --data-dir, else its own ``dataset_dir``."""
    return context.data_dir or recipe.data_dir()


def check_labels(recipe: Recipe, context: CheckContext, found: Findings) -> None:
    """A classifier's labels hold every answer of its registered sets (when their files exist)."""
    from recipekit.data.dataset_info import dataset_answers

    labels = recipe.written("labels")
    if not labels:
        return
    names = {str(x).strip() for x in (labels if isinstance(labels, list) else str(labels).split(","))}
    for name in recipe.datasets():
        answers = dataset_answers(data_folder(recipe, context), name) or []
        outside = sorted(set(answers) - names)
        if outside:
            found.errors.append(f"dataset {name!r} has answers {outside} that are not in labels {sorted(names)}")


def check_datasets(recipe: Recipe, context: CheckContext, found: Findings) -> None:
    data_dir = data_folder(recipe, context)
    try:
        registry = load_registry(data_dir / "dataset_info.json")
    except InputError as exc:
        found.errors.append(str(exc))
        return
    ranking_stage = recipe.stage in PAIRED_STAGES
    for name in recipe.datasets():
        command = context.converter_commands.get(dataset_base(name))
        if name not in registry:
            hint = f"run `{command}`" if command else "register it in dataset_info.json"
            found.errors.append(f"dataset {name!r} is not in {data_dir / 'dataset_info.json'}: {hint}")
            continue
        entry = registry[name]
        if bool(entry.get("ranking")) != ranking_stage:
            kind = "a preference (ranking) set" if entry.get("ranking") else "not a preference set"
            found.errors.append(f"dataset {name!r} is {kind} but stage is {recipe.stage}")
        file_name = entry.get("file_name")
        if file_name and not (data_dir / file_name).exists():
            found.notes.append(f"{data_dir / file_name} is not made yet" + (f": `{command}`" if command else ""))


def check_paths(recipe: Recipe, made_by: dict[str, Path], found: Findings) -> None:
    for key in PATH_KEYS:
        value = recipe.written(key)
        for path in [p.strip() for p in str(value).split(",")] if value else []:
            if not is_local(path, bare_hub_id=key in BARE_HUB_KEYS) or at_root(path).exists():
                continue
            folder = path.rstrip("/")
            maker = made_by.get(folder) or MADE_BY_COMMANDS.get(folder)
            if maker:
                found.notes.append(f"{key} {path} is made by {maker}")
            else:
                found.errors.append(f"{key} {path}: no such local path, and no recipe writes it")


def deepspeed_config(recipe: Recipe, found: Findings) -> dict[str, Any] | None:
    path = recipe.deepspeed
    if not path:
        return None
    if not at_root(path).is_file():
        found.errors.append(f"deepspeed config {path}: no such file")
        return None
    try:
        config = json.loads(at_root(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        found.errors.append(f"deepspeed config {path}:{exc.lineno}: not valid JSON ({exc.msg})")
        return None
    if not isinstance(config, dict):
        found.errors.append(f"deepspeed config {path}: not a JSON object of DeepSpeed settings ({{...}})")
        return None
    return config


def resolved(config: dict[str, Any], recipe: Recipe, gpus: int, batch: tuple[int, int]) -> dict[str, Any]:
    """The DeepSpeed config with "auto" filled as the HF Trainer fills it for ``gpus`` GPUs and ``batch`` (per
    device, accumulation); model-size fields get a 4096-hidden placeholder."""
    micro, accumulation = batch
    values = {"train_micro_batch_size_per_gpu": micro, "gradient_accumulation_steps": accumulation,
              "train_batch_size": micro * accumulation * gpus,
              "gradient_clipping": float(recipe.setting("max_grad_norm"))}
    hidden = 4096
    zero_values = {"reduce_bucket_size": hidden * hidden, "stage3_prefetch_bucket_size": int(0.9 * hidden * hidden),
                   "stage3_param_persistence_threshold": 10 * hidden}

    def fill(node: Any, key: str = "", parent: str = "") -> Any:
        if isinstance(node, dict):
            return {k: fill(v, k, key) for k, v in node.items()}
        if node != "auto":
            return node
        if key == "enabled":
            return bool(recipe.setting("bf16" if parent == "bf16" else "fp16"))
        if key in values:
            return values[key]
        if key in zero_values:
            return zero_values[key]
        return node

    return fill(config)


def check_deepspeed(recipe: Recipe, config: dict[str, Any], gpu_counts: list[int], found: Findings) -> None:
    """Load the config through deepspeed.runtime.config.DeepSpeedConfig at each GPU count."""
    from unittest import mock

    import deepspeed.comm as dist
    from deepspeed.runtime.config import DeepSpeedConfig

    batch = batch_of(recipe)
    if batch is None:  # the recipe's parser refused it: reported already
        return
    for gpus in gpu_counts:
        # DeepSpeed asks torch.distributed for the world size; tell it the GPU count being checked
        with mock.patch.object(dist, "get_rank", return_value=0), \
                mock.patch.object(dist, "get_world_size", return_value=gpus):
            try:
                DeepSpeedConfig(resolved(config, recipe, gpus, batch))
            except Exception as exc:  # pydantic ValidationError, AssertionError ...: DeepSpeed's own words
                message = " ".join(str(exc).split())
                found.errors.append(f"DeepSpeed rejects {recipe.deepspeed} on {gpus} GPU(s): {message}")
                return


def check_compatibility(recipe: Recipe, config: dict[str, Any] | None, found: Findings) -> None:
    stage3 = config is not None and zero_stage(config) == 3
    if recipe.written("predict_with_generate") and stage3:
        found.errors.append("predict_with_generate is refused under DeepSpeed ZeRO-3: drop `deepspeed` from this "
                            "predict recipe (generation fits on one GPU) or use ds_z2_config.json")
    if recipe.written("quantization_bit") and stage3:
        found.errors.append("quantization_bit with ZeRO-3: bitsandbytes-quantised weights cannot be partitioned "
                            "here; use ds_z2_config.json or no DeepSpeed for QLoRA")
    # LLaMA-Factory's rules (hparams/parser.py, _verify_model_args, for training, predict and export alike): a
    # quantised model only under an adapter method, and a saved adapter loaded only under finetuning_type lora
    if not recipe.is_classifier and recipe.written("quantization_bit") is not None and recipe.saves_whole_model:
        found.errors.append(f"quantization_bit with finetuning_type {recipe.finetuning_type}: a quantised model "
                            "can only be trained through adapters (LLaMA-Factory: quantization only with the LoRA "
                            "or OFT method); use finetuning_type lora (QLoRA) or oft, or drop quantization_bit")
    if not recipe.is_classifier and recipe.adapters() and recipe.finetuning_type != "lora":
        found.errors.append(f"adapter_name_or_path with finetuning_type {recipe.finetuning_type}: LLaMA-Factory "
                            "loads an adapter only with finetuning_type lora; set it to lora")
    if config is not None and recipe.trains and "FORCE_TORCHRUN=1" not in recipe.launch_line():
        command = "llm-recipes train-classifier" if recipe.is_classifier else "llamafactory-cli train"
        launch = f"`FORCE_TORCHRUN=1 {command} {recipe.path}`"
        if report_reference(recipe.header) is None:  # a plain recipe: no header to hold the launch line
            found.notes.append(f"DeepSpeed recipes are launched with torchrun: {launch}")
        else:
            found.errors.append(f"DeepSpeed recipes must be launched with torchrun: make the header's launch line "
                                f"{launch}")
    if recipe.is_classifier and config is not None:
        from recipekit.recipes.classifier import zero3_lora_problem

        problem = zero3_lora_problem(recipe.finetuning_type, zero_stage(config))
        if problem:
            found.errors.append(problem)
    if recipe.written("trust_remote_code"):
        found.warnings.append("trust_remote_code runs Python code from the model's hub repository; models that "
                              "transformers supports natively (Llama, Qwen2/2.5/3, Gemma...) do not need it: drop it")
    if recipe.is_export:
        return  # its template is its training recipe's (check_export)
    model, template = str(recipe.written("model_name_or_path", "")), recipe.template
    name = model.lower().rsplit("/", 1)[-1]
    base = "base" in name.split("-") or not any(tag in name for tag in ("instruct", "chat", "-it", "tiny"))
    if not is_local(model) and base and template is not None and template not in PLAIN_TEMPLATES:
        found.warnings.append(f"template {template} is a chat template and {model} looks like a base model: fine "
                              "when SFT teaches the format; for the untuned base model use template default")


def batch_lines(recipe: Recipe, gpus: int | None) -> list[str]:
    batch = batch_of(recipe)
    if not recipe.trains or batch is None:
        return []
    micro, accumulation = batch
    sizes = ", ".join(f"{n} GPU{'s' * (n > 1)}: {micro * accumulation * n}" for n in GPU_COUNTS)
    lines = [f"global batch ({micro} per device x {accumulation} accumulation): {sizes}"]
    batch = report_batch(recipe)
    if gpus and batch:
        total = batch[3]
        exact = total / (micro * gpus)
        if exact >= 1 and exact == int(exact):
            lines.append(f"on {gpus} GPUs keep the report's global batch {total} with gradient_accumulation_steps="
                         f"{int(exact)}")
        else:
            nearest = max(1, round(exact))
            lines.append(f"on {gpus} GPUs no whole accumulation gives {total} with {micro} per device; "
                         f"gradient_accumulation_steps={nearest} gives {micro * nearest * gpus} (or change "
                         "per_device_train_batch_size)")
    elif gpus:
        lines.append(f"on {gpus} GPUs: {micro * accumulation * gpus} (no report batch is stated)")
    return lines


def same_setting(recipe_value: Any, report_value: Any) -> bool:
    """Whether a recipe's value is the report's: numbers by value (``2e-5`` == ``2.0e-5``), booleans as such,
    text without case and spaces around commas."""
    if recipe_value is None:
        return False
    if isinstance(report_value, bool) or isinstance(recipe_value, bool):
        return str(recipe_value).lower() == str(report_value).lower()
    try:
        return float(recipe_value) == float(report_value)
    except (TypeError, ValueError):
        def norm(value: Any) -> str:
            return ",".join(part.strip() for part in str(value).lower().split(","))
        return norm(recipe_value) == norm(report_value)


def report_batch(recipe: Recipe) -> tuple[int, int, int, int] | None:
    try:
        return recipe.facts().batch()
    except InputError:
        return None


def check_fidelity(recipe: Recipe, found: Findings) -> None:
    """Every report setting the recipe does not follow is listed under its differences, and nothing that the
    recipe does follow is listed there."""
    try:
        facts = recipe.facts()
    except InputError:
        return  # said by check_header
    if facts.report is None:
        return
    where = f"{shown(facts.source)} recipes: {facts.entry}"
    if not facts.settings:
        found.errors.append(f"{where} has no settings: (one `key: value` line per setting the report gives)")
        return
    for key, value in facts.settings.items():
        follows = same_setting(recipe.written(key), value)
        if not follows and key not in facts.differences:
            found.errors.append(f"{key}: the report has {value!r}, the recipe {recipe.written(key, '(unset)')!r}, "
                                f"and {where} does not list it under differences (add `{key}: why`)")
        if follows and key in facts.differences:
            found.errors.append(f"{key} is listed as a difference but the recipe has the report's value {value!r}")


def check_export(recipe: Recipe, made_by: dict[str, Path], found: Findings) -> None:
    """An export recipe merges onto the base its adapter was trained on, unquantised, with the same template."""
    from recipekit.recipes.reading import load_recipe

    problem = recipe.merge_problem()
    if problem:
        found.errors.append(problem)
    adapters = [name.rstrip("/") for name in recipe.adapters()]
    if not adapters:
        found.errors.append("an export recipe merges an adapter: set adapter_name_or_path (the training run's "
                            "output_dir)")
    for adapter in adapters:
        producer = made_by.get(adapter)
        if producer is None:
            continue  # check_paths says whether it exists
        trained = load_recipe(producer)
        if trained.saves_whole_model:
            found.errors.append(f"adapter_name_or_path {adapter}: {shown(producer)} trains all weights, not an "
                                "adapter: its output_dir is the model itself, nothing to merge")
        pairs = [("model_name_or_path", recipe.written("model_name_or_path"), trained.written("model_name_or_path"))]
        if not trained.is_classifier:
            pairs.append(("template", recipe.template, trained.template))
        for key, mine, theirs in pairs:
            if str(mine) != str(theirs):
                found.errors.append(f"{key}: {mine!r}, but {shown(producer)} trained the adapter with {theirs!r}: "
                                    "merge with the training recipe's")


def check_recipe(recipe: Recipe, context: CheckContext) -> Findings:
    """Every check of one recipe, in the order a reader fixes them."""
    found = Findings()
    check_header(recipe, found)
    check_fidelity(recipe, found)
    if recipe.is_classifier:
        parse_classifier(recipe, found)
        check_labels(recipe, context, found)
    else:
        parse_with_llamafactory(recipe, found)
    check_datasets(recipe, context, found)
    check_paths(recipe, context.made_by, found)
    if recipe.is_export:
        check_export(recipe, context.made_by, found)
    config = deepspeed_config(recipe, found)
    if config is not None:
        check_deepspeed(recipe, config, context.gpu_counts, found)
    check_compatibility(recipe, config, found)
    return found
