"""A classifier recipe: the YAML read by ``HfArgumentParser`` into the head's settings and ``TrainingArguments``.

Keys share LLaMA-Factory's names where the idea is the same (``cutoff_len``, ``lora_rank``, ``lora_target``,
``quantization_bit``, ``early_stopping_steps``, ``max_samples``); every other key is a ``TrainingArguments``
field. A key neither knows is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recipekit.errors import InputError

FINETUNING_TYPES = ("full", "lora")


@dataclass
class ClassifierArguments:
    """Model, head, data and adapter settings of one classifier recipe."""

    model_name_or_path: str = field(metadata={"help": "hub id or local folder of the base model"})
    adapter_name_or_path: str | None = field(default=None, metadata={
        "help": "a LoRA classifier trained before (its output_dir): predict with it, or train it on"})
    dataset: str | None = field(default=None, metadata={"help": "registered training set(s), comma-separated"})
    eval_dataset: str | None = field(default=None, metadata={"help": "registered validation set"})
    predict_dataset: str | None = field(default=None, metadata={"help": "sets to write predictions for after "
                                                                        "training, comma-separated"})
    dataset_dir: str = field(default="data", metadata={"help": "folder with dataset_info.json"})
    labels: str | None = field(default=None, metadata={"help": "label names in head order, comma-separated "
                                                                 "(default: the training answers, sorted)"})
    text_pair_separator: str | None = field(default=None, metadata={
        "help": "split each input into a text pair where this string first occurs (the second text starts there)"})
    include_instruction: bool = field(default=False, metadata={"help": "put the row's instruction before its input"})
    cutoff_len: int = field(default=512, metadata={"help": "max tokens per example (truncation longest first)"})
    max_samples: int | None = field(default=None, metadata={"help": "first N rows of each set"})
    class_weights: Any = field(default=None, metadata={
        "help": "loss weight per label: a mapping {label: weight} or 'balanced' (n / (k * count))"})
    finetuning_type: str = field(default="full", metadata={"help": "full or lora"})
    lora_rank: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int | None = field(default=None, metadata={"help": "LoRA alpha (default: 2 x rank)"})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})
    lora_target: str = field(default="all", metadata={"help": "module names, comma-separated, or all (every "
                                                                "linear layer but the head)"})
    quantization_bit: int | None = field(default=None, metadata={"help": "4: load the base weights in 4 bits"})
    quantization_type: str = field(default="nf4", metadata={"help": "nf4 or fp4"})
    double_quantization: bool = field(default=True, metadata={"help": "quantise the quantisation constants"})
    early_stopping_steps: int | None = field(default=None, metadata={
        "help": "stop after this many evaluations without improving metric_for_best_model"})

    def __post_init__(self) -> None:
        if self.finetuning_type not in FINETUNING_TYPES:
            raise ValueError(f"finetuning_type must be one of {FINETUNING_TYPES}, got {self.finetuning_type!r}")
        if self.quantization_bit not in (None, 4):
            raise ValueError(f"quantization_bit must be 4 (or left out), got {self.quantization_bit!r}")
        if self.quantization_bit and self.finetuning_type != "lora":
            raise ValueError("quantization_bit 4 trains LoRA adapters only: set finetuning_type: lora")
        if not isinstance(self.cutoff_len, int) or self.cutoff_len < 8:
            raise ValueError(f"cutoff_len must be an integer >= 8, got {self.cutoff_len!r}")
        if self.class_weights is not None and self.class_weights != "balanced" and not isinstance(
                self.class_weights, dict):
            raise ValueError(f"class_weights must be a mapping label: weight or 'balanced', got {self.class_weights!r}")
        if self.lora_alpha is None:
            self.lora_alpha = 2 * self.lora_rank

    def sets(self, key: str) -> list[str]:
        """The dataset names of ``dataset``, ``eval_dataset`` or ``predict_dataset``."""
        return [name.strip() for name in str(getattr(self, key) or "").split(",") if name.strip()]

    def label_names(self) -> list[str] | None:
        value = self.labels
        if value is None:
            return None
        names = value if isinstance(value, list) else str(value).split(",")
        return [str(name).strip() for name in names]


def zero3_lora_problem(finetuning_type: str, zero_stage: int) -> str | None:
    """Why a LoRA classifier cannot train under ZeRO-3, or None: peft keeps the head as a trained copy beside the
    frozen original, and DeepSpeed's ZeRO-3 hooks fail on it (transformers 5.6, peft 0.18, DeepSpeed 0.18)."""
    if finetuning_type == "lora" and zero_stage == 3:
        return ("a LoRA classifier under ZeRO-3 fails in DeepSpeed's hooks on peft's copy of the head; use "
                "recipes/deepspeed/ds_z2_config.json (adapters are small: ZeRO-2 partitions what matters)")
    return None


def numbers_read(values: dict[str, Any], classes: tuple[type, ...]) -> dict[str, Any]:
    """YAML reads ``5e-5`` as text (YAML 1.1 wants ``5.0e-5``); give a numeric field (by its default) its number."""
    import dataclasses

    defaults = {f.name: f.default for cls in classes for f in dataclasses.fields(cls)}
    out = dict(values)
    for key, value in values.items():
        default = defaults.get(key)
        if isinstance(value, str) and isinstance(default, (int, float)) and not isinstance(default, bool):
            try:
                number = float(value)
            except ValueError:
                continue
            out[key] = int(number) if isinstance(default, int) and number.is_integer() else number
    return out


def parse_values(values: dict[str, Any]) -> tuple[ClassifierArguments, Any]:
    """A classifier recipe's values (overrides included) read into (ClassifierArguments, TrainingArguments); an
    unknown key or a bad value is one InputError."""
    from transformers import HfArgumentParser, TrainingArguments

    values = dict(values)
    values.setdefault("report_to", "none")
    for key in ("do_train", "do_eval", "do_predict"):  # LLaMA-Factory style switches, read by the runner
        values.setdefault(key, key == "do_train")
    if not values.get("output_dir"):
        raise InputError("missing output_dir")
    parser = HfArgumentParser((ClassifierArguments, TrainingArguments))
    try:
        head, training = parser.parse_dict(numbers_read(values, (ClassifierArguments, TrainingArguments)),
                                           allow_extra_keys=False)
    except ValueError as exc:
        raise InputError(" ".join(str(exc).split())) from None
    except TypeError as exc:
        raise InputError(f"missing or wrong key ({exc})") from None
    return head, training
