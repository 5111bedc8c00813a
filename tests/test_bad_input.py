"""Every script under bad input: exit 2 (130 for Ctrl-C), one line on stderr, no traceback, nothing changed.

The inputs are generated here (encodings, byte-order marks, empty / header-only / truncated files, wrong
columns, paths of the wrong kind, unwritable folders, out-of-range flags, a corrupt registry); every case
runs through `llm-recipes` in this process with the files already there snapshotted before and compared
byte for byte (and by permission bits) after. Ctrl-C is sent to a real conversion at each moment of its work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, agnews_rows, run_cli, write_jsonl, write_original_csv

pytestmark = pytest.mark.integration  # trains tiny models or starts processes

UNWRITABLE = "/sys/llm-recipes-test/out"  # refused even to root
NO_WANDB = {"WANDB_MODE": "", "WANDB_API_KEY": "", "HOME": "/nonexistent-home", "NETRC": "/nonexistent"}


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: its bytes and permission bits."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o7777)
            for p in sorted(root.rglob("*")) if p.is_file()}


def workspace(tmp: Path) -> dict[str, Path]:
    """Good and bad inputs side by side, plus a data folder holding a previous good conversion."""
    paths: dict[str, Path] = {}
    raw = write_original_csv(tmp / "raw" / "train.csv", agnews_rows(10))
    paths["good_csv"] = raw
    data = tmp / "data"
    assert run_cli("convert", "agnews", "--input", raw, "--data-dir", data, "--val-size", "8").returncode == 0
    paths["data"] = data
    text = raw.read_text(encoding="utf-8")
    paths["utf16_nobom"] = tmp / "raw" / "utf16.csv"
    paths["utf16_nobom"].write_bytes(text.encode("utf-16-le"))
    paths["empty"] = tmp / "raw" / "empty.csv"
    paths["empty"].write_bytes(b"")
    paths["header_only"] = tmp / "raw" / "header.csv"
    paths["header_only"].write_text("text,label\n", encoding="utf-8")
    paths["truncated_jsonl"] = tmp / "raw" / "cut.jsonl"
    paths["truncated_jsonl"].write_text('{"text": "a", "label": 0}\n{"text": "b", "lab', encoding="utf-8")
    paths["wrong_columns"] = write_jsonl(tmp / "raw" / "wrong.jsonl",
                                         [{"body": f"x{i}", "cls": i % 2} for i in range(8)])
    paths["bad_labels"] = write_jsonl(tmp / "raw" / "labels.jsonl", [{"text": f"t{i}", "label": 9} for i in range(8)])
    paths["not_json"] = tmp / "raw" / "pred.jsonl"
    paths["not_json"].write_text("{not json\n", encoding="utf-8")
    paths["a_file"] = tmp / "raw" / "plain.txt"
    paths["a_file"].write_text("hello\n", encoding="utf-8")
    paths["folder"] = tmp / "raw"
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    (corrupt / "dataset_info.json").write_text('{"agnews": {"file_name": "agnews.jsonl"', encoding="utf-8")
    (corrupt / "agnews.jsonl").write_text('{"instruction": "old"}\n', encoding="utf-8")
    paths["corrupt"] = corrupt
    preds = [{"prompt": "p", "predict": "a", "label": "a" if i % 2 else "b"} for i in range(6)]
    paths["preds"] = write_jsonl(tmp / "preds" / "generated_predictions.jsonl", preds)
    paths["preds_utf16"] = tmp / "preds" / "utf16.jsonl"
    paths["preds_utf16"].write_bytes(paths["preds"].read_text(encoding="utf-8").encode("utf-16-le"))
    scored = [{"prompt": "p", "predict": "A", "label": "A", "id": i, "probs": {"A": 0.6, "B": 0.3, "tie": 0.1}}
              for i in range(4)]
    paths["scores"] = write_jsonl(tmp / "preds" / "scores.jsonl", scored)
    paths["recipe_not_yaml"] = tmp / "raw" / "bad.yaml"
    paths["recipe_not_yaml"].write_text("stage: [sft\n", encoding="utf-8")
    paths["recipe_twice"] = tmp / "raw" / "twice.yaml"
    paths["recipe_twice"].write_text("stage: sft\nlearning_rate: 1.0e-4\ndo_train: true\nlearning_rate: 1.0e-5\n",
                                     encoding="utf-8")
    shipped = (ROOT / "recipes" / "classifier" / "arena_deberta_v3.yaml").read_text(encoding="utf-8")
    assert "do_train: true" in shipped  # else the case below would measure a real DeBERTa run
    paths["classifier_no_train"] = tmp / "raw" / "classifier" / "arena_predict.yaml"
    paths["classifier_no_train"].parent.mkdir(parents=True, exist_ok=True)
    paths["classifier_no_train"].write_text(shipped.replace("do_train: true", "do_train: false"), encoding="utf-8")
    demo = (ROOT / "recipes" / "demo" / "agnews_tiny_sft.yaml").read_text(encoding="utf-8")
    paths["recipe_latin1"] = tmp / "raw" / "latin1.yaml"
    paths["recipe_latin1"].write_bytes(demo.replace("# CPU demo", "# CPU d\u00e9mo").encode("latin-1"))
    for name, old, new in (("batch_zero", "per_device_train_batch_size: 32", "per_device_train_batch_size: 0"),
                           ("lr_nan", "learning_rate: 3.0e-3", "learning_rate: .nan"),
                           ("no_epochs", "num_train_epochs: 2.5", "num_train_epochs: 0"),
                           ("warmup_above_one", "warmup_ratio: 0.03", "warmup_ratio: 1.5")):
        assert old in demo
        paths[name] = tmp / "raw" / f"{name}.yaml"
        paths[name].write_text(demo.replace(old, new), encoding="utf-8")
    return paths


Case = tuple[str, Callable[[dict[str, Path]], list[object]], dict[str, str]]
CONVERTERS = ("agnews", "yelp", "afqmc", "arena", "tulu", "ultrafeedback")


def converter_cases() -> list[Case]:
    cases: list[Case] = []
    for name in CONVERTERS:
        cases += [
            (f"{name}: missing input", lambda p, n=name: ["convert", n, "--input", p["folder"] / "nope.csv",
                                                          "--data-dir", p["data"]], {}),
            (f"{name}: empty file", lambda p, n=name: ["convert", n, "--input", p["empty"], "--data-dir", p["data"]],
             {}),
            (f"{name}: UTF-16 without BOM", lambda p, n=name: ["convert", n, "--input", p["utf16_nobom"],
                                                               "--data-dir", p["data"]], {}),
            (f"{name}: --val-size -5", lambda p, n=name: ["convert", n, "--input", p["good_csv"], "--val-size", "-5",
                                                          "--data-dir", p["data"]], {}),
            (f"{name}: --max-samples 0", lambda p, n=name: ["convert", n, "--input", p["good_csv"], "--max-samples",
                                                            "0", "--data-dir", p["data"]], {}),
            (f"{name}: negative seed", lambda p, n=name: ["convert", n, "--input", p["good_csv"], "--seed", "-1",
                                                          "--data-dir", p["data"]], {}),
            (f"{name}: data folder is a file", lambda p, n=name: ["convert", n, "--input", p["good_csv"],
                                                                  "--data-dir", p["a_file"]], {}),
        ]
    return [
        *cases,
        ("agnews: --name with a folder", lambda p: ["convert", "agnews", "--input", p["good_csv"], "--name",
                                                    "news/v2", "--data-dir", p["data"]], {}),
        ("agnews: --name outside the data folder", lambda p: ["convert", "agnews", "--input", p["good_csv"], "--name",
                                                              "../../etc/evil", "--data-dir", p["data"]], {}),
        ("generic: --name ..", lambda p: ["convert", "generic", "--input", p["good_csv"], "--name", "..",
                                          "--input-column", "text", "--output-column", "label", "--data-dir",
                                          p["data"]], {}),
        ("agnews: header-only CSV", lambda p: ["convert", "agnews", "--input", p["header_only"], "--data-dir",
                                               p["data"]], {}),
        ("agnews: truncated JSONL, one row", lambda p: ["convert", "agnews", "--input", p["truncated_jsonl"],
                                                        "--data-dir", p["data"], "--val-size", "1"], {}),
        ("agnews: wrong columns", lambda p: ["convert", "agnews", "--input", p["wrong_columns"], "--data-dir",
                                             p["data"]], {}),
        ("agnews: every label out of range", lambda p: ["convert", "agnews", "--input", p["bad_labels"],
                                                        "--data-dir", p["data"]], {}),
        ("agnews: corrupt registry", lambda p: ["convert", "agnews", "--input", p["good_csv"], "--data-dir",
                                                p["corrupt"]], {}),
        ("agnews: unwritable data folder", lambda p: ["convert", "agnews", "--input", p["good_csv"], "--data-dir",
                                                      UNWRITABLE], {}),
        ("agnews: too few rows for the split", lambda p: ["convert", "agnews", "--input", p["good_csv"],
                                                          "--val-size", "39", "--data-dir", p["data"]], {}),
        ("generic: --label-map with semicolons", lambda p: ["convert", "generic", "--input", p["wrong_columns"],
                                                            "--name", "g", "--input-column", "body",
                                                            "--output-column", "cls", "--label-map", "0=no;1=yes",
                                                            "--data-dir", p["data"]], {}),
        ("generic: every label outside --label-map", lambda p: ["convert", "generic", "--input", p["bad_labels"],
                                                                "--name", "agnews", "--input-column", "text",
                                                                "--output-column", "label", "--label-map", "0=a,1=b",
                                                                "--data-dir", p["data"]], {}),
        ("generic: BOM header, wrong column asked", lambda p: ["convert", "generic", "--input", p["header_only"],
                                                               "--name", "agnews", "--input-column", "text",
                                                               "--output-column", "label", "--data-dir", p["data"]],
         {}),
    ]


def eval_and_script_cases() -> list[Case]:
    return [
        ("report classify: missing file", lambda p: ["report", "classify", p["folder"] / "none.jsonl"], {}),
        ("report classify: not JSON", lambda p: ["report", "classify", p["not_json"]], {}),
        ("report classify: UTF-16 without BOM", lambda p: ["report", "classify", p["preds_utf16"]], {}),
        ("report classify: a folder", lambda p: ["report", "classify", p["folder"]], {}),
        ("report classify: --out is a file", lambda p: ["report", "classify", p["preds"], "--out", p["a_file"]], {}),
        ("report classify: unwritable --out", lambda p: ["report", "classify", p["preds"], "--out", UNWRITABLE], {}),
        ("report classify: --bootstrap -1", lambda p: ["report", "classify", p["preds"], "--bootstrap", "-1"], {}),
        ("report classify: --wandb unconfigured", lambda p: ["report", "classify", p["preds"], "--wandb"], NO_WANDB),
        ("report gen: missing file", lambda p: ["report", "gen", p["folder"] / "none.jsonl"], {}),
        ("report gen: --workers 0", lambda p: ["report", "gen", p["preds"], "--workers", "0"], {}),
        ("report gen: --out is a file", lambda p: ["report", "gen", p["preds"], "--out", p["a_file"], "--workers",
                                                   "1"], {}),
        ("report gen: --wandb unconfigured", lambda p: ["report", "gen", p["preds"], "--wandb"], NO_WANDB),
        ("calibrate swap: bad --flip", lambda p: ["calibrate", "swap", "--original", p["scores"], "--swapped",
                                                  p["scores"], "--flip", "A"], {}),
        ("calibrate temperature: UTF-16", lambda p: ["calibrate", "temperature", "--val", p["preds_utf16"],
                                                     "--test", p["scores"]], {}),
        ("calibrate temperature: --ece-bins 0", lambda p: ["calibrate", "temperature", "--val", p["scores"],
                                                           "--test", p["scores"], "--ece-bins", "0"], {}),
        ("submission: bad --columns", lambda p: ["submission", p["scores"], "--columns", "A:x"], {}),
        ("submission: --out is a folder", lambda p: ["submission", p["scores"], "--out", p["folder"]], {}),
        ("score: --batch-size 0", lambda p: ["score", "--model", "m", "--template", "default", "--data",
                                             p["preds"], "--batch-size", "0"], {}),
        ("score: missing --data file", lambda p: ["score", "--model", "m", "--template", "default", "--data",
                                                  p["folder"] / "none.jsonl"], {}),
        ("check data: corrupt registry", lambda p: ["check", "data", "agnews", "--data-dir", p["corrupt"]], {}),
        ("check data: --cutoff-len 0", lambda p: ["check", "data", "agnews", "--cutoff-len", "0"], {}),
        ("check recipes: --gpus 0", lambda p: ["check", "recipes", "--gpus", "0"], {}),
        ("check recipes: missing recipe", lambda p: ["check", "recipes", p["folder"] / "none.yaml"], {}),
        ("check recipes: not YAML", lambda p: ["check", "recipes", p["recipe_not_yaml"]], {}),
        ("check recipes: a key given twice", lambda p: ["check", "recipes", p["recipe_twice"]], {}),
        ("plan --measure: a classifier recipe that does not train",
         lambda p: ["plan", p["classifier_no_train"], "--gpu", "t4", "--measure", "--out", p["folder"] / "m"], {}),
        ("plan --measure: a prediction recipe", lambda p: ["plan", "recipes/agnews_predict.yaml", "--gpu", "t4",
                                                           "--measure", "--out", p["folder"] / "m"], {}),
        ("sweep: an unknown key", lambda p: ["sweep", "recipes/demo/agnews_tiny_sft.yaml", "learning_rat=1e-4,2e-5",
                                             "--dry-run", "--out", p["folder"] / "sw"], {}),
        ("sweep: a value of the wrong type", lambda p: ["sweep", "recipes/demo/agnews_tiny_sft.yaml",
                                                        "learning_rate=1e-4,abc", "--out", p["folder"] / "sw"], {}),
        ("plan: --mfu 0", lambda p: ["plan", "recipes/agnews_full.yaml", "--gpu", "a100-80g", "--mfu", "0"], {}),
        ("plan: --mfu 1.5", lambda p: ["plan", "recipes/agnews_full.yaml", "--gpu", "a100-80g", "--mfu", "1.5"], {}),
        ("plan: --gpu-tflops 0", lambda p: ["plan", "recipes/agnews_full.yaml", "--gpu-mem", "80", "--gpu-tflops",
                                            "0"], {}),
        ("plan: --gpu-mem 0", lambda p: ["plan", "recipes/agnews_full.yaml", "--gpu-mem", "0", "--gpu-tflops",
                                         "100"], {}),
        ("plan: --gpu-mem nan", lambda p: ["plan", "recipes/agnews_full.yaml", "--gpu-mem", "nan"], {}),
        ("plan: --price -1", lambda p: ["plan", "recipes/agnews_full.yaml", "--gpu", "a100-80g", "--price", "-1"], {}),
        ("calibrate threshold: --step 0", lambda p: ["calibrate", "threshold", "--val", p["scores"], "--test",
                                                     p["scores"], "--step", "0"], {}),
        ("calibrate threshold: --low above --high", lambda p: ["calibrate", "threshold", "--val", p["scores"],
                                                               "--test", p["scores"], "--low", "2", "--high", "1"], {}),
        ("bench: --limit 0", lambda p: ["bench", "recipes/benchmarks/qwen3_4b_base.yaml", "--limit", "0"], {}),
        ("plan: --measure-steps 1", lambda p: ["plan", "recipes/agnews_full.yaml", "--measure", "--measure-steps",
                                               "1"], {}),
        ("smoke: --steps 0", lambda p: ["smoke", "recipes/demo/agnews_tiny_sft.yaml", "--steps", "0"], {}),
        ("smoke: missing recipe", lambda p: ["smoke", p["folder"] / "none.yaml", "--work", p["folder"] / "w"], {}),
        ("plot: missing run folder", lambda p: ["plot", p["folder"] / "no_run"], {}),
        ("plot: --wandb unconfigured", lambda p: ["plot", p["folder"], "--wandb"], NO_WANDB),
        ("tiny-model: missing texts", lambda p: ["tiny-model", "--texts", p["folder"] / "no.jsonl", "--out",
                                                 p["folder"] / "m"], {}),
        ("tiny-model: --vocab-size 0", lambda p: ["tiny-model", "--texts", p["preds"], "--out", p["folder"] / "m",
                                                  "--vocab-size", "0"], {}),
        ("demo: --train-size 0", lambda p: ["demo", "--train-size", "0"], {}),
        ("bench_convert.py: --rows 0", lambda p: ["scripts/bench_convert.py", "--rows", "0"], {}),
        ("bench_gen_report.py: --workers 0", lambda p: ["scripts/bench_gen_report.py", "--workers", "0"], {}),
        ("bench_score_labels.py: --rows 0", lambda p: ["scripts/bench_score_labels.py", "--rows", "0"], {}),
        ("plan: an export recipe", lambda p: ["plan", "recipes/export/yelp5_lora.yaml", "--gpu", "t4"], {}),
        ("export: a training recipe", lambda p: ["export", "recipes/yelp5_lora.yaml"], {}),
        ("export: the adapter is not trained yet", lambda p: ["export", "recipes/export/yelp5_bert_lora.yaml",
                                                              f"export_dir={p['folder'] / 'merged'}"], {}),
        ("export: a bad --push id", lambda p: ["export", "recipes/export/yelp5_lora.yaml", "--push", "a b"], {}),
        ("export: --report without a report", lambda p: ["export", "recipes/export/yelp5_lora.yaml", "--report",
                                                         p["folder"]], {}),
        ("check contamination: corrupt registry", lambda p: ["check", "contamination", "--train", "agnews",
                                                               "--data-dir", p["corrupt"]], {}),
        ("check contamination: --threshold 2", lambda p: ["check", "contamination", "--train", "agnews",
                                                          "--threshold", "2"], {}),
        ("check contamination: an unregistered set", lambda p: ["check", "contamination", "--train", "agnews",
                                                                "--against", "nope", "--data-dir", p["data"],
                                                                "--out", p["folder"] / "c"], {}),
        ("llm-recipes: unknown command", lambda p: ["nope"], {}),
        ("check recipes: a recipe that is not UTF-8", lambda p: ["check", "recipes", p["recipe_latin1"]], {}),
        *[(f"{command}: {name}", lambda p, c=command, n=name, e=extra: [*c.split(), p[n], *e], {})
          for command, extra in (("check recipes", []), ("plan", ["--gpu", "t4"]))
          for name in ("batch_zero", "lr_nan", "no_epochs", "warmup_above_one")],
        ("score: a model path that does not exist", lambda p: ["score", "--model", p["folder"] / "no_model",
                                                               "--template", "default", "--data", p["preds"]], {}),
        ("convert generic: over another converter's set", lambda p: ["convert", "generic", "--input",
                                                                     p["wrong_columns"], "--name", "agnews",
                                                                     "--input-column", "body", "--output-column",
                                                                     "cls", "--data-dir", p["data"]], {}),
    ]


def test_every_script_refuses_bad_input_in_one_line_and_changes_nothing(tmp_path: Path) -> None:
    paths = workspace(tmp_path)
    cases = converter_cases() + eval_and_script_cases()
    failures, tracebacks, changed = [], 0, 0
    for name, argv, env in cases:
        before = snapshot(tmp_path)
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            result = run_cli(*argv(paths), cwd=ROOT)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        lines = result.stderr.strip().splitlines()
        tracebacks += "Traceback" in result.stderr
        after = snapshot(tmp_path)
        changed += before != after
        if result.returncode != 2 or len(lines) != 1 or before != after:
            failures.append(f"{name}: exit {result.returncode}, stderr {result.stderr.strip()!r}, "
                            f"files changed: {sorted(set(before.items()) ^ set(after.items()))[:2]}")
    print(f"bad inputs tried: {len(cases)}, tracebacks: {tracebacks}, files changed: {changed}, "
          f"other failures: {len(failures)}")
    assert not failures, "\n".join(failures)


def test_messages_name_what_is_wrong(tmp_path: Path) -> None:
    paths = workspace(tmp_path)
    expect = {
        ("convert", "agnews", "--input", paths["utf16_nobom"], "--data-dir", paths["data"]):
            "looks like UTF-16 without a byte-order mark",
        ("convert", "agnews", "--input", paths["wrong_columns"], "--data-dir", paths["data"]):
            "8 row(s) have no column 'label' (columns found: body, cls)",
        ("convert", "agnews", "--input", paths["bad_labels"], "--data-dir", paths["data"]):
            "dataset 'agnews' would have 0 rows: nothing was written",
        ("convert", "agnews", "--input", paths["good_csv"], "--data-dir", paths["corrupt"]):
            "dataset_info.json:1: not valid JSON",
        ("convert", "agnews", "--input", paths["good_csv"], "--val-size", "-5", "--data-dir", paths["data"]):
            "argument --val-size: must be at least 0, got -5",
        ("convert", "agnews", "--input", paths["good_csv"], "--val-size", "39", "--data-dir", paths["data"]):
            "cannot hold out 39 of 40 rows stratified by class",
        ("convert", "generic", "--input", paths["wrong_columns"], "--name", "g", "--input-column", "body",
         "--output-column", "cls", "--label-map", "0=no;1=yes", "--data-dir", paths["data"]):
            "--label-map: '0=no;1=yes' holds more than one '='",
        ("convert", "agnews", "--input", paths["good_csv"], "--data-dir", UNWRITABLE):
            f"{Path(UNWRITABLE).parent}: Operation not permitted",
        ("report", "classify", paths["preds"], "--out", paths["a_file"]): "is a file, not a folder",
        ("check", "recipes", "--gpus", "0"): "argument --gpus: must be at least 1, got 0",
        ("convert", "agnews", "--input", paths["good_csv"], "--name", "news/v2", "--data-dir", paths["data"]):
            "argument --name: a name, not a path: 'news/v2' holds '/' (e.g. news_v2)",
        ("convert", "agnews", "--input", paths["good_csv"], "--name", "../../etc/evil", "--data-dir", paths["data"]):
            "argument --name: a name, not a path: '../../etc/evil' holds '/'",
        ("sweep", "recipes/demo/agnews_tiny_sft.yaml", "--name", "a/b", "--dry-run"):
            "argument --name: a name, not a path: 'a/b' holds '/'",
        ("sweep", "recipes/demo/agnews_tiny_sft.yaml", "learning_rat=1e-4,2e-5", "--dry-run"):
            "point p00_learningrat-1e-4 (learning_rat=1e-4): unknown key(s) ['learning_rat']",
        ("sweep", "recipes/demo/agnews_tiny_sft.yaml", "learning_rate=1e-4,abc"):
            "point p01_learningrate-abc (learning_rate=abc): LLaMA-Factory's parser would take learning_rate='abc', "
            "which is not a number",
        ("plan", "recipes/agnews_full.yaml", "--gpu", "a100-80g", "--mfu", "0"):
            "argument --mfu: must be above 0 and at most 1, got 0",
        ("plan", "recipes/agnews_full.yaml", "--gpu-mem", "80", "--gpu-tflops", "0"):
            "argument --gpu-tflops: must be above 0, got 0",
        ("plan", "recipes/agnews_full.yaml", "--gpu", "a100-80g", "--price", "-1"):
            "argument --price: must be at least 0, got -1",
        ("calibrate", "threshold", "--val", paths["scores"], "--test", paths["scores"], "--low", "2", "--high", "1"):
            "--low 2 is above --high 1: the threshold range is empty",
        ("check", "recipes", paths["recipe_twice"]):
            f"{paths['recipe_twice']}:4: key 'learning_rate' is given twice (lines 2 and 4)",
        ("plan", paths["classifier_no_train"], "--gpu", "t4", "--measure", "--out", paths["folder"] / "m"):
            "--measure trains: stage sft or dpo, or a classifier, with do_train (this recipe: a classifier, "
            "do_train False)",
        ("plan", "recipes/agnews_predict.yaml", "--gpu", "t4", "--measure", "--out", paths["folder"] / "m"):
            "--measure trains: stage sft or dpo, or a classifier, with do_train (this recipe: stage sft, do_train "
            "False)",
    }
    expect.update({
        ("plan", paths["batch_zero"], "--gpu", "t4"):
            f"{paths['batch_zero']}: per_device_train_batch_size is 0: it must be a whole number, at least 1",
        ("check", "recipes", paths["lr_nan"]): f"{paths['lr_nan']}: learning_rate is nan: it must be a finite number",
        ("check", "recipes", paths["warmup_above_one"]): "warmup_ratio",
        ("check", "recipes", paths["recipe_latin1"]): f"{paths['recipe_latin1']}:1: not valid UTF-8",
        ("score", "--model", paths["folder"] / "no_model", "--template", "default", "--data", paths["preds"]):
            f"--model {paths['folder'] / 'no_model'}: neither a local folder (no such folder) nor a hub id",
        ("convert", "generic", "--input", paths["wrong_columns"], "--name", "agnews", "--input-column", "body",
         "--output-column", "cls", "--data-dir", paths["data"]):
            "'agnews', 'agnews_val' were written by convert agnews: convert generic would replace 'agnews', delete "
            "'agnews_val'",
    })
    for argv, fragment in expect.items():
        result = run_cli(*argv)
        assert result.returncode == 2 and fragment in result.stderr, (argv, result.stderr)
    os.environ.update(NO_WANDB)
    try:
        result = run_cli("report", "classify", paths["preds"], "--out", tmp_path / "r", "--wandb")
    finally:
        for key in NO_WANDB:
            os.environ.pop(key, None)
    assert "set WANDB_MODE=offline" in result.stderr and not (tmp_path / "r").exists()  # checked before any work


# a conversion run as `python converters/agnews.py` with one hook that sends this process a real SIGINT at a
# chosen moment: the first row read, the second file staged beside its target, the first rename
CTRL_C_AT = """
import csv, os, runpy, signal, sys
import recipekit.files as files

