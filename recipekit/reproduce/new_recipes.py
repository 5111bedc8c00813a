"""The recipes ``llm-recipes new`` writes for a dataset of the user's: train (SFT, or DPO for preference pairs),
predict and, for an adapter, export, as plain LLaMA-Factory YAML under ``recipes/NAME/`` with a short header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from recipekit.plan.fit import Candidate

TASKS = ("classify", "generate", "preference")
LEARNING_RATE = {("sft", "full"): 1.0e-5, ("sft", "lora"): 1.0e-4, ("dpo", "full"): 5.0e-7, ("dpo", "lora"): 5.0e-6}
EPOCHS = {"classify": 3.0, "generate": 3.0, "preference": 1.0}
NEW_TOKENS = {"classify": 16, "generate": 512, "preference": 512}
TEMPLATES = (("qwen3", "qwen3"), ("qwen", "qwen"), ("llama-3", "llama3"), ("llama3", "llama3"),
             ("mistral", "mistral"), ("gemma", "gemma"))  # model id substring -> LLaMA-Factory template


def template_for(model: str) -> str:
    """The chat template LLaMA-Factory uses for a model id (``default`` when the family is not known)."""
    lowered = model.lower()
    return next((template for tag, template in TEMPLATES if tag in lowered), "default")


@dataclass(frozen=True)
class NewRun:
    """What the recipes of one new dataset share."""

    name: str
    task: str
    model: str
    template: str
    cutoff_len: int
    precision: str  # bf16 | fp16 | fp32
    candidate: Candidate

    @property
    def stage(self) -> str:
        return "dpo" if self.task == "preference" else "sft"

    @property
    def adapter(self) -> bool:
        return self.candidate.method != "full"

    @property
    def train_dir(self) -> str:
        return f"saves/{self.name}/{self.candidate.method}/train"

    @property
    def predict_dir(self) -> str:
        return f"saves/{self.name}/{self.candidate.method}/predict"

    @property
    def export_dir(self) -> str:
        return f"saves/{self.name}/{self.candidate.method}/merged"

    def precision_values(self) -> dict[str, Any]:
        return {self.precision: True} if self.precision in ("bf16", "fp16") else {}


def train_args(run: NewRun) -> dict[str, Any]:
    """The training recipe: SFT on NAME (DPO on NAME's pairs), evaluated on NAME_val."""
    method = "full" if run.candidate.method == "full" else "lora"
    args: dict[str, Any] = {"model_name_or_path": run.model, "stage": run.stage, "do_train": True}
    values = run.candidate.recipe_values()
    args["finetuning_type"] = values.pop("finetuning_type")
    if method == "lora":
        args.update(lora_rank=8, lora_alpha=16, lora_dropout=0.05, lora_target="all")
    if "quantization_bit" in values:
        args["quantization_bit"] = values.pop("quantization_bit")
    if run.stage == "dpo":
        args.update(pref_beta=0.1, pref_loss="sigmoid")
    if "deepspeed" in values:
        args["deepspeed"] = values.pop("deepspeed")
    args.update(dataset=run.name, eval_dataset=f"{run.name}_val", dataset_dir="data", template=run.template,
                cutoff_len=run.cutoff_len, output_dir=run.train_dir, logging_steps=10, save_strategy="epoch",
                overwrite_output_dir=True, report_to="none", plot_loss=True)
    args.update(values)  # per-device batch, accumulation, checkpointing
    args.update(learning_rate=LEARNING_RATE[(run.stage, method)], num_train_epochs=EPOCHS[run.task],
                lr_scheduler_type="cosine", warmup_ratio=0.1, **run.precision_values(), seed=42,
                per_device_eval_batch_size=run.candidate.batch, eval_strategy="epoch")
    return args


def predict_args(run: NewRun) -> dict[str, Any]:
    """Greedy generations of the trained model for NAME_test (for preference data: its prompts, the chosen
    answers as the reference)."""
    args: dict[str, Any] = {"model_name_or_path": run.train_dir if not run.adapter else run.model}
    if run.adapter:
        args["adapter_name_or_path"] = run.train_dir
        args["finetuning_type"] = "lora"
        if run.candidate.method == "qlora":
            args["quantization_bit"] = 4
    args.update(stage="sft", do_predict=True, eval_dataset=f"{run.name}_test", dataset_dir="data",
                template=run.template, cutoff_len=run.cutoff_len, output_dir=run.predict_dir,
                overwrite_output_dir=True, report_to="none", per_device_eval_batch_size=run.candidate.batch,
                predict_with_generate=True, do_sample=False, max_new_tokens=NEW_TOKENS[run.task],
                **run.precision_values())
    return args


def export_args(run: NewRun) -> dict[str, Any]:
    """The adapter merged into its base model (the 16-bit base, also for a QLoRA adapter)."""
    return {"model_name_or_path": run.model, "adapter_name_or_path": run.train_dir, "template": run.template,
            "finetuning_type": "lora", "export_dir": run.export_dir, "export_size": 2, "export_device": "cpu",
            "export_legacy_format": False}


def recipe_text(header: list[str], args: dict[str, Any]) -> str:
    """A recipe file: the header's lines as comments, a blank line, the YAML."""
    return "".join(f"# {line}\n" if line else "#\n" for line in header) + "\n" + \
        yaml.safe_dump(args, sort_keys=False, allow_unicode=True)
