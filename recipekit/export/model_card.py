"""The model card of an exported model, written with huggingface_hub's ``ModelCard`` and ``ModelCardData``.

Its metadata: the base model, the training data (hub ids where the conversion reads the hub), the library,
and a ``model-index`` of the run's metrics as the eval commands wrote them (``classify_report.json``,
``gen_report.json``: value and rows; nothing is recomputed). Its text: how the model was made (the training
recipe, the method, the export), the metrics with their 95% intervals, and every difference from the report
the training recipe reproduces. Before it is kept, the card is read back by the same library and must give
the same metadata (the Hub's own ``validate`` needs the network). ``--push`` uploads the folder with
``HfApi``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipekit.errors import InputError, exception_line
from recipekit.paths import at_root, root, shown
from recipekit.recipes.arguments import names_of
from recipekit.recipes.reading import Recipe

CARD_FILE = "README.md"
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro F1", "log_loss": "log loss", "bleu-4": "BLEU-4",
                "rouge-1": "ROUGE-1", "rouge-2": "ROUGE-2", "rouge-l": "ROUGE-L"}  # the model-index's metrics
SPLITS = (("_val", "validation"), ("_test", "test"))


@dataclass(frozen=True)
class Scored:
    """One report the eval commands wrote: the set it scored, its rows, its values and intervals."""

    folder: Path
    dataset: str
    rows: int
    values: dict[str, float]
    intervals: dict[str, Any]
    predictions: dict[str, Any] | None = None  # the predictions it scored: path, size, sha256


@dataclass
class CardFacts:
    """What the card says about one exported model."""

    name: str
    export: Recipe
    pipeline: str  # text-generation or text-classification
    trained_by: Recipe | None = None
    scored: list[Scored] = field(default_factory=list)
    data_dir: Path | None = None  # the folder the training read its sets from (None: the training recipe's)


def read_report(folder: str | Path, dataset: str, adapters: list[str] | None = None) -> Scored:
    """A report folder's numbers (one line naming the folder when it holds no report). With ``adapters`` (the
    export's), the report must record that its predictions were made with them, else one line says whose
    they were."""
    from recipekit.reproduce.card import REPORT_FILES, report_values

    found = report_values(Path(folder))
    if found is None:
        raise InputError(f"no {' or '.join(REPORT_FILES)} here: give a folder an eval command wrote", str(folder))
    report_path = next(Path(folder) / name for name in REPORT_FILES if (Path(folder) / name).is_file())
    if adapters is not None:
        check_made_with(report_path, adapters)
    rows, values, intervals = found
    meta = json.loads(report_path.read_text(encoding="utf-8")).get("meta") or {}
    return Scored(Path(folder), dataset, rows, values, intervals, meta.get("predictions"))


def check_made_with(report_path: Path, adapters: list[str]) -> None:
    """Refuse a report whose predictions were not made with ``adapters`` (compared as resolved paths), or that
    does not record the model that made them (``meta.model``, written by ``llm-recipes report``)."""
    meta = json.loads(report_path.read_text(encoding="utf-8")).get("meta") or {}
    predictions = (meta.get("predictions") or {}).get("path", "its predictions")
    made = meta.get("model") or {}
    theirs = names_of(made.get("adapter_name_or_path"))
    if not made:
        raise InputError(f"records no model that made {predictions}: report them again with --recipe (the recipe "
                         f"that predicted) or --adapter {','.join(adapters)}, so the card cites this adapter's "
                         "numbers only", str(report_path))
    if [at_root(a).resolve() for a in theirs] != [at_root(a).resolve() for a in adapters]:  # repository paths
        raise InputError(f"scored {predictions}, made with adapter {','.join(theirs) or '(none)'} (from "
                         f"{made.get('from', '?')}), not this export's {','.join(adapters)}: give the report of "
                         "this adapter's predictions", str(report_path))


def trained_by(adapter: str, made_by: dict[str, Path]) -> Path | None:
    """The recipe whose ``output_dir`` the adapter folder is, or ends with (a tiny run moves ``saves/``)."""
    parts = Path(adapter).parts  # a trailing slash gives no empty part
    for output, recipe in made_by.items():
        tail = Path(output).parts
        if tail and parts[-len(tail):] == tail:
            return recipe
    return None


def hub_model(name: str) -> str | None:
    """``name`` when it is a hub model id (``org/name``, or a bare name such as ``gpt2``), not a local path (the
    checks' rule)."""
    from recipekit.recipes.checks import is_local

    return None if is_local(name) else name


def split_of(dataset: str) -> str:
    return next((split for suffix, split in SPLITS if dataset.endswith(suffix)), "validation")


def eval_results(facts: CardFacts) -> list[Any]:
    """The model-index entries: each report's metrics (those with a name there), on its set."""
    from huggingface_hub import EvalResult

    from recipekit.converters.catalog import hub_id

    results = []
    for scored in facts.scored:
        for metric, label in METRIC_NAMES.items():
            if metric in scored.values:
                results.append(EvalResult(
                    task_type=facts.pipeline,
                    dataset_type=(hub_id(scored.dataset) if hub_data(facts) else None) or scored.dataset,
                    dataset_name=scored.dataset, dataset_split=split_of(scored.dataset), metric_type=metric,
                    metric_name=label, metric_value=round(float(scored.values[metric]), 6)))
    return results


def data_folder(facts: CardFacts) -> Path | None:
    """The folder the training read its sets from: the run's own (a tiny run's), else its recipe's."""
    if facts.data_dir is not None:
        return facts.data_dir
    return facts.trained_by.data_dir() if facts.trained_by else None


def hub_data(facts: CardFacts) -> bool:
    """Whether the training read the repository's ``data/``, where the conversions write the hub's sets (a tiny
    or smoke run converts small local files into a folder of its own)."""
    folder = data_folder(facts)
    return folder is None or folder.resolve() == (root() / "data").resolve()


def training_sets(facts: CardFacts) -> list[str]:
    """The training sets: hub ids where their conversion reads the hub and the run read its sets, else the names
    of the local sets it trained on."""
    from recipekit.converters.catalog import hub_id

    names = facts.trained_by.datasets("dataset") if facts.trained_by else []
    return [(hub_id(name) if hub_data(facts) else None) or name for name in names]


def card_data(facts: CardFacts) -> Any:
    """``ModelCardData`` of the card (ValueError from the library when the model-index is malformed)."""
    from huggingface_hub import ModelCardData

    base = str(facts.export.written("model_name_or_path"))
    tags = ["lora", "llama-factory" if facts.pipeline == "text-generation" else "peft"]
    if facts.trained_by is not None and facts.trained_by.written("quantization_bit"):
        tags.append("qlora")
    results = eval_results(facts)
    datasets = training_sets(facts) if hub_data(facts) else []  # local sets are no hub ids
    return ModelCardData(base_model=hub_model(base), datasets=datasets or None,
                         library_name="transformers", pipeline_tag=facts.pipeline, tags=tags,
                         model_name=facts.name if results else None, eval_results=results or None)


def method_line(recipe: Recipe) -> str:
    """How the adapter was trained, as the recipe's parser reads it (its defaults for keys left out): stage,
    LoRA rank, alpha and targets, 4-bit."""
    def listed(key: str) -> str:
        return ",".join(names_of(recipe.setting(key)))

    stage = "a classification head" if recipe.is_classifier else f"stage {recipe.setting('stage')}"
    parts = [f"{stage}, LoRA rank {recipe.setting('lora_rank')}, alpha {recipe.setting('lora_alpha')}, "
             f"targets {listed('lora_target')}"]
    if recipe.written("quantization_bit"):
        parts.append(f"trained on the {recipe.written('quantization_bit')}-bit base (QLoRA), merged onto the "
                     "unquantised one")
    return "; ".join(parts)


def results_table(facts: CardFacts) -> list[str]:
    lines = ["| set | metric | value | 95% interval | rows | report |", "|---|---|---|---|---|---|"]
    for scored in facts.scored:
        for metric, label in METRIC_NAMES.items():
            if metric in scored.values:
                low_high = scored.intervals.get(metric)
                interval = f"{low_high[0]:.4f} - {low_high[1]:.4f}" if low_high else "-"
                sha = (scored.predictions or {}).get("sha256")
                lines.append(f"| {scored.dataset} | {label} | {scored.values[metric]:.4f} | {interval} | "
                             f"{scored.rows} | {shown(scored.folder)}"
                             + (f" (predictions sha256 {sha[:12]})" if sha else "") + " |")
    return lines


def differences(recipe: Recipe) -> tuple[str, list[str]]:
    """(the report's title, each difference of the training recipe and of its chain) when it reproduces one."""
    from recipekit.reproduce.chain import load_chain

    facts = recipe.facts()
    if facts.report is None:
        return "", []
    chain = load_chain(str(facts.source))
    lines = [f"`{key}`: {why}" for key, why in facts.differences.items()] + list(chain.differences)
    return chain.report_title or chain.title, lines


def data_line(facts: CardFacts) -> str:
    """What the model trained on: the hub's sets, or the local sets of a run of its own and where they are."""
    from recipekit.converters.catalog import hub_id

    names = training_sets(facts)
    if not names:
        return "(none named)"
    if hub_data(facts):
        return ", ".join(names)
    hub, folder = sorted({found for name in names if (found := hub_id(name))}), data_folder(facts)
    return (f"{', '.join(names)} in {shown(folder)}: this run's own local sets"  # type: ignore[arg-type]
            + (f", not {', '.join(hub)}" if hub else ""))


def card_body(facts: CardFacts) -> str:
    """The card's Markdown (after its metadata)."""
    import yaml

    export, trained = facts.export, facts.trained_by
    base = str(export.written("model_name_or_path"))
    how = "LLaMA-Factory's export" if facts.pipeline == "text-generation" else "peft's merge_and_unload"
    lines = [f"# {facts.name}", "",
             f"`{base}` with the LoRA adapter `{export.written('adapter_name_or_path')}` merged in ({how}, "
             f"recipe `{shown(export.path)}`), saved in shards of at most {export.setting('export_size')} GB.",
             ""]
    if not hub_model(base):
        lines += [f"The base model is a local folder ({base}): a run on a tiny model, not the report's.", ""]
    if trained is not None:
        lines += ["## Training", "", f"- recipe: `{shown(trained.path)}`", f"- method: {method_line(trained)}",
                  f"- data: {data_line(facts)}"]
        title, listed = differences(trained)
        if title:
            lines += [f"- reproduces: {title}", "", "## Differences from the report", ""]
            lines += [f"- {line}" for line in listed] or ["- none listed"]
        lines.append("")
    lines += ["## Results", ""]
    lines += results_table(facts) if facts.scored else ["No report was given (`--report FOLDER`)."]
    lines += ["", "## Recipes", ""]
    for recipe in ([trained] if trained is not None else []) + [export]:
        lines += [f"`{shown(recipe.path)}`:", "", "```yaml",
                  yaml.safe_dump(recipe.written(), sort_keys=False, allow_unicode=True).rstrip(), "```", ""]
    return "\n".join(lines)


def model_card(facts: CardFacts) -> Any:
    """The card, read back by huggingface_hub: its metadata must come back unchanged (one line if not)."""
    from huggingface_hub import ModelCard

    try:
        data = card_data(facts)
        text = f"---\n{data.to_yaml()}\n---\n\n{card_body(facts)}"
        card = ModelCard(text)
    except ValueError as exc:  # a value the card cannot hold (a report's metric that is not a number...)
        raise InputError(f"the model card cannot be made: {exception_line(exc)}", str(facts.export.path)) from None
    if card.data.to_dict() != data.to_dict():
        raise InputError("the model card's metadata does not read back as written", str(facts.export.path))
    return card


def push(folder: Path, repo_id: str, private: bool = False) -> str:
    """Upload ``folder`` to the hub model repository ``repo_id`` (made if missing); its URL. Any failure (no
    network, no token, no rights) is one line: the exported folder stays as written."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id,
                                   commit_message=f"Upload {folder.name} (llm-recipes export)")
    except Exception as exc:  # httpx, huggingface_hub's HTTP and offline errors: all one line
        raise InputError(f"--push {repo_id} failed ({exception_line(exc)}); the export is kept here: "
                         f"upload it later with `hf upload {repo_id} {folder}`", str(folder)) from None
    return str(getattr(commit, "commit_url", "") or f"https://huggingface.co/{repo_id}")
