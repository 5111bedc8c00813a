"""Chains that run (scripts/reproduce.py, scripts/report_card.py): resume after a failure, the card's verdicts and
intervals against the eval scripts', wandb runs by id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_cli, run_script, write_jsonl

from recipekit.reproduce.card import report_values

pytestmark = pytest.mark.integration  # trains tiny models or starts processes

PREDICTIONS = [("1: World", "1: World"), ("2: Sports", "2: Sports"), ("3: Business", "4: Sci/Tech"),
               ("4: Sci/Tech", "4: Sci/Tech")] * 10


def write_chain(tmp_path: Path, published: float) -> Path:
    """A three-step chain on this machine: write predictions, a gate that fails until {out}/go exists, then score
    the predictions (each step declares what it reads and writes)."""
    rows = [{"prompt": f"p{i}", "predict": p, "label": g} for i, (g, p) in enumerate(PREDICTIONS)]
    source = write_jsonl(tmp_path / "source.jsonl", rows)
    gate = ("import pathlib, sys; go = pathlib.Path(sys.argv[1]).exists(); "
            "go or print(f\"error: {sys.argv[1]}: the gate is closed\", file=sys.stderr); sys.exit(0 if go else 3)")
    chain = {
        "report": "none.txt", "title": "a test chain",
        "steps": [
            {"name": "copy", "run": f"python -c 'import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])' "
                                    f"{source} {{out}}/predictions.jsonl", "inputs": [str(source)],
             "outputs": ["{out}/predictions.jsonl"]},
            {"name": "gate", "run": f"python -c '{gate}' {{out}}/go"},
            {"name": "report", "run": "python eval/classify_report.py {out}/predictions.jsonl --out {out}/report_v1.5",
             "inputs": ["{out}/predictions.jsonl"], "outputs": ["{out}/report_v1.5/classify_report.json"]},
        ],
        "numbers": [{"name": "accuracy", "published": published, "unit": "%", "metric": "accuracy",
                     "report": "{out}/report_v1.5"}],
    }
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(chain, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.mutation
def test_a_failed_step_stops_the_chain_naming_its_log_and_a_rerun_resumes_there(tmp_path: Path) -> None:
    chain, out = write_chain(tmp_path, 75.0), tmp_path / "run"
    first = run_cli("reproduce", chain, "--out", out, "--no-wandb")
    assert first.returncode == 2
    assert first.stderr.strip() == (f"error: step gate failed (exit 3): {out}/go: the gate is closed; its log: "
                                    f"{out}/logs/gate.log; fix it and run the same command again to resume from "
                                    "this step")
    assert (out / "predictions.jsonl").is_file() and not (out / "report_v1.5").exists()
    (out / "go").write_text("", encoding="utf-8")
    second = run_cli("reproduce", chain, "--out", out, "--no-wandb")
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("skipped: up to date") == 1  # copy
    assert "2 step(s) ran, 1 skipped" in second.stdout
    card = json.loads((out / "report_card.json").read_text(encoding="utf-8"))
    (number,) = card["numbers"]
    assert number["run"] == pytest.approx(75.0) and number["n"] == 40
    assert number["ci95"][0] < 75.0 < number["ci95"][1] and number["verdict"] == "reproduced"
    assert card["first_line"].startswith("Reproduction of a test chain") and card["tiny"] is False
    assert set(card["time"]["steps_seconds"]) == {"copy", "gate", "report"}
    assert (out / "report_card.png").stat().st_size > 1000
    assert "| accuracy | 75% | 75% |" in (out / "report_card.md").read_text(encoding="utf-8")
    third = run_cli("reproduce", chain, "--out", out, "--no-wandb")
    assert "0 step(s) ran, 3 skipped" in third.stdout
    again = run_cli("reproduce", chain, "--out", out, "--no-wandb", "--from", "gate")
    assert "2 step(s) ran, 1 skipped" in again.stdout
    (out / "predictions.jsonl").touch()  # a newer input: the report is redone, the copy is not
    fourth = run_cli("reproduce", chain, "--out", out, "--no-wandb")
    assert "1 step(s) ran, 2 skipped" in fourth.stdout and "[3/3] report" in fourth.stdout
    bad_from = run_cli("reproduce", chain, "--out", out, "--from", "train")
    assert bad_from.returncode == 2 and "--from train: no such step (steps: copy, gate, report)" in bad_from.stderr


def files_and_times(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.mutation
def test_a_second_run_into_the_same_folder_refuses_at_once_and_changes_nothing(tmp_path: Path) -> None:
    release, out = tmp_path / "release", tmp_path / "run"
    wait = "import pathlib, sys, time; any(pathlib.Path(sys.argv[1]).exists() or time.sleep(0.1) for _ in range(900))"
    chain = tmp_path / "waits.yaml"
    chain.write_text(yaml.safe_dump({"report": "none.txt", "title": "a chain that waits", "steps": [
        {"name": "wait", "run": f"python -c '{wait}' {release}"},
        {"name": "write", "run": "python -c 'import sys; open(sys.argv[1], \"w\").write(\"x\")' {out}/written.txt",
         "outputs": ["{out}/written.txt"]}],
        "numbers": [{"name": "accuracy", "published": 0.5, "metric": "accuracy", "report": "{out}/none"}]}),
        encoding="utf-8")
    command = [sys.executable, "-m", "recipekit.commands", "reproduce", str(chain), "--out", str(out), "--no-wandb"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):  # until the first run is inside its first step
            if (out / "logs" / "wait.log").exists() or first.poll() is not None:
                break
            time.sleep(0.1)
        assert first.poll() is None and (out / "logs" / "wait.log").exists()
        before = files_and_times(out)
        started = time.monotonic()
        second = run_cli("reproduce", chain, "--out", out, "--no-wandb")
        assert time.monotonic() - started < 5  # at once: it does not wait for the first
        assert second.returncode == 2 and second.stdout == ""
        assert second.stderr == (f"error: {out}: another run holds this reproduction's folder (pid {first.pid}, "
                                 "reproduce waits): wait for it to end, or give another --out\n")
        assert files_and_times(out) == before
    finally:
        release.write_text("", encoding="utf-8")
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert "2 step(s) ran" in stdout and (out / "written.txt").read_text(encoding="utf-8") == "x"
    after = run_cli("reproduce", chain, "--out", out, "--no-wandb")  # the folder is free again
    assert after.returncode == 0 and "0 step(s) ran, 2 skipped" in after.stdout


def test_the_card_says_when_a_number_is_not_reproduced(tmp_path: Path) -> None:
    chain, out = write_chain(tmp_path, 95.43), tmp_path / "run"
    (out).mkdir()
    (out / "go").write_text("", encoding="utf-8")
    assert run_cli("reproduce", chain, "--out", out, "--no-wandb").returncode == 0
    alone = run_script("scripts/report_card.py", chain, "--out", out)
    assert alone.returncode == 0, alone.stderr
    (number,) = json.loads((out / "report_card.json").read_text(encoding="utf-8"))["numbers"]
    assert number["verdict"] == "not reproduced: run -20.43 (the report's number is above the interval)"
    tiny = run_cli("report-card", chain, "--out", out, "--tiny")
    assert tiny.returncode == 2 and "reproduce.json says tiny=False" in tiny.stderr


def independent_interval(values: np.ndarray, statistic: object, seed: int = 0, resamples: int = 1000) -> list[float]:
    """A seeded 95% percentile bootstrap written here, apart from the code under test."""
    rng = np.random.default_rng(seed)
    draws = [statistic(rng.integers(0, len(values), size=len(values))) for _ in range(resamples)]
    return [float(x) for x in np.percentile(draws, [2.5, 97.5])]


def test_card_numbers_equal_the_reports_and_intervals_are_95_percent(tmp_path: Path) -> None:
    """Classification: the card's values are classify_report's (scikit-learn) and its intervals the report's
    own, which equal a bootstrap written here; generation: gen_report's LLaMA-Factory means and intervals."""
    from sklearn.metrics import f1_score, log_loss

    rng = np.random.default_rng(1)
    labels = ["A", "B", "tie"]
    rows = []
    for i in range(120):
        probs = rng.dirichlet([2, 2, 2])
        gold = labels[int(rng.integers(0, 3)) if i % 4 else int(np.argmax(probs))]
        rows.append({"prompt": f"p{i}", "predict": labels[int(np.argmax(probs))], "label": gold,
                     "probs": dict(zip(labels, probs.tolist(), strict=True))})
    write_jsonl(tmp_path / "scored.jsonl", rows)
    done = run_script("eval/classify_report.py", tmp_path / "scored.jsonl", "--out", tmp_path / "c")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "c" / "classify_report.json").read_text(encoding="utf-8"))
    n, values, intervals = report_values(tmp_path / "c")
    gold = np.array([labels.index(r["label"]) for r in rows])
    predicted = np.array([labels.index(r["predict"]) for r in rows])
    matrix = np.array([[r["probs"][label] for label in labels] for r in rows])
    assert n == 120 and values["accuracy"] == pytest.approx(float(np.mean(gold == predicted)), abs=1e-12)
    assert values["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro"), abs=1e-12)
    for i, label in enumerate(labels):
        assert values[f"f1[{label}]"] == pytest.approx(f1_score(gold == i, predicted == i), abs=1e-12)
    assert values["log_loss"] == pytest.approx(log_loss(gold, matrix, labels=[0, 1, 2]), abs=1e-9)
    assert intervals["accuracy"] == pytest.approx(
        independent_interval(gold, lambda pick: np.mean(gold[pick] == predicted[pick])), abs=1e-12)
    assert intervals["log_loss"] == pytest.approx(independent_interval(
        gold, lambda pick: log_loss(gold[pick], matrix[pick], labels=[0, 1, 2])), abs=1e-9)
    assert report["ci"]["level"] == 0.95 and intervals["log_loss"][0] < values["log_loss"] < intervals["log_loss"][1]

    gen = [{"prompt": f"q{i}", "predict": f"the answer is {i} and more {i % 3}", "label": f"the answer is {i}"}
           for i in range(30)]
    write_jsonl(tmp_path / "gen.jsonl", gen)
    done = run_script("eval/gen_report.py", tmp_path / "gen.jsonl", "--out", tmp_path / "g", "--workers", "1")
    assert done.returncode == 0, done.stderr
    per_row = [json.loads(line) for line in (tmp_path / "g" / "gen_scores.jsonl").read_text("utf-8").splitlines()]
    n, values, intervals = report_values(tmp_path / "g")
    for metric in ("bleu-4", "rouge-1", "rouge-2", "rouge-l"):
        scores = np.array([row[metric] for row in per_row])
        assert n == 30 and values[metric] == pytest.approx(float(np.mean(scores)), abs=1e-9)
        mean = lambda pick, scores=scores: np.mean(scores[pick])  # noqa: E731
        assert intervals[metric] == pytest.approx(independent_interval(scores, mean), abs=1e-9)


