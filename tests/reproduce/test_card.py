"""recipekit/reproduce/card.py: the card's verdicts, and each published number beside the value and interval its
report wrote, in the report's unit."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from recipekit.errors import InputError
from recipekit.recipes.facts import Facts
from recipekit.reproduce.card import (
    build_card,
    chain_recipes,
    hardware_line,
    report_times,
    report_values,
    score_numbers,
    verdict,
)
from recipekit.reproduce.chain import Layout, Number, load_chain
from recipekit.steps import Step

YELP = "recipes/classifier/yelp5_bert_lora.yaml"


def test_verdicts_on_known_numbers() -> None:
    assert verdict(0.5, 0.52, (0.49, 0.55), tiny=False) == "reproduced"
    assert verdict(0.49, 0.52, (0.49, 0.55), tiny=False) == "reproduced"  # the interval's ends count
    assert verdict(0.55, 0.52, (0.49, 0.55), tiny=False) == "reproduced"
    assert verdict(0.60, 0.52, (0.49, 0.55), tiny=False) == \
        "not reproduced: run -0.08 (the report's number is above the interval)"
    assert verdict(0.40, 0.52, (0.49, 0.55), tiny=False) == \
        "not reproduced: run +0.12 (the report's number is below the interval)"
    assert verdict(0.5, 0.52, (0.49, 0.55), tiny=True) == "no verdict (tiny run)"
    assert verdict(0.5, None, None, tiny=False) == "not measured"
    assert verdict(0.5, 0.52, None, tiny=False) == "not measured"


def classification_report(folder: Path) -> Path:
    """A classify_report.json as the report writer lays it out (numbers made up, ids of its fields real)."""
    folder.mkdir(parents=True, exist_ok=True)
    report = {"n": 200, "accuracy": 0.9543, "macro": {"precision": 0.95, "recall": 0.94, "f1": 0.945},
              "per_class": {"World": {"f1": 0.96}, "Sports": {"f1": 0.99}},
              "probabilistic": {"log_loss": 0.21},
              "ci": {"accuracy": [0.93, 0.97], "macro_f1": [0.92, 0.96], "f1[Sports]": [0.98, 1.0]}}
    (folder / "classify_report.json").write_text(json.dumps(report), encoding="utf-8")
    return folder


def test_report_values_reads_every_number_a_card_can_cite(tmp_path: Path) -> None:
    n, values, intervals = report_values(classification_report(tmp_path / "cls"))
    assert n == 200
    assert values == {"accuracy": 0.9543, "macro_precision": 0.95, "macro_recall": 0.94, "macro_f1": 0.945,
                      "f1[World]": 0.96, "f1[Sports]": 0.99, "log_loss": 0.21}
    assert intervals["accuracy"] == [0.93, 0.97]
    generation = tmp_path / "gen"
    generation.mkdir()
    (generation / "gen_report.json").write_text(json.dumps({"n": 30, "llamafactory": {"bleu-4": 12.5},
                                                            "ci": {"bleu-4": [10.0, 15.0]}}), encoding="utf-8")
    assert report_values(generation) == (30, {"bleu-4": 12.5}, {"bleu-4": [10.0, 15.0]})
    assert report_values(tmp_path / "nothing") is None


def test_published_numbers_are_scored_in_the_reports_unit(tmp_path: Path) -> None:
    folder = classification_report(tmp_path / "cls")
    numbers = [Number("accuracy", 95.43, "accuracy", "{out}/cls", unit="%"),
               Number("F1 Sports", 0.90, "f1[Sports]", "{out}/cls"),
               Number("log loss", 0.2, "log_loss", "{out}/cls"),
               Number("BLEU", 20.0, "bleu-4", "{out}/missing")]
    scored = score_numbers(numbers, lambda report: Path(report.format(out=tmp_path)), tiny=False)
    accuracy, sports, log_loss, missing = scored
    assert accuracy == {"name": "accuracy", "metric": "accuracy", "published": 95.43, "unit": "%", "approx": False,
                        "run": 95.43, "ci95": [93.0, 97.0], "n": 200, "report_folder": str(folder),
                        "verdict": "reproduced"}
    assert accuracy["run"] == 95.43 and accuracy["ci95"] == [93.0, 97.0] and accuracy["n"] == 200
    assert accuracy["verdict"] == "reproduced" and accuracy["report_folder"] == str(folder)
    assert sports["run"] == 0.99 and sports["ci95"] == [0.98, 1.0]
    assert sports["verdict"] == "not reproduced: run +0.09 (the report's number is below the interval)"
    assert log_loss["run"] == 0.21 and log_loss["ci95"] is None and log_loss["verdict"] == "not measured"
    assert missing["run"] is None and missing["n"] is None and missing["verdict"] == "not measured"


def test_the_hardware_line_counts_each_kind_of_card() -> None:
    assert hardware_line(["NVIDIA H200"] * 8, 192) == "8 x NVIDIA H200"
    assert hardware_line(["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB", "Tesla T4"], 8) == \
        "2 x NVIDIA A100-SXM4-40GB, 1 x Tesla T4"
    assert hardware_line([], 2) == "CPU only (2 cores)"


def test_the_recipes_of_a_chain_in_order_of_first_use_the_real_name_for_a_tiny_copy(tmp_path: Path) -> None:
    tiny_copy = tmp_path / "out" / YELP
    steps = [Step("check", ["python", "scripts/check_recipes.py", "recipes/agnews_predict.yaml", YELP,
                            "recipes/agnews_predict.yaml", "recipes/no_such_recipe.yaml", "data/agnews.yaml"]),
             Step("train", ["python", "scripts/train_classifier.py", str(tiny_copy), "do_train=true"],
                  recipe=tiny_copy, source_recipe=YELP),
             Step("predict", ["llamafactory-cli", "train", str(tmp_path / "out/recipes/yelp5_lora.yaml")],
                  recipe=tmp_path / "out/recipes/yelp5_lora.yaml", source_recipe="recipes/yelp5_lora.yaml"),
             Step("sweep", ["x", str(tiny_copy), "recipes/yelp5_predict.yaml"], recipe=tiny_copy,
                  source_recipe=YELP)]  # a step naming a second recipe beside the one it runs
    assert chain_recipes(steps) == ["recipes/agnews_predict.yaml", YELP, "recipes/yelp5_lora.yaml",
                                    "recipes/yelp5_predict.yaml"]
    assert chain_recipes([]) == []


def plan_file(path: Path, recipe: str, seq: int | None) -> Path:
    """A plan.json as the planner writes it (the fields the card reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    plan = {"recipe": recipe, "report_time": {"planned_hours": 0.2, "report_hours": 0.21}}
    if seq is not None:
        plan["shape"] = {"seq": seq, "batch": 16}
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path


def test_each_recipes_report_time_beside_its_plan(tmp_path: Path) -> None:
    timed = {"minutes": 12.7, "said": "section 8.6"}
    facts = {YELP: Facts(tmp_path, time=timed), "recipes/yelp5_lora.yaml": Facts(tmp_path),
             "recipes/agnews_full.yaml": Facts(tmp_path, time={"hours": 3})}
    steps = [Step("plan", ["plan"], outputs=[plan_file(tmp_path / "a" / "plan.json", YELP, 256),
                                             tmp_path / "a" / "plan.md"]),
             Step("plan2", ["plan"], outputs=[tmp_path / "never" / "plan.json"]),  # not written: no plan
             Step("other", ["x"], outputs=[plan_file(tmp_path / "b" / "notes.json", "recipes/agnews_full.yaml", 9)])]
    assert report_times(facts, steps) == {
        YELP: {"report": timed, "plan": {"planned_hours": 0.2, "report_hours": 0.21}, "seq": 256},
        "recipes/agnews_full.yaml": {"report": {"hours": 3}, "plan": None, "seq": None}}
    no_shape = [Step("plan", ["plan"], outputs=[plan_file(tmp_path / "c" / "plan.json", YELP, None)])]
    assert report_times({YELP: Facts(tmp_path, time=timed)}, no_shape)[YELP]["seq"] is None


def yelp_steps(out: Path) -> list[Step]:
    plan = plan_file(out / "plan" / "yelp5_bert_lora" / "plan.json", YELP, 256)
    return [Step("plan", ["python", "scripts/plan.py", YELP, "--out", str(plan.parent)], outputs=[plan]),
            Step("train", ["python", "scripts/train_classifier.py", YELP], recipe=Path(YELP), source_recipe=YELP)]


def test_the_card_of_a_real_run_cites_the_chain_its_recipes_and_this_machine(tmp_path: Path) -> None:
    out = tmp_path / "out"
    untuned = out / "reports" / "untuned"
    untuned.mkdir(parents=True)
    (untuned / "classify_report.json").write_text(json.dumps({
        "n": 500, "accuracy": 0.19, "macro": {"precision": 0.1, "recall": 0.2, "f1": 0.05}, "per_class": {},
        "ci": {"accuracy": [0.16, 0.22], "macro_f1": [0.04, 0.06]}}), encoding="utf-8")
    state = {"steps": {"plan": {"seconds": 1.56}, "train": {"seconds": 10.2}, "report": {}}}
    card = build_card(Layout(load_chain("yelp5"), out, tiny=False), yelp_steps(out), state)
    chain_file = yaml.safe_load(Path("recipes/reproduce/yelp5.yaml").read_text(encoding="utf-8"))
    assert card["first_line"] == ("Reproduction of Yelp-5 bert-base-uncased LoRA against the untuned model: the "
                                  "report's numbers beside this run's, with 95% intervals.")
    assert (card["report"], card["title"], card["tiny"]) == ("yelp5", chain_file["title"], False)
    assert (card["source"], card["report_file"]) == ("《模型训练与微调说明（train.md）》", chain_file["report"])
    assert [(n["name"], n["run"], n["ci95"], n["verdict"]) for n in card["numbers"]] == [
        ("untuned accuracy", 0.19, [0.16, 0.22], "reproduced"),
        ("untuned macro-F1", 0.05, [0.04, 0.06], "not reproduced: run -0.0123 (the report's number is above the "
                                                 "interval)"),
        ("LoRA accuracy", None, None, "not measured"), ("LoRA macro-F1", None, None, "not measured")]
    assert card["interval"] == {"level": 0.95, "resamples": 1000, "seed": 0,
                                "method": "percentile bootstrap of rows, as each report wrote it"}
    assert card["differences"] == {"chain": chain_file["differences"],
                                   YELP: chain_file["recipes"][YELP]["differences"]}
    assert card["hardware"] == {"report": [chain_file["recipes"][YELP]["hardware"]], "run": this_machine()}
    assert card["time"] == {"steps_seconds": {"plan": 1.56, "train": 10.2, "report": 0.0}, "total_seconds": 11.8,
                            "report": {YELP: {"report": chain_file["recipes"][YELP]["time"],
                                              "plan": {"planned_hours": 0.2, "report_hours": 0.21}, "seq": 256}}}
    packages = ("torch", "transformers", "llamafactory", "peft", "deepspeed", "datasets", "scikit-learn")
    assert card["versions"] == {"python": platform.python_version(),
                                **{name: metadata.version(name) for name in packages}}
    assert card["wandb_group"] == "reproduce-yelp5"


def this_machine() -> str:
    """The line a card should give for this machine, from torch and os directly."""
    import torch

    if not torch.cuda.is_available():
        return f"CPU only ({os.cpu_count()} cores)"
    return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"


def test_the_card_of_a_tiny_run_gives_no_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    card = build_card(Layout(load_chain("yelp5"), out, tiny=True), [], {})
    assert card["first_line"] == (f"Tiny run: a tiny model on small local data ({out}/data, not the report's), to "
                                  "check that the chain works end to end. "
                                  "Its numbers say nothing about the report and get no verdicts.")
    assert card["tiny"] is True and card["wandb_group"] == "reproduce-yelp5-tiny"
    assert {n["verdict"] for n in card["numbers"]} == {"no verdict (tiny run)"}
    assert card["time"] == {"steps_seconds": {}, "total_seconds": 0.0, "report": {}}
    assert card["hardware"]["report"] == [] and list(card["differences"]) == ["chain"]


def test_a_gpu_machine_is_named_by_its_cards(monkeypatch: pytest.MonkeyPatch) -> None:
    """What torch reports of an 8-GPU machine (no GPU here: torch.cuda's three answers stand in for one)."""
    import torch

    from recipekit.reproduce.card import run_hardware

    names = ["NVIDIA H200"] * 7 + ["NVIDIA H100 80GB HBM3"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(names))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: names[index])
    assert run_hardware() == "7 x NVIDIA H200, 1 x NVIDIA H100 80GB HBM3"


