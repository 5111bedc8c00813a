"""The export's parts without a model: the recipe read by LLaMA-Factory's export parser, the training recipe found
from the adapter folder, the datasets' hub ids, the model card's metadata, a folder replaced whole."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import ascii_locale, run_cli, write_jsonl

from recipekit.converters.catalog import hub_id
from recipekit.errors import InputError
from recipekit.export.model_card import (
    CardFacts,
    Scored,
    card_body,
    data_line,
    model_card,
    read_report,
    split_of,
    trained_by,
)
from recipekit.files import folder_written
from recipekit.recipes.reading import Recipe, load_recipe

ROOT = Path(__file__).resolve().parents[2]


def test_an_export_recipe_is_read_by_the_export_parser_with_its_defaults(tmp_path: Path) -> None:
    from llamafactory.hparams import ModelArguments

    path = tmp_path / "export.yaml"
    path.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nadapter_name_or_path: saves/a\nexport_dir: out/m\n",
                    encoding="utf-8")
    recipe = load_recipe(path)
    assert recipe.is_export and recipe.output_folder() == "out/m"
    assert recipe.setting("export_size") == ModelArguments.__dataclass_fields__["export_size"].default
    assert recipe.setting("adapter_name_or_path") == ["saves/a"]  # LLaMA-Factory's list of adapters
    assert recipe.setting("do_train", "absent") == "absent"  # the export parser has no training arguments
    path.write_text("model_name_or_path: m\nexport_dir: out/m\nlearning_rate: 1e-4\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown key"):
        load_recipe(path).parsed()


def test_a_training_recipe_is_not_an_export() -> None:
    recipe = load_recipe(ROOT / "recipes/yelp5_lora.yaml")
    assert not recipe.is_export and recipe.output_folder() == "saves/qwen2.5-0.5b/lora/yelp5"


def test_the_adapter_names_its_training_recipe_by_output_dir_or_its_end() -> None:
    made_by = {"saves/qwen2.5-0.5b/lora/yelp5": Path("recipes/yelp5_lora.yaml"),
               "saves/bert-base-uncased/lora/yelp5": Path("recipes/classifier/yelp5_bert_lora.yaml")}
    assert trained_by("saves/qwen2.5-0.5b/lora/yelp5/", made_by) == Path("recipes/yelp5_lora.yaml")
    tiny = "outputs/reproduce/yelp5-tiny/saves/bert-base-uncased/lora/yelp5"
    assert trained_by(tiny, made_by) == Path("recipes/classifier/yelp5_bert_lora.yaml")
    assert trained_by("saves/other/lora/yelp5", made_by) is None
    assert trained_by("lora/yelp5", made_by) is None  # a shorter path is not the run's folder


def test_hub_ids_of_the_converted_sets() -> None:
    assert hub_id("yelp5_val") == "Yelp/yelp_review_full"
    assert hub_id("tulu3_personas_if") == "allenai/tulu-3-sft-personas-instruction-following"
    assert hub_id("afqmc") is None  # converted from a local download
    assert hub_id("mine") is None
    assert [split_of(n) for n in ("agnews_val", "afqmc_test", "agnews")] == ["validation", "test", "validation"]


def test_the_cards_metadata_reads_back_and_names_the_reports_set(tmp_path: Path) -> None:
    export = Recipe(tmp_path / "export.yaml", {"model_name_or_path": "Qwen/Qwen2.5-0.5B", "export_dir": "m",
                                               "adapter_name_or_path": "saves/qwen2.5-0.5b/lora/yelp5"})
    trained = load_recipe(ROOT / "recipes/yelp5_lora.yaml")
    scored = Scored(tmp_path, "yelp5_val", 500, {"accuracy": 0.598, "macro_f1": 0.59123456, "f1[neutral]": 0.4},
                    {"accuracy": [0.55, 0.64]})
    card = model_card(CardFacts("qwen-yelp5", export, "text-generation", trained, [scored]))
    assert card.data.base_model == "Qwen/Qwen2.5-0.5B" and card.data.datasets == ["Yelp/yelp_review_full"]
    assert (card.data.library_name, card.data.pipeline_tag, card.data.tags) == (
        "transformers", "text-generation", ["lora", "llama-factory"])
    assert card.data.model_name == "qwen-yelp5"
    results = [(r.task_type, r.metric_type, r.metric_name, r.metric_value, r.dataset_name, r.dataset_type,
                r.dataset_split) for r in card.data.eval_results]
    assert results == [
        ("text-generation", "accuracy", "accuracy", 0.598, "yelp5_val", "Yelp/yelp_review_full", "validation"),
        ("text-generation", "macro_f1", "macro F1", 0.591235, "yelp5_val", "Yelp/yelp_review_full", "validation")]
    # per-class F1 stays in the report; the recipe's values and the base model in the text
    assert "`Qwen/Qwen2.5-0.5B` with the LoRA adapter `saves/qwen2.5-0.5b/lora/yelp5` merged in (LLaMA-Factory's " \
        "export" in card.text and "a run on a tiny model" not in card.text
    assert "- method: stage sft, LoRA rank 8, alpha 16, targets q_proj,v_proj" in card.text
    assert "| yelp5_val | accuracy | 0.5980 | 0.5500 - 0.6400 | 500 |" in card.text
    assert "| yelp5_val | macro F1 | 0.5912 | - | 500 |" in card.text  # 6 decimals in the metadata, 4 here
    assert "## Differences from the report" in card.text and "`lora_target`:" in card.text


def test_a_run_on_its_own_local_sets_names_them_and_not_the_hubs(tmp_path: Path) -> None:
    """A tiny run's copies sit beside its export recipe: the card names the sets that run read, where they are."""
    from recipekit.commands.export import run_data_dir

    out = tmp_path / "out"
    source = ROOT / "recipes/classifier/yelp5_bert_lora.yaml"
    copy = {**yaml.safe_load(source.read_text(encoding="utf-8")), "output_dir": str(out / "saves" / "yelp5"),
            "dataset_dir": str(out / "data")}
    (out / "recipes" / "classifier").mkdir(parents=True)
    (out / "recipes" / "classifier" / "yelp5_bert_lora.yaml").write_text(yaml.safe_dump(copy), encoding="utf-8")
    (out / "recipes" / "export").mkdir()
    (out / "recipes" / "export" / "yelp5_bert_lora.yaml").write_text(yaml.safe_dump({
        "model_name_or_path": str(tmp_path / "tiny"), "adapter_name_or_path": str(out / "saves" / "yelp5/"),
        "export_dir": str(out / "merged")}), encoding="utf-8")
    export = load_recipe(out / "recipes" / "export" / "yelp5_bert_lora.yaml")
    assert run_data_dir(export) == out / "data"
    scored = Scored(tmp_path, "yelp5_val", 16, {"accuracy": 0.25}, {})
    card = model_card(CardFacts("m", export, "text-classification", load_recipe(source), [scored],
                                run_data_dir(export)))
    assert card.data.datasets is None  # no hub dataset named
    assert [(r.dataset_name, r.dataset_type) for r in card.data.eval_results] == [("yelp5_val", "yelp5_val")]
    assert f"- data: yelp5 in {out / 'data'}: this run's own local sets, not Yelp/yelp_review_full\n" in card.text
    shipped = load_recipe(ROOT / "recipes/export/yelp5_bert_lora.yaml")
    assert run_data_dir(shipped) == Path("data")  # the repository's recipe writes that adapter: its data/
    hub_card = model_card(CardFacts("m", shipped, "text-classification", load_recipe(source), [scored],
                                    run_data_dir(shipped)))
    assert hub_card.data.datasets == ["Yelp/yelp_review_full"] and "- data: Yelp/yelp_review_full\n" in hub_card.text


