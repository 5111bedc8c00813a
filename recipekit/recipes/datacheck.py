"""What LLaMA-Factory's own data pipeline makes of a registered dataset: its loader, aligner, template and a
tokenizer (a model's, or a tiny BPE trained on the data itself) give rows kept, tokens per row and the answers;
two sets' shared rows as LLaMA-Factory reads them. ``llm-recipes check data`` prints it; the planner measures
a recipe's rows with it."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recipekit.errors import InputError
from recipekit.recipes.tiny_model import iter_texts, train_tokenizer

if TYPE_CHECKING:
    from recipekit.recipes.reading import Recipe


@dataclass(frozen=True)
class CheckSettings:
    """How a dataset is read: its registry folder, the chat template, the cutoff its lengths are held against
    and how many distinct answers still make a label distribution worth showing."""

    data_dir: str
    template: str | None
    cutoff_len: int
    max_labels: int = 20


UNTRUNCATED = 1_000_000
TOKENIZER_SAMPLE_ROWS = 2000


def tiny_tokenizer(files: list[Path], out: Path) -> str:
    """Train a small BPE on the first rows of each file and save it to ``out`` (a stand-in for --model)."""
    texts: list[str] = []
    for file in files:
        texts += [text for _, text in zip(range(TOKENIZER_SAMPLE_ROWS * 4), iter_texts([str(file)]), strict=False)]
    train_tokenizer([t for t in texts if t] or ["empty"], 2048, []).save_pretrained(out)
    return str(out)


def stats(lengths: list[int], cutoff: int) -> dict[str, Any]:
    """Mean, p50, p95, max of token counts and how many exceed ``cutoff``."""
    import numpy as np

    if not lengths:
        return {"mean": 0.0, "p50": 0, "p95": 0, "max": 0, "over_cutoff": 0}
    array = np.array(lengths)
    return {"mean": round(float(array.mean()), 2), "p50": int(np.percentile(array, 50)),
            "p95": int(np.percentile(array, 95)), "max": int(array.max()),
            "over_cutoff": int((array > cutoff).sum())}


def load_aligned(name: str, entry: dict[str, Any], settings: CheckSettings, model: str, out: str) -> tuple:
    """LLaMA-Factory's parsed arguments, tokenizer, template and aligned rows (``_system``, ``_prompt``,
    ``_response`` ...) of one dataset."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.data.loader import _get_merged_dataset
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    ranking = bool(entry.get("ranking"))
    model_args, data_args, training_args, _, _ = get_train_args({
        "model_name_or_path": model, "stage": "dpo" if ranking else "sft", "do_train": True,
        "finetuning_type": "lora", "dataset": name, "dataset_dir": settings.data_dir, "template": settings.template,
        "cutoff_len": UNTRUNCATED, "output_dir": out, "overwrite_cache": True, "report_to": "none",
    })
    tokenizer_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    aligned = _get_merged_dataset([name], model_args, data_args, training_args, "rm" if ranking else "sft")
    return data_args, training_args, tokenizer_module, template, aligned


def row_keys(aligned: Any) -> list[str]:
    """What the model sees of each aligned row (system, prompt turns, answer), as one comparable string."""
    columns = [c for c in ("_system", "_tools", "_prompt", "_response") if c in aligned.column_names]
    return [json.dumps(values, sort_keys=True, ensure_ascii=False)
            for values in zip(*(aligned[c] for c in columns), strict=True)]


def overlap(names: list[str], registry: dict[str, Any], settings: CheckSettings, model: str) -> dict[str, Any]:
    """Rows of the first set that are also in the second (same system, prompt and answer as LLaMA-Factory
    reads them), and the rows repeated inside each."""
    keys = {}
    for name in names:
        with tempfile.TemporaryDirectory() as out:
            keys[name] = row_keys(load_aligned(name, registry[name], settings, model, out)[-1])
    first, second = names
    shared = set(keys[first]) & set(keys[second])
    in_first = sum(key in shared for key in keys[first])
    return {"sets": names, "rows": {name: len(k) for name, k in keys.items()},
            "repeated_inside": {name: len(k) - len(set(k)) for name, k in keys.items()},
            "rows_of_first_in_second": in_first, "distinct_shared": len(shared)}