def test_a_number_whose_report_folder_has_an_unknown_placeholder_names_it(tmp_path: Path) -> None:
    chain = tmp_path / "mine.yaml"
    chain.write_text("report: r.txt\ntitle: t\nsteps:\n  - {name: a, run: x}\nnumbers:\n"
                     "  - {name: acc, published: 0.5, metric: accuracy, report: '{outt}/reports'}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        build_card(Layout(load_chain(str(chain)), tmp_path / "out", tiny=False), [], {})
    assert str(caught.value).endswith("step numbers: unknown placeholder {outt} (known: {out}, {fixture:DATASET} in a "
                                      "tiny command)")


def contamination_steps(out: Path) -> list[Step]:
    """A training step and a contamination check that found 3 of yelp5_val's 500 rows in yelp5."""
    checked = out / "contamination" / "contamination.json"
    checked.parent.mkdir(parents=True)
    counts = {"exact": {"scored_rows": 2, "training_rows": 2}, "ngram": {"scored_rows": 3, "training_rows": 4},
              "near": {"scored_rows": 0, "training_rows": 0}}
    checked.write_text(json.dumps({"settings": {"fields": "prompt"}, "pairs": [
        {"training": "yelp5", "scored": "yelp5_val", "scored_rows": 500, "methods": counts,
         "any": {"scored_rows": 3, "training_rows": 4}, "scored_ids": ["line 4", "line 9", "line 30"]},
        {"training": "yelp5", "scored": "other_val", "scored_rows": 10, "methods": counts,
         "any": {"scored_rows": 1, "training_rows": 1}, "scored_ids": ["line 1"]}]}), encoding="utf-8")
    return [Step("train", ["python", "scripts/train_classifier.py", YELP], recipe=Path(YELP), source_recipe=YELP),
            Step("contamination", ["python", "scripts/check_contamination.py", YELP], outputs=[checked])]


def test_each_number_carries_the_contamination_of_its_set(tmp_path: Path) -> None:
    from recipekit.report.card import render_markdown

    out = tmp_path / "out"
    steps = contamination_steps(out)
    checked = out / "contamination" / "contamination.json"
    card = build_card(Layout(load_chain("yelp5"), out, tiny=False), steps, {})
    assert card["contamination"]["file"] == str(checked)
    for number in card["numbers"]:  # every yelp5 number is scored on yelp5_val
        assert number["contamination"] == {"set": "yelp5_val", "rows": 500, "found": 3,
                                           "by_training_set": {"yelp5": {"exact": 2, "ngram": 3, "near": 0}}}
    markdown = render_markdown(card)
    assert "| in training | verdict |" in markdown
    assert "| 3 of 500 | not measured; scored on yelp5_val, 3 of whose rows are in the training data |" in markdown
    bare = build_card(Layout(load_chain("yelp5"), tmp_path / "none", tiny=False), steps[:1], {})
    assert bare["contamination"] is None and "no contamination check ran" in render_markdown(bare)


def test_a_tiny_cards_rows_scored_and_rows_in_training_count_the_same_set(tmp_path: Path) -> None:
    """A tiny run scores 16 of yelp5_val's 500 rows; the check counts 3 of the 500 in training: both say of 500."""
    from recipekit.report.card import render_markdown

    out = tmp_path / "out"
    steps = contamination_steps(out)
    untuned = out / "reports" / "untuned"
    untuned.mkdir(parents=True)
    (untuned / "classify_report.json").write_text(json.dumps({
        "n": 16, "accuracy": 0.25, "macro": {"precision": 0.1, "recall": 0.2, "f1": 0.08}, "per_class": {},
        "ci": {"accuracy": [0.06, 0.5]}}), encoding="utf-8")
    markdown = render_markdown(build_card(Layout(load_chain("yelp5"), out, tiny=True), steps, {}))
    rows = {line.split(" | ")[0]: line.split(" | ")[4:6] for line in markdown.splitlines() if line.startswith("| ")}
    assert rows["| number"] == ["rows scored", "in training"]
    assert rows["| untuned accuracy"] == ["16 of 500", "3 of 500"] and rows["| LoRA accuracy"] == ["-", "3 of 500"]
    assert ("Rows scored: the scored set's rows this run scored (of all the set's rows, when it scored fewer, as a "
            "tiny run does). In training: the set's rows, of all of them, found in the run's training sets") in markdown
