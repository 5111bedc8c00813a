"""What a command says it wrote, and a report folder as one unit: nothing is said written before it is in place;
a refused or failed report leaves the report already there and says so; a report of other predictions is not
replaced unasked; a report records its input and the model that made it; Ctrl-C once the files are in place
does not end the run as if they were not."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, agnews_rows, run_cli, write_jsonl, write_original_csv

REFUSED = Path("/sys/llm-recipes-test/out")  # a folder nobody may make, root included
REPORTS = {"classify": "classify_report.json", "gen": "gen_report.json"}


def rows(answers: list[str], gold: list[str]) -> list[dict[str, str]]:
    return [{"prompt": f"question {i}", "predict": p, "label": g} for i, (p, g) in enumerate(zip(answers, gold,
                                                                                                 strict=True))]


GOLD = ["yes", "no", "yes", "no"]
GOOD = rows(["yes", "no", "no", "no"], GOLD)
OTHER = rows(["yes", "yes", "yes", "no"], GOLD)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def report(kind: str, predictions: Path, *flags: object) -> object:
    return run_cli("report", kind, predictions, *(("--bootstrap", "0") if kind == "classify" else ()), *flags)


@pytest.mark.parametrize("kind", list(REPORTS))
def test_a_folder_that_refuses_writes_gets_one_error_and_no_wrote_line(tmp_path: Path, kind: str) -> None:
    done = report(kind, write_jsonl(tmp_path / "p.jsonl", GOOD), "--out", REFUSED)
    assert done.returncode == 2
    assert "wrote" not in done.stdout
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: /sys/llm-recipes-test: ")
    assert not REFUSED.exists()


@pytest.mark.integration  # a plan imports torch and simulates a step
def test_plan_into_a_folder_that_refuses_writes_says_no_wrote(tmp_path: Path) -> None:
    done = run_cli("plan", ROOT / "recipes/classifier/yelp5_bert_lora.yaml", "--gpu", "a100-40g", "--out", REFUSED)
    assert done.returncode == 2
    assert "wrote" not in done.stdout
    # a cold simulation cache adds its one progress line first; whether it is cold depends on test order
    lines = [line for line in done.stderr.splitlines() if not line.startswith("plan: simulating one training step")]
    assert len(lines) == 1 and lines[0].startswith("error: /sys/llm-recipes-test: ")


@pytest.mark.parametrize("kind", list(REPORTS))
def test_a_report_records_its_input_path_size_and_sha256(tmp_path: Path, kind: str) -> None:
    predictions = write_jsonl(tmp_path / "p.jsonl", GOOD)
    assert report(kind, predictions).returncode == 0
    got = json.loads((tmp_path / REPORTS[kind]).read_text(encoding="utf-8"))["meta"]["predictions"]
    data = predictions.read_bytes()
    assert got == {"path": str(predictions), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_a_strict_refusal_writes_nothing_and_says_the_report_there_is_not_of_this_input(tmp_path: Path) -> None:
    predictions = write_jsonl(tmp_path / "generated_predictions.jsonl", GOOD)
    assert report("classify", predictions).returncode == 0
    old_sha, before = digest(predictions), files_of(tmp_path)
    write_jsonl(predictions, rows(["garbage"] * 4, GOLD))  # predicted again: every answer matches no label
    done = report("classify", predictions, "--strict")
    assert done.returncode == 1
    assert "wrote" not in done.stdout
    assert done.stderr.splitlines() == [
        "error: 100.0% of the predictions match no label (more than --max-invalid 5%; most often 'garbage' x4); "
        f"--strict refuses the report: nothing written; {tmp_path / 'classify_report.json'} (a report of "
        f"{predictions} with sha256 {old_sha[:12]}: not this input) is left unchanged"]
    after = files_of(tmp_path)
    assert {k: v for k, v in after.items() if k != predictions.name} == \
        {k: v for k, v in before.items() if k != predictions.name}


def test_a_failed_report_says_the_report_there_is_left_unchanged(tmp_path: Path) -> None:
    predictions = write_jsonl(tmp_path / "generated_predictions.jsonl", GOOD)
    assert report("classify", predictions).returncode == 0
    before = files_of(tmp_path)
    with predictions.open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    done = report("classify", predictions)
    assert done.returncode == 2 and "wrote" not in done.stdout
    assert done.stderr.splitlines() == [
        f"error: {predictions}:5: not valid JSON (Expecting property name enclosed in double quotes); "
        f"{tmp_path / 'classify_report.json'} (a report of {predictions} with sha256 "
        f"{hashlib.sha256(before[predictions.name]).hexdigest()[:12]}: not this input) is left unchanged"]
    assert {k: v for k, v in files_of(tmp_path).items() if k != predictions.name} == \
        {k: v for k, v in before.items() if k != predictions.name}


@pytest.mark.parametrize("kind", list(REPORTS))
def test_a_report_of_other_predictions_is_replaced_only_when_asked(tmp_path: Path, kind: str) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", GOOD)
    second = write_jsonl(tmp_path / "second.jsonl", OTHER)
    target = tmp_path / REPORTS[kind]
    assert report(kind, first).returncode == 0
    before = files_of(tmp_path)
    done = report(kind, second)
    assert done.returncode == 2 and "wrote" not in done.stdout
    assert done.stderr.splitlines() == [
        f"error: {target}: holds a report of {first} (sha256 {digest(first)[:12]}), not of {second}: --replace "
        "replaces it, --out writes the new one elsewhere"]
    assert files_of(tmp_path) == before
    write_jsonl(first, OTHER)  # the same file predicted again: its report is replaced as before
    assert report(kind, first).returncode == 0
    assert json.loads(target.read_text(encoding="utf-8"))["meta"]["predictions"]["sha256"] == digest(first)
    write_jsonl(first, GOOD)
    done = report(kind, second, "--replace")
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text(encoding="utf-8"))["meta"]["predictions"]["path"] == str(second)


def test_the_model_that_made_the_predictions_is_recorded(tmp_path: Path) -> None:
    def model_of(predictions: Path, *flags: object, cwd: Path = ROOT) -> object:
        assert run_cli("report", "classify", predictions, "--bootstrap", "0", *flags, cwd=cwd).returncode == 0
        written = (cwd / predictions).parent / "classify_report.json"
        return json.loads(written.read_text(encoding="utf-8"))["meta"]["model"]

    adapter = tmp_path / "adapter"  # train-classifier predicts into the folder it saves its adapter in
    write_jsonl(adapter / "predictions_val.jsonl", GOOD)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "org/base"}),
                                                 encoding="utf-8")
    assert model_of(adapter / "predictions_val.jsonl") == {
        "model_name_or_path": "org/base", "adapter_name_or_path": str(adapter),
        "from": f"the adapter beside the predictions ({adapter / 'adapter_config.json'})"}

    recipe = tmp_path / "recipes" / "predict.yaml"  # a predict recipe whose output_dir holds the file
    recipe.parent.mkdir()
    recipe.write_text("model_name_or_path: org/base\nadapter_name_or_path: saves/sft\nstage: sft\ndo_predict: true\n"
                      "output_dir: saves/sft/predict\n", encoding="utf-8")
    predicted = write_jsonl(tmp_path / "saves" / "sft" / "predict" / "generated_predictions.jsonl", GOOD)
    found = {"model_name_or_path": "org/base", "adapter_name_or_path": "saves/sft",
             "from": "the recipe whose output_dir holds the predictions, recipes/predict.yaml"}
    assert model_of(Path("saves/sft/predict/generated_predictions.jsonl"), cwd=tmp_path) == found
    assert model_of(predicted, "--recipe", recipe, "--adapter", "saves/dpo") == {
        "model_name_or_path": "org/base", "adapter_name_or_path": "saves/dpo", "from": f"--recipe {recipe}; --adapter"}
    other = write_jsonl(tmp_path / "elsewhere" / "p.jsonl", GOOD)
    assert model_of(other) is None


def test_compare_names_runs_whose_reports_scored_the_same_predictions(tmp_path: Path) -> None:
    for run in ("a", "b"):
        assert report("classify", write_jsonl(tmp_path / run / "p.jsonl", GOOD)).returncode == 0
    assert report("classify", write_jsonl(tmp_path / "c" / "p.jsonl", OTHER)).returncode == 0
    done = run_cli("compare", tmp_path / "a", tmp_path / "b", tmp_path / "c", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out" / "compare_runs.json").read_text(encoding="utf-8"))
    same = digest(tmp_path / "a" / "p.jsonl")
    assert result["notes"] == [f"a, b scored the same predictions (sha256 {same[:12]}): not different runs"]
    assert [run["predictions"]["sha256"] for run in result["runs"]] == [same, same, digest(tmp_path / "c" / "p.jsonl")]


@pytest.mark.parametrize("kind", ["convert", "report"])
def test_ctrl_c_once_the_files_are_in_place_ends_the_run_normally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   kind: str) -> None:
    """SIGINT right after a command's files have landed (while it says what it wrote): the run ends as a finished
    one (exit 0, its summary), and Ctrl-C is back as it was once the command has returned."""
    import recipekit.files

    write_together = recipekit.files._write_together

    def landed_then_ctrl_c(*args: object, **kwargs: object) -> None:
        write_together(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(recipekit.files, "_write_together", landed_then_ctrl_c)
    if kind == "convert":
        argv: list[object] = ["convert", "agnews", "--input", write_original_csv(tmp_path / "train.csv",
                              agnews_rows(10)), "--data-dir", tmp_path / "data", "--val-size", "8"]
        said, written = f"wrote 32 rows to {tmp_path / 'data' / 'agnews.jsonl'} (dataset 'agnews')", \
            tmp_path / "data" / "agnews.jsonl"
    else:
        argv = ["report", "classify", write_jsonl(tmp_path / "p.jsonl", GOOD * 8), "--bootstrap", "0"]
        said, written = f"wrote {tmp_path / 'classify_report.json'}, ", tmp_path / "classify_report.json"
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal delivers it
    try:
        done = run_cli(*argv)
        handler = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (done.returncode, done.stderr) == (0, "")
    assert said in done.stdout and written.is_file()
    assert handler is signal.default_int_handler


CTRL_C_AROUND_THE_END = """
import os, signal, sys, threading
import recipekit.files
from recipekit.converters import agnews

write_together = recipekit.files._write_together

def landed_then_ctrl_c(*args, **kwargs):
    write_together(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGINT)  # the unit is in place

recipekit.files._write_together = landed_then_ctrl_c
threading._register_atexit(lambda: os.kill(os.getpid(), signal.SIGINT))  # while the interpreter ends
agnews.main()
os.kill(os.getpid(), signal.SIGINT)  # the command has returned
"""


@pytest.mark.integration  # a converter in its own process, signalled for real
def test_ctrl_c_after_the_sets_landed_up_to_the_interpreters_exit_finishes_quietly(tmp_path: Path) -> None:
    source = write_original_csv(tmp_path / "train.csv", agnews_rows(10))
    data = tmp_path / "data"
    data.mkdir()
    done = subprocess.run([sys.executable, "-c", CTRL_C_AROUND_THE_END, "--input", str(source), "--data-dir",
                           str(data), "--val-size", "8"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert (done.returncode, done.stderr) == (0, "")
    assert f"wrote 32 rows to {data / 'agnews.jsonl'} (dataset 'agnews')" in done.stdout
    assert sorted(p.name for p in data.iterdir()) == ["agnews.jsonl", "agnews_val.jsonl", "dataset_info.json"]