def local_tokenizer(model: str) -> str | None:
    """The folder of ``model``'s tokenizer when it is on this machine (a local folder, or the Hugging Face cache),
    else None."""
    folder = Path(model)
    if folder.is_dir():
        return model if any(folder.glob("tokenizer*")) else None
    if model.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model, "tokenizer_config.json")
    except Exception:  # a malformed id or cache: not local
        return None
    return str(Path(found).parent) if isinstance(found, str) else None


def row_lengths(data_dir: Path, names: list[str], registry: dict[str, Any], model: str,
                template: str | None) -> tuple[list[int], str]:
    """Every row's token count over the sets ``names`` as LLaMA-Factory tokenizes them for training (a pair's
    longer side), with ``model``'s tokenizer when it is local, else a tiny BPE trained on the sets; and which."""
    local = local_tokenizer(model)
    settings = CheckSettings(str(data_dir), template, UNTRUNCATED)
    lengths: list[int] = []
    with tempfile.TemporaryDirectory() as scratch:
        if local is None:
            files = [data_dir / registry[name]["file_name"] for name in names if "file_name" in registry[name]]
            local = tiny_tokenizer([f for f in files if f.is_file()], Path(scratch))
            how = "a tiny BPE trained on the data (approximate: the model's tokenizer is not on this machine)"
        else:
            how = "the model's tokenizer"
        for name in names:
            check_one(name, registry[name], settings, local, lengths)
    return lengths, how


def check_one(name: str, entry: dict[str, Any], settings: CheckSettings, model: str,
              lengths_out: list[int] | None = None) -> dict[str, Any]:
    """Run LLaMA-Factory's loader, aligner and tokenizing processor on one dataset (every row's token count is
    added to ``lengths_out`` when given; a pair's is its longer side)."""
    from llamafactory.data.loader import _get_preprocessed_dataset

    ranking = bool(entry.get("ranking"))
    with tempfile.TemporaryDirectory() as out:
        data_args, training_args, tokenizer_module, template, aligned = load_aligned(name, entry, settings, model, out)
        tokenizer = tokenizer_module["tokenizer"]
        stage = "rm" if ranking else "sft"
        with contextlib.redirect_stdout(io.StringIO()):  # LLaMA-Factory prints one tokenized example
            processed = _get_preprocessed_dataset(aligned, data_args, training_args, stage, template, tokenizer,
                                                  tokenizer_module["processor"])
    if ranking:
        lengths = [max(len(c), len(r)) for c, r in zip(processed["chosen_input_ids"],
                                                         processed["rejected_input_ids"], strict=True)]
    else:
        lengths = [len(ids) for ids in processed["input_ids"]]
    if lengths_out is not None:
        lengths_out.extend(lengths)
    report: dict[str, Any] = {"rows_in_file": len(aligned), "rows_kept": len(processed),
                              "dropped_by_llamafactory": len(aligned) - len(processed),
                              "format": entry.get("formatting", "alpaca"), "ranking": ranking,
                              "tokens": stats(lengths, settings.cutoff_len), "cutoff_len": settings.cutoff_len}
    if not ranking:
        answers = Counter(r[0]["content"] if r else "" for r in aligned["_response"])
        if len(answers) <= settings.max_labels and len(answers) < max(2, len(aligned)):
            report["labels"] = dict(sorted(answers.items(), key=lambda item: (-item[1], item[0])))
    return report


def measured_seq(recipe: Recipe, recipe_path: str) -> tuple[int, str, list[int]]:
    """The longest tokenized row of the recipe's training sets (LLaMA-Factory's pipeline), capped at its
    cutoff_len, and every row's length (``recipe_path``: the recipe as the user named it, for errors)."""
    from recipekit.converters.catalog import require_converted
    from recipekit.recipes.arguments import names_of

    cutoff = int(recipe.setting("cutoff_len"))
    names = names_of(recipe.setting("dataset"))
    if not names:
        raise InputError("--data: the recipe names no dataset", recipe_path)
    data_dir = recipe.data_dir()
    registry = require_converted(data_dir, names)
    try:
        lengths, how = row_lengths(data_dir, names, registry, str(recipe.setting("model_name_or_path")),
                                   recipe.setting("template", None))
    except Exception as exc:  # whatever LLaMA-Factory raised is the answer to "can it load this?"
        raise InputError(f"--data: LLaMA-Factory could not load {', '.join(names)}: {type(exc).__name__}: "
                         f"{' '.join(str(exc).split())}", recipe_path) from None
    longest = max(lengths)
    return min(longest, cutoff), f"--data: longest row {longest} tokens by {how}", lengths
