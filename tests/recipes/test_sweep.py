"""scripts/sweep.py and scripts/compare_runs.py: the grid, its commands, resume, the table and the plots."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from conftest import AGNEWS_LABELS, agnews_rows, run_cli, write_jsonl, write_original_csv

from recipekit.errors import InputError
from recipekit.recipes.sweep import Point, grid, parse_axis, point_metrics, point_steps, slug
from recipekit.steps import Step

LABELS = ["1: World", "2: Sports", "3: Business", "4: Sci/Tech"]


def test_axes_and_grid() -> None:
    assert parse_axis("learning_rate=1e-4, 2e-5").values == ["1e-4", "2e-5"]
    assert parse_axis('--instruction=["Classify, please.", "Label it."]').values == ["Classify, please.", "Label it."]
    points = grid([parse_axis("a=1,2"), parse_axis("b=x,y,z")])
    assert [p.overrides for p in points][:2] == [(("a", "1"), ("b", "x")), (("a", "1"), ("b", "y"))]
    assert len(points) == 6 and len({p.name for p in points}) == 6
    assert parse_axis("--instruction=a").converter_flag and not parse_axis("-x=1").converter_flag
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
    assert slug("XLM-R base X") == "XLM-R_base_X"  # letters at either end stay, whatever they are
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


CLI = str(Path(sys.executable).with_name("llamafactory-cli"))


def recipe_file(path: Path, header: str = "", **values: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return path


def train_recipe(tmp_path: Path, header: str = "", **changes: object) -> Path:
    values = {"model_name_or_path": "org/model", "stage": "sft", "do_train": True, "finetuning_type": "lora",
              "dataset": "agnews, extra", "dataset_dir": str(tmp_path / "data"), "template": "default",
              "output_dir": str(tmp_path / "saves"), "report_to": "none", **changes}
    return recipe_file(tmp_path / "train.yaml", header, **values)


def predict_recipe(tmp_path: Path, **changes: object) -> Path:
    values = {"model_name_or_path": "org/model", "stage": "sft", "do_predict": True, "finetuning_type": "lora",
              "eval_dataset": "agnews_val", "dataset_dir": str(tmp_path / "data"), "template": "default",
              "output_dir": str(tmp_path / "pred"), "predict_with_generate": True, "report_to": "none", **changes}
    return recipe_file(tmp_path / "predict.yaml", **values)


def test_a_training_points_one_train_step_and_its_environment(tmp_path: Path) -> None:
    from recipekit.progress import TRAINER_LOG
    from recipekit.recipes.reading import load_recipe

    path = train_recipe(tmp_path)
    recipe, out, data = load_recipe(path), tmp_path / "sweep", tmp_path / "data"
    point = grid([parse_axis("learning_rate=1e-4"), parse_axis("lora_rank=8")])[0]
    [train] = point_steps(point, recipe, out, "run")
    folder = out / "p00_learningrate-1e-4_lorarank-8" / "train"
    assert train.name == "train"
    assert train.command == [CLI, "train", str(path), "learning_rate=1e-4", "lora_rank=8", f"output_dir={folder}",
                             "run_name=run-p00_learningrate-1e-4_lorarank-8"]
    assert train.env == {"WANDB_RUN_GROUP": "run"}
    assert train.inputs == [path, data / "dataset_info.json", data / "agnews.jsonl", data / "extra.jsonl"]
    assert train.outputs == [folder / "trainer_state.json"] and train.progress == folder / TRAINER_LOG
    [on_gpus] = point_steps(point, recipe, out, "run", gpus=4)
    assert on_gpus.env == {"WANDB_RUN_GROUP": "run", "FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "4"}
    launched = load_recipe(train_recipe(tmp_path, "# Launch:\n#   FORCE_TORCHRUN=1 llamafactory-cli train x.yaml\n"))
    [torchrun] = point_steps(point, launched, out, "run")
    assert torchrun.env == {"WANDB_RUN_GROUP": "run", "FORCE_TORCHRUN": "1"}  # as the recipe's launch line says


def test_a_converter_flag_point_converts_its_own_copy_first(tmp_path: Path) -> None:
    from recipekit.recipes.reading import load_recipe

    data, out = tmp_path / "data", tmp_path / "sweep"
    recipe = load_recipe(train_recipe(tmp_path, dataset="agnews", eval_dataset="agnews_val"))
    point = grid([parse_axis("--instruction=Say it."), parse_axis("learning_rate=1e-4"), parse_axis("--seed=3")])[0]
    copy = f"agnews_{point.name}"
    convert, train = point_steps(point, recipe, out, "g", convert_args="--input 'raw dir/x.csv' --val-size 5")
    assert convert.name == "convert"
    assert convert.command == [sys.executable, "converters/agnews.py", "--input", "raw dir/x.csv", "--val-size", "5",
                               "--instruction", "Say it.", "--seed", "3", "--name", copy, "--data-dir", str(data)]
    assert convert.outputs == [data / f"{copy}.jsonl"] and convert.env == {}
    assert train.command[3:6] == ["learning_rate=1e-4", f"dataset={copy}", f"eval_dataset={copy}_val"]
    assert train.inputs == [recipe.path, data / "dataset_info.json", data / f"{copy}.jsonl"]
    no_eval = load_recipe(train_recipe(tmp_path, dataset="agnews"))
    convert, train = point_steps(point, no_eval, out, "g")
    assert convert.command == [sys.executable, "converters/agnews.py", "--instruction", "Say it.", "--seed", "3",
                               "--name", copy, "--data-dir", str(data)]  # no converter arguments given: none added
    assert train.command[3:5] == ["learning_rate=1e-4", f"dataset={copy}"] and "eval_dataset" not in train.shell()
    unknown = load_recipe(train_recipe(tmp_path, dataset="mine,agnews"))
    with pytest.raises(InputError) as caught:
        point_steps(point, unknown, out, "g")
    assert caught.value.message == "no converter known for dataset 'mine': converter flags can't be swept"


def test_predict_and_report_steps_of_a_point(tmp_path: Path) -> None:
    from recipekit.progress import TRAINER_LOG
    from recipekit.recipes.reading import load_recipe

    recipe, out = load_recipe(train_recipe(tmp_path)), tmp_path / "sweep"
    predict = predict_recipe(tmp_path)
    point = grid([parse_axis("learning_rate=1e-4")])[0]
    folder = out / point.name
    _, pred, report = point_steps(point, recipe, out, "g", predict=str(predict), predict_override=["a=1", "b=2"],
                                  report="classify", labels="x,y")
    assert pred.name == "predict"
    assert pred.command == [CLI, "train", str(predict), f"adapter_name_or_path={folder / 'train'}",
                            f"output_dir={folder / 'predict'}", "a=1", "b=2"]
    assert pred.inputs == [predict, folder / "train" / "trainer_state.json"]
    assert pred.outputs == [folder / "predict" / "generated_predictions.jsonl"]
    assert pred.progress == folder / "predict" / TRAINER_LOG and pred.env == {}
    predictions = folder / "predict" / "generated_predictions.jsonl"
    assert report.name == "report"
    assert report.command == [sys.executable, "eval/classify_report.py", str(predictions), "--labels", "x,y",
                              "--out", str(folder / "report")]
    assert report.inputs == [predictions] and report.outputs == [folder / "report" / "classify_report.json"]
    full = load_recipe(train_recipe(tmp_path, finetuning_type="full"))
    _, pred, report = point_steps(point, full, out, "g", predict=str(predict), report="gen", labels="x,y")
    assert pred.command[3] == f"model_name_or_path={folder / 'train'}"  # whole weights: the model itself
    assert report.command == [sys.executable, "eval/gen_report.py", str(predictions), "--out",
                              str(folder / "report")]  # labels go to a classify report only
    assert report.outputs == [folder / "report" / "gen_report.json"]
    freeze = load_recipe(train_recipe(tmp_path, finetuning_type="freeze"))
    _, pred = point_steps(point, freeze, out, "g", predict=str(predict))
    assert pred.command[3] == f"model_name_or_path={folder / 'train'}"  # freeze tuning saves whole weights
    _, _, report = point_steps(point, full, out, "g", predict=str(predict), report="classify")
    assert "--labels" not in report.command
    copying = grid([parse_axis("--instruction=Go.")])[0]
    agnews = load_recipe(train_recipe(tmp_path, dataset="agnews"))
    _, _, pred = point_steps(copying, agnews, out, "g", predict=str(predict))
    assert pred.command[5] == f"eval_dataset=agnews_{copying.name}_val"  # the point's own held-out copy
    no_eval = predict_recipe(tmp_path, eval_dataset=None, predict_dataset="agnews_val")
    _, _, pred = point_steps(copying, agnews, out, "g", predict=str(no_eval))
    assert not any(part.startswith("eval_dataset=") for part in pred.command)


def test_the_table_has_a_row_per_point_and_the_headline_metrics_found(tmp_path: Path) -> None:
    from recipekit.recipes.sweep import HEADLINE, points_table

    points = grid([parse_axis("lr=1,2")])
    write_json(tmp_path / points[1].name / "train" / "trainer_state.json",
               {"log_history": [{"eval_loss": 0.5, "step": 3}, {"loss": 0.25, "step": 3}]})
    write_json(tmp_path / points[0].name / "report" / "classify_report.json", {"accuracy": 0.5, "macro": {"f1": 0.4}})
    rows, metrics = points_table(points, tmp_path)
    assert rows == [{"point": "p00_lr-1", "lr": "1", "accuracy": 0.5, "macro_f1": 0.4},
                    {"point": "p01_lr-2", "lr": "2", "final_train_loss": 0.25, "final_eval_loss": 0.5, "steps": 3}]
    assert metrics == ["accuracy", "macro_f1", "final_eval_loss", "final_train_loss"]  # in HEADLINE's order
    assert HEADLINE == ("accuracy", "macro_f1", "log_loss", "lf_bleu-4", "lf_rouge-l", "final_eval_loss",
                        "final_train_loss")
    assert points_table(points[:1], tmp_path / "none") == ([{"point": "p00_lr-1", "lr": "1"}], [])


def child(code: str, outputs: list[Path], name: str = "train") -> Step:
    return Step(name, [sys.executable, "-c", code], outputs=outputs)


def test_a_step_runs_once_and_a_failure_names_its_log(tmp_path: Path) -> None:
    from recipekit.recipes.sweep import run_step

    point = grid([parse_axis("k=v")])[0]
    made = tmp_path / "made.txt"
    step = child(f"open({str(made)!r}, 'w').write('x')", [made])
    said = run_step(step, point, tmp_path)
    assert re.fullmatch(r"done in \d+\.\d s", said) and made.read_text() == "x"
    assert (tmp_path / "p00_k-v" / "logs" / "train.log").is_file()
    assert run_step(child("raise SystemExit(5)", [made]), point, tmp_path) == "skipped (done)"  # its output is there
    failing = child("import sys; print('error: the data is gone', file=sys.stderr); sys.exit(3)",
                    [tmp_path / "never"], name="predict")
    with pytest.raises(SystemExit) as stopped:
        run_step(failing, point, tmp_path)
    log = tmp_path / "p00_k-v" / "logs" / "predict.log"
    assert stopped.value.code == f"error: p00_k-v: step predict failed (exit 3): the data is gone; log: {log}"


def sweep_main(argv: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, object, str, str]:
    from conftest import command_module

    try:
        result, code = command_module("sweep").main([str(a) for a in argv]), 0
    except SystemExit as exc:
        result, code = None, exc.code
    said = capsys.readouterr()
    return code, result, said.out, said.err


def test_unknown_double_dash_tokens_with_a_value_are_converter_axes(capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import command_module

    parse = command_module("sweep").parse_arguments
    args, flags = parse(["r.yaml", "lr=1,2", "--label-names=a,b", "--labels", "x", "--seed=1,2"])
    assert flags == ["--label-names=a,b", "--seed=1,2"]
    assert (args.recipe, args.axes, args.labels) == ("r.yaml", ["lr=1,2"], "x")
    args, flags = parse(["r.yaml", "--label=a,b"])
    assert (flags, args.labels) == (["--label=a,b"], None)  # a converter's flag, not an abbreviation of --labels
    # both kinds of axes in any order: a recipe field after a converter flag is still an axis, in its place
    args, flags = parse(["r.yaml", "--seed=1", "lora_rank=4,8", "--dry-run", "lr=1,2"])
    assert (args.axes, flags, args.dry_run) == (["lora_rank=4,8", "lr=1,2"], ["--seed=1"], True)
    for argv, strays in ((["r.yaml", "--seed=1", "stray"], "stray"), (["r.yaml", "--seed", "1"], "--seed 1")):
        with pytest.raises(SystemExit):
            parse(argv)
        assert f": unrecognized arguments: {strays} (see --help)" in capsys.readouterr().err
    for argv, strays in ((["r.yaml", "--instruction"], "--instruction"), (["r.yaml", "-x=1", "--y"], "-x=1 --y")):
        with pytest.raises(SystemExit) as stopped:
            parse(argv)
        assert stopped.value.code == 2
        assert f": unrecognized arguments: {strays} (see --help)" in capsys.readouterr().err


def test_what_a_sweep_refuses_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))  # the default folder, were anything run: under tmp_path
    predict = predict_recipe(tmp_path)
    code, _, _, err = sweep_main([predict, "lr=1"], capsys)
    assert (code, err) == (2, f"error: {predict}: sweep a training recipe (do_train: true); predict recipes go to "
                              "--predict\n")
    evaluate = recipe_file(tmp_path / "eval.yaml", model_name_or_path="org/m", stage="sft", do_eval=True,
                           finetuning_type="lora", eval_dataset="x", template="default", output_dir="o")
    code, _, _, err = sweep_main([evaluate, "lr=1"], capsys)
    assert (code, err) == (2, f"error: {evaluate}: sweep a training recipe (do_train: true); predict recipes go to "
                              "--predict\n")
    train = train_recipe(tmp_path)
    code, _, _, err = sweep_main([train, "learning_rate=1e-4", "--report", "gen"], capsys)
    assert (code, err) == (2, "error: --report scores predictions: give --predict RECIPE too\n")
    code, _, _, err = sweep_main([train], capsys)
    assert (code, err) == (2, "error: name at least one axis to sweep, e.g. learning_rate=1e-4,2e-5\n")
    code, _, out, err = sweep_main([train, "learning_rate=1e-4", "per_device_train_batch_size=2,0"], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {train}: point p01_learningrate-1e-4_perdevicetra-0 (learning_rate=1e-4 "
                          "per_device_train_batch_size=0): ") and "per_device_train_batch_size" in err[120:]
    assert not (tmp_path / "outputs").exists()  # the default folder outputs/sweeps/train was never made


def test_a_dry_run_prints_every_points_commands_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))  # the default folder: under tmp_path
    train, out = train_recipe(tmp_path), tmp_path / "sweep"
    code, result, said, _ = sweep_main([train, "learning_rate=1e-4,2e-5", "lora_rank=8", "--out", out, "--dry-run",
                                        "--name", "lr"], capsys)
    assert code == 0
    names = ["p00_learningrate-1e-4_lorarank-8", "p01_learningrate-2e-5_lorarank-8"]
    assert result["points"] == names and list(result["commands"]) == names
    first = (f"WANDB_RUN_GROUP=lr {CLI} train {train} learning_rate=1e-4 lora_rank=8 "
             f"output_dir={out / names[0] / 'train'} run_name=lr-{names[0]}")
    assert result["commands"][names[0]] == [first]
    assert said.splitlines() == [f"sweep lr: 2 point(s) of {train} in {out} (wandb group lr)",
                                 f"[{names[0]}] learning_rate=1e-4 lora_rank=8", f"  {first}",
                                 f"[{names[1]}] learning_rate=2e-5 lora_rank=8",
                                 f"  {result['commands'][names[1]][0]}"]
    assert not out.exists()
    code, result, said, _ = sweep_main([train, "learning_rate=1e-4", "--dry-run", "--gpus", "2"], capsys)
    default = tmp_path / "outputs" / "sweeps" / "train"
    assert said.splitlines()[0] == f"sweep train-sweep: 1 point(s) of {train} in {default} " \
                                   "(wandb group train-sweep)"  # the default name and folder: the recipe's stem
    assert result["commands"]["p00_learningrate-1e-4"][0].startswith(
        "WANDB_RUN_GROUP=train-sweep FORCE_TORCHRUN=1 NPROC_PER_NODE=2 ")
    command = result["commands"]["p00_learningrate-1e-4"][0]
    assert f"output_dir={default}/p00_learningrate-1e-4/train" in command
    assert not (tmp_path / "outputs").exists()
    code, result, said, _ = sweep_main([train, "lora_rank=4", "--seed=1", "--dry-run"], capsys)
    assert code == 0, _
    assert result["points"] == ["p00_lorarank-4_seed-1"]  # recipe fields first, then converter flags
    assert said.splitlines()[1] == "[p00_lorarank-4_seed-1] lora_rank=4 --seed=1"
    assert said.splitlines()[2].startswith(f"  {sys.executable} converters/agnews.py --seed 1 --name agnews_p00_")


def test_paths_typed_outside_the_root_reach_the_steps_as_the_root_reads_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    root, here = tmp_path / "repo", tmp_path / "here"
    shared = train_recipe(root / "recipes", dataset="agnews")  # a recipe of the repository, typed from elsewhere
    train_recipe(here, dataset="agnews")
    predict_recipe(here)
    (here / "raw.csv").write_text("label,title,text\n", encoding="utf-8")
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(root))
    monkeypatch.chdir(here)  # every path below is typed relative to here; the steps run from root
    code, result, _, err = sweep_main(["train.yaml", "--instruction=Go.", "--out", "runs", "--predict", "predict.yaml",
                                       "--report", "classify", "--convert-args", "--input raw.csv", "--name", "s",
                                       "--dry-run"], capsys)
    assert code == 0, err
    [name] = result["points"]
    assert name == "p00_instruction-Go"
    folder, copy = here / "runs" / name, "agnews_p00_instruction-Go"
    expected = [[sys.executable, "converters/agnews.py", "--input", str(here / "raw.csv"), "--instruction", "Go.",
                 "--name", copy, "--data-dir", str(here / "data")],
                ["WANDB_RUN_GROUP=s", CLI, "train", str(here / "train.yaml"), f"dataset={copy}",
                 f"output_dir={folder / 'train'}", f"run_name=s-{name}"],
                [CLI, "train", str(here / "predict.yaml"), f"adapter_name_or_path={folder / 'train'}",
                 f"output_dir={folder / 'predict'}", f"eval_dataset={copy}_val"],
                [sys.executable, "eval/classify_report.py", str(folder / "predict" / "generated_predictions.jsonl"),
                 "--out", str(folder / "report")]]
    assert [shlex.split(line) for line in result["commands"][name]] == expected
    code, result, said, err = sweep_main(["recipes/train.yaml", "lora_rank=4", "--convert-args=--input=raw.csv",
                                          "--instruction=Go.", "--dry-run"], capsys)
    assert code == 0, err  # a recipe found under the root only, its default folder under the root
    default = root / "outputs" / "sweeps" / "train"
    assert said.splitlines()[0] == f"sweep train-sweep: 1 point(s) of recipes/train.yaml in {default} " \
                                   "(wandb group train-sweep)"
    convert, train = (shlex.split(line) for line in result["commands"]["p00_lorarank-4_instruction-Go"])
    assert convert[2] == f"--input={here / 'raw.csv'}"
    assert train[3:4] == [str(shared)] and f"output_dir={default}/p00_lorarank-4_instruction-Go/train" in train
    assert not (root / "outputs").exists() and not (here / "runs").exists()


def test_a_finished_sweep_is_tabulated_and_plotted_per_swept_axis(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    train, out = train_recipe(tmp_path), tmp_path / "sweep"
    names = ["p00_learningrate-1e-4_lorarank-8", "p01_learningrate-2e-5_lorarank-8"]
    write_json(out / names[0] / "train" / "trainer_state.json",
               {"log_history": [{"loss": 2.0, "step": 1}, {"loss": 1.25, "step": 2}, {"eval_loss": 1.5, "step": 2}]})
    write_json(out / names[1] / "train" / "trainer_state.json", {"log_history": [{"loss": 0.5, "step": 4}]})
    code, result, said, _ = sweep_main([train, "learning_rate=1e-4,2e-5", "lora_rank=8", "--out", out, "--name", "s"],
                                       capsys)
    assert code == 0
    assert said.count("  train: skipped (done)") == 2
    axes = {"learning_rate": ["1e-4", "2e-5"], "lora_rank": ["8"]}
    assert result == {"recipe": str(train), "name": "s", "axes": axes,
                      "metrics": ["final_eval_loss", "final_train_loss"],
                      "points": [{"point": names[0], "learning_rate": "1e-4", "lora_rank": "8",
                                  "final_train_loss": 1.25, "final_eval_loss": 1.5, "steps": 2},
                                 {"point": names[1], "learning_rate": "2e-5", "lora_rank": "8",
                                  "final_train_loss": 0.5, "steps": 4}]}
    assert json.loads((out / "sweep.json").read_text(encoding="utf-8")) == result
    markdown = ("# Sweep s\n\n| point | learning_rate | lora_rank | final_eval_loss | final_train_loss |\n"
                "|---|---|---|---|---|\n"
                f"| {names[0]} | 1e-4 | 8 | 1.5000 | 1.2500 |\n| {names[1]} | 2e-5 | 8 | - | 0.5000 |\n")
    assert (out / "sweep.md").read_text(encoding="utf-8") == markdown
    assert markdown in said
    assert (out / "sweep_learning_rate.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "sweep_lora_rank.png").exists()  # one value: nothing to draw
    assert said.splitlines()[-1] == f"wrote {out / 'sweep.json'}, {out / 'sweep.md'}, {out / 'sweep_learning_rate.png'}"


def test_a_sweep_without_metrics_writes_its_table_and_no_plot(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import command_module

    train, out = train_recipe(tmp_path), tmp_path / "sweep"
    for name in ("p00_lorarank-4", "p01_lorarank-8"):
        write_json(out / name / "train" / "trainer_state.json", {"log_history": []})
    code, result, said, _ = sweep_main([train, "lora_rank=4,8", "--out", out], capsys)
    assert code == 0 and result["metrics"] == []
    assert said.splitlines()[-1] == f"wrote {out / 'sweep.json'}, {out / 'sweep.md'}"
    assert not list(out.glob("*.png"))
    assert command_module("sweep").slug_key("--a/b/c") == "a_b_c" and command_module("sweep").slug_key("lr") == "lr"