def test_a_classifier_card_without_reports_or_training_recipe(tmp_path: Path) -> None:
    base = tmp_path / "tiny-bert"
    base.mkdir()
    export = Recipe(tmp_path / "export.yaml", {"model_name_or_path": str(base), "export_dir": "m",
                                               "adapter_name_or_path": "somewhere/else"})
    card = model_card(CardFacts("m", export, "text-classification", None, []))
    assert card.data.base_model is None and card.data.datasets is None  # a local folder; no training recipe known
    assert card.data.eval_results is None and card.data.model_name is None
    assert card.data.tags == ["lora", "peft"] and card.data.pipeline_tag == "text-classification"
    assert "peft's merge_and_unload" in card.text and "a run on a tiny model" in card.text
    assert "No report was given" in card.text and "## Training" not in card.text
    qlora = load_recipe(ROOT / "recipes/classifier/afqmc_qwen1.5_1.8b_qlora.yaml")
    hub = Recipe(tmp_path / "e.yaml", {"model_name_or_path": "Qwen/Qwen1.5-1.8B", "export_dir": "m"})
    card = model_card(CardFacts("m", hub, "text-classification", qlora, [
        Scored(tmp_path, "afqmc_test", 10, {"accuracy": 0.5}, {})]))
    assert card.data.tags == ["lora", "peft", "qlora"] and card.data.base_model == "Qwen/Qwen1.5-1.8B"
    assert [(r.dataset_split, r.dataset_type) for r in card.data.eval_results] == [("test", "afqmc_test")]
    settings = yaml.safe_load((ROOT / "recipes/classifier/afqmc_qwen1.5_1.8b_qlora.yaml").read_text(encoding="utf-8"))
    assert (f"- method: a classification head, LoRA rank {settings['lora_rank']}, alpha {settings['lora_alpha']}, "
            f"targets {settings['lora_target']}; trained on the 4-bit base (QLoRA), merged onto the unquantised "
            "one") in card.text
    dpo = load_recipe(ROOT / "recipes/qwen3_4b_ultrafeedback_dpo_lora.yaml")
    assert "- method: stage dpo, LoRA rank 16, alpha 32, targets all" in \
        model_card(CardFacts("m", hub, "text-generation", dpo)).text
    assert model_card(CardFacts("m", Recipe(tmp_path / "e.yaml", {"model_name_or_path": "a/b/c", "export_dir": "m"}),
                                "text-generation")).data.base_model is None  # not an org/name hub id


