"""An export recipe's own checks: it names an adapter, the adapter is one (not a whole model), and it merges onto
the base and with the template its training recipe used. Each test compares every error, warning and note, with
the expected lines written out by hand from the small recipes it writes."""

from __future__ import annotations

from pathlib import Path

from recipekit.recipes.checks import Findings, check_export
from recipekit.recipes.reading import load_recipe

WHOLE_MODEL = "trains all weights, not an adapter: its output_dir is the model itself, nothing to merge"
MERGE_WITH = "merge with the training recipe's"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def producer(folder: Path, name: str, method: str = "lora", model: str = "Qwen/Qwen2.5-0.5B",
             template: str = "qwen") -> Path:
    """A training recipe writing saves/<name>."""
    return write(folder / f"{name}.yaml", f"model_name_or_path: {model}\nstage: sft\ndo_train: true\n"
                                          f"finetuning_type: {method}\ntemplate: {template}\ndataset: agnews\n"
                                          f"output_dir: saves/{name}\n")


def export(folder: Path, adapters: str | None, model: str = "Qwen/Qwen2.5-0.5B", template: str = "qwen") -> Findings:
    """check_export's findings on an export recipe merging ``adapters`` (None: no adapter_name_or_path line)."""
    adapter_line = f"adapter_name_or_path: {adapters}\n" if adapters is not None else ""
    path = write(folder / "export" / "merge.yaml", f"model_name_or_path: {model}\n{adapter_line}template: {template}\n"
                                                   "finetuning_type: lora\nexport_dir: saves/merged\n")
    made_by = {"saves/trained": folder / "trained.yaml", "saves/LoRA-X": folder / "LoRA-X.yaml",
               "saves/head": folder / "classifier" / "head.yaml"}
    found = Findings()
    check_export(load_recipe(path), made_by, found)
    return found


def test_an_export_without_an_adapter_is_told_to_name_the_training_runs_output(tmp_path: Path) -> None:
    assert export(tmp_path, None) == Findings(errors=[
        "an export recipe merges an adapter: set adapter_name_or_path (the training run's output_dir)"])
    assert export(tmp_path, "' , '") == Findings(errors=[  # only separators: still no adapter
        "an export recipe merges an adapter: set adapter_name_or_path (the training run's output_dir)"])


def test_an_adapter_written_with_a_trailing_slash_is_the_folder_its_recipe_writes(tmp_path: Path) -> None:
    full = producer(tmp_path, "LoRA-X", method="full")
    assert export(tmp_path, "saves/LoRA-X/") == Findings(errors=[f"adapter_name_or_path saves/LoRA-X: {full} "
                                                                 f"{WHOLE_MODEL}"])
    assert export(tmp_path, "saves/LoRA-X") == Findings(errors=[f"adapter_name_or_path saves/LoRA-X: {full} "
                                                                f"{WHOLE_MODEL}"])
    assert export(tmp_path, "saves/LoRA") == Findings()  # another folder: nothing known of it here


def test_a_whole_model_producer_on_another_base_gets_every_error(tmp_path: Path) -> None:
    full = producer(tmp_path, "trained", method="freeze", model="Qwen/Qwen2.5-1.5B", template="default")
    assert export(tmp_path, "saves/trained") == Findings(errors=[
        f"adapter_name_or_path saves/trained: {full} {WHOLE_MODEL}",
        f"model_name_or_path: 'Qwen/Qwen2.5-0.5B', but {full} trained the adapter with 'Qwen/Qwen2.5-1.5B': "
        f"{MERGE_WITH}",
        f"template: 'qwen', but {full} trained the adapter with 'default': {MERGE_WITH}"])


def test_an_export_must_merge_onto_the_base_and_template_of_the_training_recipe(tmp_path: Path) -> None:
    trained = producer(tmp_path, "trained")
    assert export(tmp_path, "saves/trained") == Findings()
    assert export(tmp_path, "saves/trained", model="Qwen/Qwen2.5-7B") == Findings(errors=[
        f"model_name_or_path: 'Qwen/Qwen2.5-7B', but {trained} trained the adapter with 'Qwen/Qwen2.5-0.5B': "
        f"{MERGE_WITH}"])
    assert export(tmp_path, "saves/trained", template="llama3") == Findings(errors=[
        f"template: 'llama3', but {trained} trained the adapter with 'qwen': {MERGE_WITH}"])


def test_an_adapter_of_no_known_recipe_does_not_stop_the_check_of_the_next(tmp_path: Path) -> None:
    trained = producer(tmp_path, "trained", model="Qwen/Qwen2.5-1.5B")
    expected = Findings(errors=[f"model_name_or_path: 'Qwen/Qwen2.5-0.5B', but {trained} trained the adapter with "
                                f"'Qwen/Qwen2.5-1.5B': {MERGE_WITH}"])
    assert export(tmp_path, "saves/elsewhere,saves/trained") == expected
    assert export(tmp_path, "saves/trained,saves/elsewhere") == expected


def test_a_classifier_trained_adapter_is_compared_by_its_base_only(tmp_path: Path) -> None:
    """A classifier recipe has no chat template: the export's template is not compared with it."""
    head = write(tmp_path / "classifier" / "head.yaml", "model_name_or_path: google-bert/bert-base-uncased\n"
                                                        "finetuning_type: lora\ndataset: yelp5\nlabels: a,b\n"
                                                        "do_train: true\noutput_dir: saves/head\n")
    assert load_recipe(head).is_classifier
    assert export(tmp_path, "saves/head", model="google-bert/bert-base-uncased", template="default") == Findings()
    assert export(tmp_path, "saves/head", model="google-bert/bert-large-uncased", template="default") == Findings(
        errors=[f"model_name_or_path: 'google-bert/bert-large-uncased', but {head} trained the adapter with "
                f"'google-bert/bert-base-uncased': {MERGE_WITH}"])
