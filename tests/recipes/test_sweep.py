"""scripts/sweep.py and scripts/compare_runs.py: the grid, its commands, resume, the table and the plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import AGNEWS_LABELS, agnews_rows, run_cli, write_jsonl, write_original_csv

from recipekit.errors import InputError
from recipekit.recipes.sweep import Point, grid, parse_axis, point_metrics, slug

LABELS = ["1: World", "2: Sports", "3: Business", "4: Sci/Tech"]


def test_axes_and_grid() -> None:
    assert parse_axis("learning_rate=1e-4, 2e-5").values == ["1e-4", "2e-5"]
    assert parse_axis('--instruction=["Classify, please.", "Label it."]').values == ["Classify, please.", "Label it."]
    points = grid([parse_axis("a=1,2"), parse_axis("b=x,y,z")])
    assert [p.overrides for p in points][:2] == [(("a", "1"), ("b", "x")), (("a", "1"), ("b", "y"))]
    assert len(points) == 6 and len({p.name for p in points}) == 6
    for bad, message in (("lr", "looks like key=v1,v2"), ("lr=1,,2", "empty value"), ("lr=1,1", "repeated")):
        with pytest.raises(InputError, match=message):
            parse_axis(bad)


def test_an_axis_at_its_edges() -> None:
    assert parse_axis(" lr =1e-4").key == "lr"  # the key stripped
    assert parse_axis("template=a=b,c").values == ["a=b", "c"]  # split at the first '=' only
    assert parse_axis("lr=3e-4").values == ["3e-4"]  # one value
    assert parse_axis("n= [1, 2]").values == ["1", "2"]  # a JSON list after spaces, its items as text
    for bad, message in (("=1,2", r"looks like key=v1,v2 \(got '=1,2'\)"), (" =1", "looks like key=v1,v2"),
                         ("lr=", "looks like key=v1,v2"), ("lr= ", "looks like key=v1,v2"),
                         ("lr=1,", r"^lr: empty value in '1,'$"), ("lr=[]", "empty value"),
                         ('lr=["a", ""]', "empty value"), ("lr=[1,", r"^lr: values in \[...\] must be a JSON list"),
                         ('lr=["a", "a"]', r"^lr: a value is repeated")):
        with pytest.raises(InputError, match=message):
            parse_axis(bad)


def test_a_points_name_folder_overrides_and_converter_flags() -> None:
    assert slug("a" * 30) == "a" * 24  # cut at 24 characters
    assert slug("x" * 23 + "/y") == "x" * 23  # the cut leaves a trailing '_': dropped
    assert slug("Label it: now!") == "Label_it_now"
    assert slug("1e-4") == "1e-4" and slug("+0.5") == "+0.5"  # '.', '+' and '-' kept inside
    assert slug("???") == "value" and slug("") == "value"
    point = Point((("--instruction", "Label it."), ("learning_rate", "1e-4"), ("per_device_train_batch_size", "8")), 7)
    assert point.name == "p07_instruction-Label_it_learningrate-1e-4_perdevicetra-8"  # keys: no '-', '_', 12 chars
    assert Point((("a", "1"),), 123).name == "p123_a-1"
    assert point.recipe_overrides() == {"learning_rate": "1e-4", "per_device_train_batch_size": "8"}
    assert point.converter_flags() == ["--instruction", "Label it."]
    single = Point((("-x", "1"), ("--y", "2"), ("--z", "3")), 0)  # one dash: a recipe key
    assert (single.recipe_overrides(), single.converter_flags()) == ({"-x": "1"}, ["--y", "2", "--z", "3"])


def test_the_grid_first_axis_slowest_numbered_from_zero() -> None:
    points = grid([parse_axis("a=1,2"), parse_axis("b=x,y,z")])
    assert [(p.index, p.overrides) for p in points] == [
        (0, (("a", "1"), ("b", "x"))), (1, (("a", "1"), ("b", "y"))), (2, (("a", "1"), ("b", "z"))),
        (3, (("a", "2"), ("b", "x"))), (4, (("a", "2"), ("b", "y"))), (5, (("a", "2"), ("b", "z")))]
    assert [p.name for p in grid([parse_axis("k=v")])] == ["p00_k-v"]
    with pytest.raises(InputError, match=r"^name at least one axis"):
        grid([])
    with pytest.raises(InputError, match=r"^an axis is named twice: a b a$"):
        grid([parse_axis("a=1"), parse_axis("b=1"), parse_axis("a=2")])


def test_a_points_metrics_from_its_reports_and_trainer_state(tmp_path: Path) -> None:
    assert point_metrics(tmp_path / "nothing") == {}
    folder = tmp_path / "p00"
    write_json(folder / "report" / "classify_report.json", {"accuracy": 0.5, "macro": {"f1": 0.25}})
    write_json(folder / "report" / "gen_report.json", {"llamafactory": {"bleu-4": 10.0, "rouge-l": 20, "x": "y"}})
    history = [{"loss": 2.0, "step": 10}, {"eval_loss": 1.5, "step": 10}, {"loss": 1.0, "step": 20},
               {"eval_loss": 1.7, "step": 20}, {"train_runtime": 9.0, "step": 20}, {"loss": 0.5}, {"x": 1, "step": 5}]
    write_json(folder / "train" / "trainer_state.json", {"log_history": history})
    assert point_metrics(folder) == {"accuracy": 0.5, "macro_f1": 0.25, "lf_bleu-4": 10.0, "lf_rouge-l": 20,
                                     "final_train_loss": 0.5, "final_eval_loss": 1.7, "steps": 20}
    write_json(folder / "report" / "classify_report.json", {"accuracy": 1.0, "probabilistic": {"log_loss": 0.1}})
    write_json(folder / "train" / "trainer_state.json", {"log_history": [{"epoch": 1.0}, {"loss": 3.0}]})
    assert point_metrics(folder) == {"accuracy": 1.0, "macro_f1": None, "log_loss": 0.1, "lf_bleu-4": 10.0,
                                     "lf_rouge-l": 20, "final_train_loss": 3.0}


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.integration  # the sweep command
def test_dry_run_prints_the_plain_commands_of_every_point(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    done = run_cli("sweep", "recipes/agnews_full.yaml", "learning_rate=1e-4,2e-5", "--predict",
                   "recipes/agnews_predict.yaml", "--report", "classify", "--labels", AGNEWS_LABELS, "--out", out,
                   "--dry-run", "--gpus", "8")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    train = [line for line in lines if " train recipes/agnews_full.yaml " in line]
    assert len(train) == 2 and all(line.strip().startswith(
        "WANDB_RUN_GROUP=agnews_full-sweep FORCE_TORCHRUN=1 NPROC_PER_NODE=8 ") for line in train)
    assert f"learning_rate=2e-5 output_dir={out}/p01_learningrate-2e-5/train" in train[1]
    assert any(f"agnews_predict.yaml model_name_or_path={out}/p00_learningrate-1e-4/train" in line for line in lines)
    assert any("eval/classify_report.py" in line and f"--out {out}/p01_learningrate-2e-5/report" in line
               for line in lines)
    assert not out.exists()
    prompts = run_cli("sweep", "recipes/yelp5_lora.yaml", '--label-names=["a,b,c,d,e", "v,w,x,y,z"]',
                      "--convert-args", "--input raw.csv --val-size 10", "--predict", "recipes/yelp5_predict.yaml",
                      "--out", out, "--dry-run")
    assert prompts.returncode == 0, prompts.stderr
    assert "converters/yelp.py --input raw.csv --val-size 10 --label-names a,b,c,d,e --name yelp5_p00_" \
           in prompts.stdout
    assert "dataset=yelp5_p00_label-names-a_b_c_d_e eval_dataset=yelp5_p00_label-names-a_b_c_d_e_val" in prompts.stdout
    assert "yelp5_predict.yaml adapter_name_or_path=" in prompts.stdout  # a LoRA run: the adapter is swapped in


def fake_point(folder: Path, correct: int, losses: list[float]) -> None:
    """A finished point in the real formats: trainer_state.json, generated predictions, classify_report."""
    (folder / "train").mkdir(parents=True)
    history = [{"loss": loss, "step": 10 * (i + 1)} for i, loss in enumerate(losses)]
    (folder / "train" / "trainer_state.json").write_text(json.dumps({"log_history": history}), encoding="utf-8")
    rows = [{"prompt": "p", "label": LABELS[i % 4], "predict": LABELS[i % 4] if i < correct else LABELS[(i + 1) % 4]}
            for i in range(8)]
    predictions = write_jsonl(folder / "predict" / "generated_predictions.jsonl", rows)
    assert run_cli("report", "classify", predictions, "--labels", AGNEWS_LABELS, "--out", folder / "report",
                   "--bootstrap", "0").returncode == 0


@pytest.mark.integration  # the sweep command
def test_a_rerun_skips_finished_points_and_tabulates_their_reports(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    fake_point(out / "p00_learningrate-1e-4", 6, [2.0, 1.0])
    fake_point(out / "p01_learningrate-2e-5", 8, [2.0, 0.5])
    done = run_cli("sweep", "recipes/agnews_full.yaml", "learning_rate=1e-4,2e-5", "--predict",
                   "recipes/agnews_predict.yaml", "--report", "classify", "--labels", AGNEWS_LABELS, "--out", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("skipped (done)") == 6
    table = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert [(p["learning_rate"], p["accuracy"], p["final_train_loss"]) for p in table["points"]] == [
        ("1e-4", 0.75, 1.0), ("2e-5", 1.0, 0.5)]
    assert table["metrics"][:2] == ["accuracy", "macro_f1"]
    assert "| p01_learningrate-2e-5 | 2e-5 | 1.0000 |" in (out / "sweep.md").read_text(encoding="utf-8")
    assert (out / "sweep_learning_rate.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.integration  # starts a trainer
def test_a_failed_step_stops_the_sweep_naming_its_log(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    # a template LLaMA-Factory does not have: the recipe parses, the run fails when it builds the template
    done = run_cli("sweep", "recipes/demo/agnews_tiny_sft.yaml", "template=no_such_template", "--out", out)
    assert done.returncode == 1, done.stderr
    log = out / "p00_template-no_such_template" / "logs" / "train.log"
    last = [line.strip() for line in log.read_text(encoding="utf-8").splitlines() if line.strip()][-1]
    assert last.startswith(("OSError", "ValueError"))  # the trainer's own exception, said last in its log
    assert done.stderr.strip() == (f"error: p00_template-no_such_template: step train failed (exit 1): {last}; "
                                   f"log: {log}")


@pytest.mark.integration  # several commands
def test_compare_runs_draws_the_runs_together(tmp_path: Path) -> None:
    folders = []
    for index, (correct, confidence) in enumerate(((4, 0.6), (6, 0.7), (7, 0.9))):
        rows = [{"prompt": "p", "label": LABELS[i % 4],
                 "predict": LABELS[i % 4] if i < correct else LABELS[(i + 1) % 4],
                 "probs": {label: (confidence if label == (LABELS[i % 4] if i < correct else LABELS[(i + 1) % 4])
                                   else (1 - confidence) / 3) for label in LABELS}} for i in range(8)]
        path = write_jsonl(tmp_path / f"v{index}" / "scores.jsonl", rows)
        assert run_cli("report", "classify", path, "--bootstrap", "0").returncode == 0
        folders.append(tmp_path / f"v{index}")
    out = tmp_path / "compare"
    done = run_cli("compare", *folders, "--names", "v1,v8,v17", "--ordered", "--out", out)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "compare_runs.json").read_text(encoding="utf-8"))
    assert [(r["run"], r["accuracy"]) for r in result["runs"]] == [("v1", 0.5), ("v8", 0.75), ("v17", 0.875)]
    assert {"accuracy", "macro_f1", "log_loss"} <= set(result["shared_metrics"])
    for name in ("compare_accuracy.png", "compare_log_loss.png", "compare_acc_vs_logloss.png", "compare_trend.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    assert result["notes"] == [] and "| run | rows | accuracy |" in done.stdout and "| v8 | 8 |" in done.stdout
    assert run_cli("compare", *folders, "--names", "a,b").returncode == 2
    # a run scored on other labels and fewer rows is named, not silently set beside the others
    other = write_jsonl(tmp_path / "w" / "scores.jsonl", [{"prompt": "p", "label": "yes", "predict": "yes"},
                                                          {"prompt": "q", "label": "no", "predict": "yes"}])
    assert run_cli("report", "classify", other, "--bootstrap", "0").returncode == 0
    mixed = run_cli("compare", folders[0], tmp_path / "w", "--out", tmp_path / "mixed")
    assert mixed.returncode == 0
    notes = json.loads((tmp_path / "mixed" / "compare_runs.json").read_text(encoding="utf-8"))["notes"]
    assert notes == [f"the runs were scored on different label sets: v0: {', '.join(LABELS)}; w: no, yes",
                     "the runs were scored on different numbers of rows: v0 8, w 2"]
    assert "**Note:** the runs were scored on different label sets" in mixed.stdout
    gen = write_jsonl(tmp_path / "g" / "generated_predictions.jsonl", [{"prompt": "p", "predict": "a b c",
                                                                          "label": "a b d"}])
    assert run_cli("report", "gen", gen, "--workers", "1").returncode == 0
    alone = run_cli("compare", tmp_path / "g", "--out", tmp_path / "alone")
    runs = json.loads((tmp_path / "alone" / "compare_runs.json").read_text(encoding="utf-8"))["runs"]
    assert "corpus_rouge_jieba_rows" not in runs[0] and {"corpus_bleu", "corpus_rouge1"} <= set(runs[0])
    assert alone.stdout.strip().splitlines()[-1].startswith("wrote ") and not alone.stdout.rstrip().endswith(",")
    missing = run_cli("compare", tmp_path / "nowhere")
    assert missing.returncode == 2 and "no report found" in missing.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_a_tiny_sweep_trains_predicts_and_tabulates_every_point(tmp_path: Path) -> None:
    """Two learning rates of the demo recipe on a tiny model: real LLaMA-Factory runs, then a re-run skips all."""
    raw = write_original_csv(tmp_path / "raw" / "test.csv", agnews_rows(30))
    data = tmp_path / "data"
    assert run_cli("convert", "agnews", "--input", raw, "--data-dir", data, "--val-size", "16").returncode == 0
    model = tmp_path / "model"
    assert run_cli("tiny-model", "--texts", data / "agnews.jsonl", "--out", model, "--vocab-size", "300",
                   "--hidden", "32", "--intermediate", "64", "--layers", "1", "--heads", "2").returncode == 0
    out = tmp_path / "sweep"
    argv = ["sweep", "recipes/demo/agnews_tiny_sft.yaml", "learning_rate=3e-3,1e-2", f"model_name_or_path={model}",
            f"dataset_dir={data}", "max_steps=3", "report_to=none",
            "--predict", "recipes/demo/agnews_tiny_predict.yaml", "--predict-override", f"dataset_dir={data}",
            "--report", "classify", "--labels", AGNEWS_LABELS, "--out", out]
    done = run_cli(*argv)
    assert done.returncode == 0, done.stderr + done.stdout
    table = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert len(table["points"]) == 2 and all(0 <= p["accuracy"] <= 1 and p["steps"] == 3 for p in table["points"])
    again = run_cli(*argv)
    assert again.returncode == 0 and again.stdout.count("skipped (done)") == 6