def test_the_method_line_has_the_parsers_defaults_for_keys_left_out(tmp_path: Path) -> None:
    from llamafactory.hparams import FinetuningArguments

    from recipekit.export.model_card import method_line

    path = tmp_path / "lean.yaml"
    path.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\ndo_train: true\nfinetuning_type: lora\ndataset: d\n"
                    "template: qwen\noutput_dir: saves/lean\n", encoding="utf-8")
    defaults = FinetuningArguments()  # LLaMA-Factory's own: stage sft, rank 8, alpha twice the rank, targets all
    assert method_line(load_recipe(path)) == (f"stage {defaults.stage}, LoRA rank {defaults.lora_rank}, alpha "
                                              f"{defaults.lora_alpha}, targets {','.join(defaults.lora_target)}")


def test_a_folder_is_replaced_only_when_the_block_ends(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), folder_written(target) as staging:
        (staging / "new.txt").write_text("new", encoding="utf-8")
        raise RuntimeError("merge failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and [p.name for p in target.iterdir()] == ["old.txt"]
    with folder_written(target) as staging:
        (staging / "new.txt").write_text("new", encoding="utf-8")
        assert [p.name for p in target.iterdir()] == ["old.txt"]  # not yet
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and [p.name for p in target.iterdir()] == ["new.txt"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~mask  # a folder's usual permissions, not mkdtemp's 0700
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="is a file, not a folder"), folder_written(tmp_path / "file"):
        pass


def test_the_whole_card_text_of_a_shipped_export() -> None:
    """Every line of the card's text for recipes/export/yelp5_lora.yaml, written out from the two recipes and the
    yelp5 chain file."""
    export = load_recipe(ROOT / "recipes/export/yelp5_lora.yaml")
    trained = load_recipe(ROOT / "recipes/yelp5_lora.yaml")
    chain = yaml.safe_load((ROOT / "recipes/reproduce/yelp5.yaml").read_text(encoding="utf-8"))
    differences = chain["recipes"]["recipes/yelp5_lora.yaml"]["differences"]
    scored = Scored(Path("outputs/r"), "yelp5_val", 500, {"accuracy": 0.598}, {"accuracy": [0.55, 0.64]})
    card = model_card(CardFacts("yelp5-merged", export, "text-generation", trained, [scored]))
    settings, exported = trained.args, export.args

    def block(path: str, args: dict) -> list[str]:
        return [f"`{path}`:", "", "```yaml", yaml.safe_dump(args, sort_keys=False, allow_unicode=True).rstrip(),
                "```", ""]

    expected = [
        "# yelp5-merged", "",
        f"`Qwen/Qwen2.5-0.5B` with the LoRA adapter `{exported['adapter_name_or_path']}` merged in (LLaMA-Factory's "
        f"export, recipe `recipes/export/yelp5_lora.yaml`), saved in shards of at most {exported['export_size']} GB.",
        "", "## Training", "", "- recipe: `recipes/yelp5_lora.yaml`",
        f"- method: stage sft, LoRA rank {settings['lora_rank']}, alpha {settings['lora_alpha']}, targets "
        f"{settings['lora_target']}",
        "- data: Yelp/yelp_review_full", f"- reproduces: {chain['report_title']}", "",
        "## Differences from the report", "",
        *[f"- `{key}`: {why}" for key, why in differences.items()], *[f"- {line}" for line in chain["differences"]],
        "", "## Results", "",
        "| set | metric | value | 95% interval | rows | report |", "|---|---|---|---|---|---|",
        "| yelp5_val | accuracy | 0.5980 | 0.5500 - 0.6400 | 500 | outputs/r |",
        "", "## Recipes", "", *block("recipes/yelp5_lora.yaml", settings),
        *block("recipes/export/yelp5_lora.yaml", exported)]
    assert card.text.strip("\n") == "\n".join(expected).strip("\n")  # the text after the metadata


def test_a_report_is_taken_only_for_the_adapter_that_made_its_predictions(tmp_path: Path) -> None:
    adapter = tmp_path / "saves" / "lora"
    predictions = write_jsonl(tmp_path / "predict" / "generated_predictions.jsonl",
                              [{"predict": "a", "label": "a"}, {"predict": "b", "label": "a"}])
    report = tmp_path / "report"
    assert run_cli("report", "classify", predictions, "--out", report, "--bootstrap", "0").returncode == 0
    with pytest.raises(InputError) as unknown:
        read_report(report, "val", [str(adapter)])
    assert str(unknown.value) == (
        f"{report / 'classify_report.json'}: records no model that made {predictions}: report them again with "
        f"--recipe (the recipe that predicted) or --adapter {adapter}, so the card cites this adapter's numbers only")

    other = tmp_path / "saves" / "other"
    assert run_cli("report", "classify", predictions, "--out", report, "--bootstrap", "0", "--adapter",
                   other).returncode == 0
    with pytest.raises(InputError) as foreign:
        read_report(report, "val", [str(adapter)])
    assert str(foreign.value) == (
        f"{report / 'classify_report.json'}: scored {predictions}, made with adapter {other} (from --adapter), not "
        f"this export's {adapter}: give the report of this adapter's predictions")

    spelled = os.path.relpath(adapter)  # the same folder however it is written
    assert run_cli("report", "classify", predictions, "--out", report, "--bootstrap", "0", "--adapter",
                   f"{spelled}/").returncode == 0
    scored = read_report(report, "val", [str(adapter)])
    assert scored.values["accuracy"] == 0.5
    os.environ["LLM_RECIPES_ROOT"] = str(tmp_path)  # an export recipe's own relative path, read under --root
    try:
        assert read_report(report, "val", ["saves/lora"]).values["accuracy"] == 0.5
    finally:
        del os.environ["LLM_RECIPES_ROOT"]
    export = Recipe(tmp_path / "export.yaml", {"model_name_or_path": "org/base", "export_dir": "m",
                                               "adapter_name_or_path": str(adapter)})
    card = model_card(CardFacts("m", export, "text-classification", None, [scored]))
    sha = hashlib.sha256(predictions.read_bytes()).hexdigest()
    assert f"| val | accuracy | 0.5000 | - | 2 | {report} (predictions sha256 {sha[:12]}) |" in card.text


def test_ctrl_c_while_the_old_folder_is_removed_leaves_no_hidden_copy(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT delivered the moment the old folder's removal starts: the new folder is in place, so the run goes on
    and no hidden `.out.old-PID` copy stays beside it."""
    import shutil
    import signal

    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old", encoding="utf-8")
    real_rmtree = shutil.rmtree

    def interrupted_rmtree(path: object, *args: object, **kwargs: object) -> None:
        if ".old-" in str(path):
            signal.raise_signal(signal.SIGINT)
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", interrupted_rmtree)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal: Ctrl-C raises
    try:
        with folder_written(target) as staging:
            (staging / "new.txt").write_text("new", encoding="utf-8")
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C ended the run after the new folder was in place")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and [p.name for p in target.iterdir()] == ["new.txt"]


@pytest.mark.parametrize(("export", "training"), [
    ("yelp5_lora", "recipes/yelp5_lora.yaml"), ("yelp5_bert_lora", "recipes/classifier/yelp5_bert_lora.yaml"),
    ("qwen3_4b_ultrafeedback_dpo_lora", "recipes/qwen3_4b_ultrafeedback_dpo_lora.yaml")])
def test_the_export_command_finds_the_recipe_that_trained_its_adapter(export: str, training: str) -> None:
    from recipekit.commands.export import training_recipe

    found = training_recipe(load_recipe(ROOT / "recipes" / "export" / f"{export}.yaml"))
    assert found is not None and found.path.resolve() == (ROOT / training).resolve()
    adapters = yaml.safe_load(found.path.read_text(encoding="utf-8"))["output_dir"]
    assert yaml.safe_load((ROOT / "recipes" / "export" / f"{export}.yaml").read_text(encoding="utf-8"))[
        "adapter_name_or_path"] == adapters


def test_an_export_without_an_adapter_or_of_an_adapter_no_recipe_trains_has_no_training_recipe(
        tmp_path: Path) -> None:
    from recipekit.commands.export import training_recipe

    path = tmp_path / "export.yaml"
    path.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nexport_dir: out/m\ntemplate: qwen\n", encoding="utf-8")
    assert training_recipe(load_recipe(path)) is None
    path.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nadapter_name_or_path: saves/nobody/made\n"
                    "export_dir: out/m\ntemplate: qwen\n", encoding="utf-8")
    assert training_recipe(load_recipe(path)) is None


def test_a_push_id_is_checked_by_huggingface_hub() -> None:
    import argparse

    from recipekit.commands.export import repo_id

    assert repo_id("me/yelp5-bert-lora") == "me/yelp5-bert-lora"
    assert repo_id("model") == "model"
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    for bad in ("a b", "me/you/them", "-start"):
        with pytest.raises(HFValidationError) as hub_said:
            validate_repo_id(bad)
        with pytest.raises(argparse.ArgumentTypeError) as raised:
            repo_id(bad)
        assert str(raised.value) == " ".join(str(hub_said.value).split())  # huggingface_hub's words, on one line
        assert "\n" not in str(raised.value) and len(str(raised.value)) > 20


def test_a_report_refused_for_the_card_names_every_adapter_and_what_it_does_not_record(tmp_path: Path) -> None:
    """The report's record edited by hand: no predictions path, no model, a model without an adapter or a source,
    two adapters on either side; and a folder without a report."""
    predictions = write_jsonl(tmp_path / "prédictions" / "generated_predictions.jsonl",
                              [{"predict": "a", "label": "a"}, {"predict": "b", "label": "a"}])
    report = tmp_path / "report"
    assert run_cli("report", "classify", predictions, "--out", report, "--bootstrap", "0").returncode == 0
    path = report / "classify_report.json"
    written = json.loads(path.read_text(encoding="utf-8"))
    mine = [str(tmp_path / "saves" / "a"), str(tmp_path / "saves" / "b")]

    def refused(meta: dict) -> str:
        path.write_text(json.dumps({**written, "meta": meta}), encoding="utf-8")
        with pytest.raises(InputError) as raised:
            read_report(report, "val", mine)
        return str(raised.value).removeprefix(f"{path}: ")

    assert refused({}) == (
        f"records no model that made its predictions: report them again with --recipe (the recipe that predicted) "
        f"or --adapter {mine[0]},{mine[1]}, so the card cites this adapter's numbers only")
    assert refused({"model": {"adapter_name_or_path": None}}) == (
        f"scored its predictions, made with adapter (none) (from ?), not this export's {mine[0]},{mine[1]}: give the "
        "report of this adapter's predictions")
    assert refused({"model": {"adapter_name_or_path": "saves/x,saves/y", "from": "--adapter"}}).startswith(
        "scored its predictions, made with adapter saves/x,saves/y (from --adapter), not ")
    with pytest.raises(InputError) as raised:
        read_report(tmp_path, "val")
    assert str(raised.value) == (f"{tmp_path}: no classify_report.json or gen_report.json here: give a folder an eval "
                                 "command wrote")
    # the report's own paths are not ASCII: read as UTF-8 whatever the locale
    path.write_text(json.dumps({**written, "meta": {**written["meta"], "model": {"adapter_name_or_path": ",".join(
        mine), "from": "--adapter"}}}, ensure_ascii=False), encoding="utf-8")
    with ascii_locale():
        scored = read_report(report, "val", mine)
    assert scored.predictions and scored.predictions["path"] == str(predictions)


def test_the_data_line_for_hub_sets_local_sets_and_none(tmp_path: Path) -> None:
    export = Recipe(tmp_path / "export.yaml", {"model_name_or_path": "org/base", "export_dir": "m",
                                               "adapter_name_or_path": "saves/a"})

    def line(dataset: str | None, dataset_dir: Path | None = None) -> str:
        values = {"model_name_or_path": "org/base", "stage": "sft", "finetuning_type": "lora",
                  "output_dir": "saves/a", **({"dataset": dataset} if dataset else {}),
                  **({"dataset_dir": str(dataset_dir)} if dataset_dir else {})}
        return data_line(CardFacts("m", export, "text-generation", Recipe(tmp_path / "mine.yaml", values)))

    assert line(None) == "(none named)"
    assert line("yelp5,agnews") == "Yelp/yelp_review_full, fancyzhx/ag_news"  # the repository's data/
    assert line("yelp5,agnews,mine", ROOT / "data") == "Yelp/yelp_review_full, fancyzhx/ag_news, mine"
    # the training recipe's own folder (no run folder given): the sets by name, and the hub sets they are not
    own = tmp_path / "own-data"
    assert line("yelp5,mine,agnews", own) == (f"yelp5, mine, agnews in {own}: this run's own local sets, not "
                                              "Yelp/yelp_review_full, fancyzhx/ag_news")
    assert line("mine,theirs", own) == f"mine, theirs in {own}: this run's own local sets"


def test_a_card_of_a_recipe_that_reproduces_no_report_lists_no_differences(tmp_path: Path) -> None:
    export = Recipe(tmp_path / "export.yaml", {"model_name_or_path": "org/base", "export_dir": "m",
                                               "adapter_name_or_path": "saves/a"})
    mine = Recipe(tmp_path / "mine.yaml", {"model_name_or_path": "org/base", "stage": "sft", "dataset": "mine",
                                           "finetuning_type": "lora", "output_dir": "saves/a"})
    text = card_body(CardFacts("m", export, "text-generation", mine))
    assert "- data: mine\n\n## Results" in text
    assert "reproduces" not in text and "Differences" not in text


def test_a_card_that_cannot_be_made_or_read_back_is_one_line_naming_the_export_recipe(tmp_path: Path) -> None:
    export = Recipe(tmp_path / "export.yaml", {"model_name_or_path": "org/base", "export_dir": "m",
                                               "adapter_name_or_path": "saves/a"})

    def refused(value: object) -> str:
        scored = Scored(tmp_path, "val", 2, {"accuracy": value}, {})
        with pytest.raises(InputError) as raised:
            model_card(CardFacts("m", export, "text-classification", None, [scored]))
        return str(raised.value)

    assert refused("n/a") == (f"{export.path}: the model card cannot be made: ValueError: could not convert string "
                              "to float: 'n/a'")
    # NaN is written, but never equals what is read back
    assert refused(float("nan")) == f"{export.path}: the model card's metadata does not read back as written"


def test_the_whole_card_text_of_a_classifier_on_a_local_base_without_reports(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every line, written by hand: peft's merge, the local base, this run's own sets in a non-ASCII folder kept
    as written in the recipes' YAML, a reproduced report without differences, no report given."""
    base, own = tmp_path / "tiny-bert", tmp_path / "données"
    export = Recipe(tmp_path / "export.yaml", {"model_name_or_path": str(base), "adapter_name_or_path": "saves/b",
                                               "export_dir": "m", "export_size": 2})
    trained = Recipe(tmp_path / "mine.yaml", {
        "model_name_or_path": str(base), "stage": "sft", "dataset": "mine", "dataset_dir": str(own),
        "finetuning_type": "lora", "lora_rank": 8, "lora_alpha": 16, "lora_target": "query,value",
        "output_dir": "saves/b"})
    monkeypatch.setattr("recipekit.export.model_card.differences", lambda recipe: ("A report", []))
    expected = [
        "# m", "",
        f"`{base}` with the LoRA adapter `saves/b` merged in (peft's merge_and_unload, recipe "
        f"`{tmp_path / 'export.yaml'}`), saved in shards of at most 2 GB.", "",
        f"The base model is a local folder ({base}): a run on a tiny model, not the report's.", "",
        "## Training", "", f"- recipe: `{tmp_path / 'mine.yaml'}`",
        "- method: stage sft, LoRA rank 8, alpha 16, targets query,value",
        f"- data: mine in {own}: this run's own local sets", "- reproduces: A report", "",
        "## Differences from the report", "", "- none listed", "",
        "## Results", "", "No report was given (`--report FOLDER`).", "",
        "## Recipes", "", f"`{tmp_path / 'mine.yaml'}`:", "", "```yaml", f"model_name_or_path: {base}",
        "stage: sft", "dataset: mine", f"dataset_dir: {own}", "finetuning_type: lora", "lora_rank: 8",
        "lora_alpha: 16", "lora_target: query,value", "output_dir: saves/b", "```", "",
        f"`{tmp_path / 'export.yaml'}`:", "", "```yaml", f"model_name_or_path: {base}",
        "adapter_name_or_path: saves/b", "export_dir: m", "export_size: 2", "```", ""]
    assert card_body(CardFacts("m", export, "text-classification", trained)) == "\n".join(expected)


def saved_adapter(folder: Path, task: str | None, run: dict | None = None, **config: object) -> Path:
    """An adapter folder as peft saves it (config + weights file), with a classifier run's record if given."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"task_type": task, **config}), encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes(b"")
    if run is not None:
        (folder / "classifier_run.json").write_text(json.dumps(run), encoding="utf-8")
    return folder


def export_of(tmp_path: Path, *adapters: Path, **values: object) -> Recipe:
    path = tmp_path / "export.yaml"
    args = {"model_name_or_path": "m", "export_dir": str(tmp_path / "out"), **values}
    if adapters:
        args["adapter_name_or_path"] = ",".join(str(a) for a in adapters)
    path.write_text(yaml.safe_dump(args), encoding="utf-8")
    return load_recipe(path)


def test_what_an_export_merges_is_checked_before_any_model_loads(tmp_path: Path) -> None:
    from recipekit.export.merge import adapter_modules, adapter_task, adapters, classifier_labels, merge

    with pytest.raises(InputError) as caught:
        adapters(export_of(tmp_path))
    assert str(caught.value) == (f"{tmp_path / 'export.yaml'}: an export recipe merges an adapter: set "
                                 "adapter_name_or_path (the training run's output_dir)")
    with pytest.raises(InputError) as caught:
        adapters(export_of(tmp_path, tmp_path / "gone"))
    assert str(caught.value) == (f"{tmp_path / 'gone'}: no trained adapter here (adapter_config.json missing): train "
                                 "it first")
    causal = saved_adapter(tmp_path / "causal", "CAUSAL_LM")
    head = saved_adapter(tmp_path / "head", "SEQ_CLS", {"labels": ["neg", 1]}, modules_to_save=["classifier"])
    assert adapters(export_of(tmp_path, causal, head)) == [causal, head]
    assert (adapter_task(causal), adapter_task(saved_adapter(tmp_path / "untyped", None))) == ("CAUSAL_LM", "")
    assert (adapter_modules(head), adapter_modules(causal)) == ({"classifier"}, set())
    assert classifier_labels(head) == ["neg", "1"]  # in head order, as text
    with pytest.raises(InputError) as caught:
        classifier_labels(causal)
    assert str(caught.value) == f"{causal}: a classifier adapter without classifier_run.json: its labels are unknown"
    for bad in ({}, {"labels": []}, {"labels": "neg,pos"}):
        (head / "classifier_run.json").write_text(json.dumps(bad), encoding="utf-8")
        with pytest.raises(InputError) as caught:
            classifier_labels(head)
        assert str(caught.value) == f"{head / 'classifier_run.json'}: labels: missing (the run's labels in head order)"
    for recipe, message in (
        (export_of(tmp_path, causal, quantization_bit=4), "quantization_bit: an adapter cannot be merged into a "
         "quantised model; name the unquantised base (drop quantization_bit), as LLaMA-Factory's merge examples do"),
        (export_of(tmp_path, causal, head), "a classifier's export merges one adapter"),
    ):
        with pytest.raises(InputError) as caught:
            merge(recipe, tmp_path / "target")
        assert str(caught.value) == f"{tmp_path / 'export.yaml'}: {message}"
    assert not (tmp_path / "target").exists()
    (head / "classifier_run.json").write_text(json.dumps({"labels": ["是", "否"]}, ensure_ascii=False), "utf-8")
    with ascii_locale():  # last: it skips where Python runs in UTF-8 mode
        assert classifier_labels(head) == ["是", "否"]