moment, script = sys.argv[1], sys.argv[2]
sys.argv = [script, *sys.argv[3:]]
signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in a terminal, even if started ignoring it

def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)

def once(function, after):
    calls = []
    def hooked(*args, **kwargs):
        calls.append(1)
        if len(calls) == after:
            ctrl_c()
        return function(*args, **kwargs)
    return hooked

if moment == "reading":
    class Reader:
        def __init__(self, *args, **kwargs):
            self.rows = real_reader(*args, **kwargs)
        def __iter__(self):
            return self
        def __next__(self):
            if self.rows.line_num == 100:
                ctrl_c()
            return next(self.rows)
        def __getattr__(self, name):
            return getattr(self.rows, name)
    real_reader, csv.reader = csv.reader, Reader
elif moment == "staging":
    files._temp_beside = once(files._temp_beside, 2)
elif moment == "renaming":
    os.replace = once(os.replace, 1)
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize("moment", ["reading", "staging", "renaming", "never"])
def test_ctrl_c_mid_conversion_leaves_the_old_files_or_the_whole_new_set(tmp_path: Path, moment: str) -> None:
    """A real SIGINT at each moment of a conversion: while reading or staging, exit 130 with the old files byte
    for byte and no temporary file; once the renames began (they finish with Ctrl-C held off), the whole new set,
    exit 0 and its "wrote" line; the stale split of the old set goes with it."""
    data = tmp_path / "data"
    small = write_original_csv(tmp_path / "small.csv", agnews_rows(10))
    assert run_cli("convert", "agnews", "--input", small, "--data-dir", data, "--val-size", "8").returncode == 0
    old = snapshot(data)
    raw = write_original_csv(tmp_path / "train.csv", agnews_rows(500))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", CTRL_C_AT, moment, "converters/agnews.py", "--input", str(raw),
                             "--data-dir", str(data)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    now = snapshot(data)
    assert not [name for name in now if name.endswith((".tmp", ".bak")) or name.startswith(".")], now.keys()
    if moment in ("reading", "staging"):
        assert result.returncode == 130, result.stderr
        assert result.stderr.strip().splitlines() == ["interrupted (Ctrl-C): stopped without leaving a partial file"]
        assert now == old
    else:
        assert result.returncode == 0, result.stderr
        assert f"wrote 2000 rows to {data / 'agnews.jsonl'}" in result.stdout
        registry = json.loads(now["dataset_info.json"][0])
        assert set(registry) == {"agnews"} and "agnews_val.jsonl" not in now
        assert len(now["agnews.jsonl"][0].splitlines()) == 2000
