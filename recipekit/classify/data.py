"""Classifier examples from the converters' registered Alpaca sets: the input (or a text pair cut out of it)
and the answer as a label id; tokenised as one batch-ready ``datasets.Dataset``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recipekit.data.dataset_info import alpaca_file, load_registry
from recipekit.errors import InputError
from recipekit.files import read_jsonl

KEEP_FIELDS = ("id", "fold", "swapped")
UNLABELED = -1


@dataclass
class ClassSet:
    """The rows of one registered set: first texts, second texts (or None), label ids (-1: unlabeled)."""

    name: str
    path: Path
    texts: list[str] = field(default_factory=list)
    pairs: list[str] | None = None
    label_ids: list[int] = field(default_factory=list)
    keep: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def labeled(self) -> bool:
        return all(label != UNLABELED for label in self.label_ids)


def set_file(data_dir: str | Path, name: str) -> tuple[Path, dict[str, str]]:
    """The JSONL file and column names of a registered Alpaca set."""
    from recipekit.converters.catalog import make_hint

    found = alpaca_file(data_dir, name)
    registry_path = Path(data_dir) / "dataset_info.json"
    if found is None:
        if name not in load_registry(registry_path):
            raise InputError(f"dataset {name!r} is not registered: {make_hint(name, data_dir)}", str(registry_path))
        raise InputError(f"dataset {name!r} is not a local Alpaca file (a classifier reads input -> answer rows)",
                         str(registry_path))
    if not found[0].is_file():
        raise InputError(f"dataset {name!r} is registered but {found[0]} is not there: {make_hint(name, data_dir)}",
                         str(registry_path))
    return found


def raw_answers(data_dir: str | Path, names: list[str], max_samples: int | None = None) -> list[str]:
    """Every non-empty answer of the given sets (the label set when the recipe names none)."""
    answers = []
    for name in names:
        path, columns = set_file(data_dir, name)
        for index, (_, row) in enumerate(read_jsonl(path)):
            if max_samples is not None and index >= max_samples:
                break
            answer = str(row.get(columns["response"]) or "").strip()
            if answer:
                answers.append(answer)
    return answers


def split_pair(text: str, separator: str) -> tuple[str, str] | None:
    """``text`` cut where ``separator`` first occurs: (before, from the separator on), both stripped."""
    at = text.find(separator)
    if at < 0:
        return None
    return text[:at].strip(), text[at:].strip()


def load_set(data_dir: str | Path, name: str, labels: list[str], separator: str | None = None,
             include_instruction: bool = False, max_samples: int | None = None,
             need_labels: bool = True) -> ClassSet:
    """Read one registered set; an answer outside ``labels`` (or a missing one where labels are needed) and an
    input without the pair separator are errors naming the file and line."""
    path, columns = set_file(data_dir, name)
    codes = {label: index for index, label in enumerate(labels)}
    out = ClassSet(name, path, pairs=[] if separator else None)
    for number, row in read_jsonl(path):
        if max_samples is not None and len(out) >= max_samples:
            break
        prompt = str(row.get(columns["prompt"]) or "").strip()
        query = str(row.get(columns["query"]) or "").strip()
        text = f"{prompt}\n{query}".strip() if include_instruction else (query or prompt)
        if not text:
            raise InputError(f"no text in fields {columns['query']!r} / {columns['prompt']!r}", str(path), number)
        if separator:
            pair = split_pair(text, separator)
            if pair is None:
                raise InputError(f"text_pair_separator {separator!r} does not occur in the text", str(path), number)
            text, second = pair
            out.pairs.append(second)  # type: ignore[union-attr]
        answer = str(row.get(columns["response"]) or "").strip()
        if answer and answer not in codes:
            raise InputError(f"answer {answer!r} is not one of the labels {labels}", str(path), number)
        if not answer and need_labels:
            raise InputError(f"no answer in field {columns['response']!r}", str(path), number)
        out.texts.append(text)
        out.label_ids.append(codes[answer] if answer else UNLABELED)
        out.keep.append({key: row[key] for key in KEEP_FIELDS if key in row})
    if not out.texts:
        raise InputError(f"dataset {name!r} has no rows", str(path))
    return out


def class_weights(setting: Any, labels: list[str], train_ids: list[int]) -> list[float] | None:
    """One loss weight per label: from ``{label: weight}`` (labels left out weigh 1) or scikit-learn's
    ``balanced`` rule, n / (k * count)."""
    if setting is None:
        return None
    if setting == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        present = sorted(set(train_ids))
        if len(present) != len(labels):
            missing = [labels[i] for i in range(len(labels)) if i not in present]
            raise InputError(f"class_weights balanced: labels {missing} never occur in the training set")
        return [float(w) for w in compute_class_weight("balanced", classes=np.arange(len(labels)),
                                                       y=np.asarray(train_ids))]
    unknown = sorted(str(key) for key in setting if str(key) not in labels)
    if unknown:
        raise InputError(f"class_weights names {unknown}, which are not labels {labels}")
    weights = [float(setting.get(label, 1.0)) for label in labels]
    if any(not np.isfinite(w) or w <= 0 for w in weights):
        raise InputError(f"class_weights must be positive numbers, got {setting}")
    return weights


def tokenized(rows: ClassSet, tokenizer: Any, cutoff_len: int) -> Any:
    """A ``datasets.Dataset`` of input_ids/attention_mask(/token_type_ids) and labels (left out when any row is
    unlabeled), truncated longest first."""
    from datasets import Dataset

    columns: dict[str, list[Any]] = {"text": rows.texts}
    if rows.labeled:
        columns["labels"] = rows.label_ids
    if rows.pairs is not None:
        columns["pair"] = rows.pairs

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        return tokenizer(batch["text"], batch.get("pair"), truncation=True, max_length=cutoff_len)

    return Dataset.from_dict(columns).map(encode, batched=True, remove_columns=[c for c in columns if c != "labels"])