def test_an_eval_report_logs_into_the_training_run_it_evaluates(tmp_path: Path) -> None:
    """--wandb-run TRAIN_DIR: the training's wandb run is found by its output_dir and resumed (offline)."""
    from recipekit.report.wandb import run_facts

    train_dir = tmp_path / "saves" / "train"
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_RUN_GROUP": "reproduce-test"}
    script = textwrap.dedent(f"""
        import wandb
        run = wandb.init(project="t", config={{"output_dir": {str(train_dir)!r}}})
        for step in range(3):
            run.log({{"train/loss": 1.0 / (step + 1)}})
        run.finish()
    """)
    subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, check=True, capture_output=True,
                   timeout=300)
    write_jsonl(tmp_path / "p.jsonl", [{"prompt": "x", "predict": g, "label": g} for g in ("a", "b", "a")])
    done = run_script("eval/classify_report.py", tmp_path / "p.jsonl", "--out", tmp_path / "r", "--wandb",
                      "--wandb-run", train_dir, env=env)
    assert done.returncode == 0, done.stderr
    files = sorted((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 2  # the training run and its resumed continuation, side by side
    facts = [run_facts(f) for f in files]
    assert facts[0]["id"] == facts[1]["id"] and {f["group"] for f in facts} == {"reproduce-test"}
    assert "train/loss" in facts[0]["history"]
    assert json.loads(facts[1]["summary"]["classify_report/accuracy"]) == 1.0
    assert not (tmp_path / "r" / "wandb").exists()
    lost = run_script("eval/classify_report.py", tmp_path / "p.jsonl", "--out", tmp_path / "r2", "--wandb",
                      "--wandb-run", tmp_path / "nowhere", env=env)
    assert lost.returncode == 0 and f"note: no wandb run of {tmp_path / 'nowhere'} found" in lost.stdout
