"""scripts/reproduce.py, scripts/report_card.py: chain files, dry runs, resume after a failure, the card."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, run_cli, run_script, write_jsonl

from recipekit.errors import InputError
from recipekit.reproduce.card import report_values, verdict
from recipekit.reproduce.chain import Layout, chain_names, is_recipe_token, load_chain

pytestmark = pytest.mark.integration  # trains tiny models or starts processes

REPORTS = ("afqmc", "agnews", "arena", "tulu_dpo", "yelp5")


def test_every_report_has_a_chain_of_known_scripts_and_recipes() -> None:
    assert tuple(chain_names()) == REPORTS
    for name in REPORTS:
        chain = load_chain(name)
        seeds = ROOT.parent / "shared" / "seeds"
        assert (seeds / chain.report).is_file() or not seeds.is_dir(), chain.report
        layout = Layout(chain, Path("outputs/reproduce") / name, tiny=False)
        steps = layout.steps()
        assert steps[0].command[1].startswith("converters/") and any(s.name == "check" for s in steps)
        for step in steps:
            scripts = [t for t in step.command if t.endswith(".py")]
            assert all((ROOT / s).is_file() for s in scripts), (name, step.name)
            assert step.env["WANDB_RUN_GROUP"] == f"reproduce-{name}"
            assert step.outputs or step.name == "check", (name, step.name)
        trained = [s for s in steps if s.source_recipe]
        assert trained and all(is_recipe_token(s.source_recipe) for s in trained)
        assert chain.numbers and all(n.report.startswith("{out}/") for n in chain.numbers)


def test_the_published_numbers_are_the_reports() -> None:
    published = {name: {n.name: n.published for n in load_chain(name).numbers} for name in REPORTS}
    assert published["agnews"]["accuracy"] == 95.43 and published["agnews"]["F1 Sports"] == 99.21
    assert published["tulu_dpo"]["SFT BLEU-4"] == 33.25 and published["tulu_dpo"]["DPO ROUGE-1"] == 38.42
    assert published["yelp5"] == {"untuned accuracy": 0.1840, "untuned macro-F1": 0.0623, "LoRA accuracy": 0.5980,
                                  "LoRA macro-F1": 0.5912}
    assert published["afqmc"]["QLoRA macro-F1"] == 0.7145 and published["afqmc"]["macro-F1 after threshold"] == 0.7168
    assert published["arena"] == {"validation log loss": 1.044, "validation accuracy": 0.460,
                                  "validation macro-F1": 0.457}


def test_dry_run_prints_the_plain_commands_and_the_plan() -> None:
    result = run_script("scripts/reproduce.py", "yelp5", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "python converters/yelp.py --hf Yelp/yelp_review_full --max-samples 8000 --val-size 500 --data-dir data" \
        in out
    assert "python scripts/train_classifier.py recipes/classifier/yelp5_bert_lora.yaml\n" in out
    assert ("# train; reads recipes/classifier/yelp5_bert_lora.yaml, "
            "data/dataset_info.json, data/yelp5.jsonl, "
            "data/yelp5_val.jsonl; writes saves/bert-base-uncased/lora/yelp5/classifier_run.json") in out
    assert "WANDB_RUN_GROUP=reproduce-yelp5 WANDB_DIR=outputs/reproduce/yelp5" in out
    assert "python scripts/report_card.py yelp5 --out outputs/reproduce/yelp5" in out
    assert "recipes/classifier/yelp5_bert_lora.yaml: 1x" in out and "GiB peak per GPU" in out  # the planner's line


def test_deepspeed_steps_launch_through_torchrun_and_gpus_pass_through() -> None:
    result = run_script("scripts/reproduce.py", "agnews", "--dry-run", "--no-plan", "--gpus", "4")
    assert result.returncode == 0, result.stderr
    train = next(line for line in result.stdout.splitlines() if "train recipes/agnews_full.yaml" in line)
    assert train.startswith("FORCE_TORCHRUN=1 NPROC_PER_NODE=4 WANDB_RUN_GROUP=reproduce-agnews ")


def test_a_tiny_dry_run_moves_every_written_folder_under_out(tmp_path: Path) -> None:
    result = run_script("scripts/reproduce.py", "tulu_dpo", "--tiny", "--dry-run", "--no-plan", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "=" in line and not line.startswith("#")]
    for line in commands:
        for token in shlex.split(line):
            value = token.split("=", 1)[-1]
            assert not value.startswith(("saves/", "data/")) and value != "data", (token, line)
    dpo = next(line for line in commands if "qwen3_4b_ultrafeedback_dpo_lora.yaml" in line and "cli train" in line)
    assert f"{tmp_path}/recipes/qwen3_4b_ultrafeedback_dpo_lora.yaml" in dpo and "NPROC_PER_NODE=2" in dpo
    assert "WANDB_MODE=offline" in dpo and "reproduce-tulu_dpo-tiny" in dpo
    check = next(line for line in commands if "check_recipes.py" in line)
    assert " recipes/qwen3_4b_tulu_sft_lora.yaml" in check  # checks and plans read the real recipes
    convert = next(line for line in commands if "converters/tulu.py" in line)
    assert f"--input {tmp_path}/raw/tulu3_personas_if/tulu/train.jsonl --val-size 4" in convert
    assert list(tmp_path.iterdir()) == []  # a dry run writes nothing


def test_unknown_reports_and_malformed_chains_are_one_line_errors(tmp_path: Path) -> None:
    result = run_script("scripts/reproduce.py", "imdb", "--dry-run")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no chain for report 'imdb' (known: afqmc, agnews, arena, tulu_dpo, yelp5)"
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {name: a, run: echo hi, retries: 2}\n", encoding="utf-8")
    result = run_script("scripts/reproduce.py", bad, "--dry-run")
    assert result.returncode == 2 and result.stderr.strip() == f"error: {bad}: step a: unknown key(s) retries"
    bad.write_text("steps:\n  - {name: a, run: echo hi}\nnumbers:\n  - {name: x, published: 1, metric: auc, "
                   "report: '{out}'}\n", encoding="utf-8")
    result = run_script("scripts/reproduce.py", bad, "--dry-run")
    assert result.returncode == 2 and "number x: unknown metric 'auc'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


PREDICTIONS = [("1: World", "1: World"), ("2: Sports", "2: Sports"), ("3: Business", "4: Sci/Tech"),
               ("4: Sci/Tech", "4: Sci/Tech")] * 10


def write_chain(tmp_path: Path, published: float) -> Path:
    """A three-step chain on this machine: write predictions, a gate that fails until {out}/go exists, then score
    the predictions (each step declares what it reads and writes)."""
    rows = [{"prompt": f"p{i}", "predict": p, "label": g} for i, (g, p) in enumerate(PREDICTIONS)]
    source = write_jsonl(tmp_path / "source.jsonl", rows)
    gate = "import pathlib, sys; sys.exit(0 if pathlib.Path(sys.argv[1]).exists() else 3)"
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


def test_a_failed_step_stops_the_chain_naming_its_log_and_a_rerun_resumes_there(tmp_path: Path) -> None:
    chain, out = write_chain(tmp_path, 75.0), tmp_path / "run"
    first = run_cli("reproduce", chain, "--out", out, "--no-wandb")
    assert first.returncode == 2
    assert first.stderr.strip() == (f"error: step gate failed (exit 3); its log: {out}/logs/gate.log; fix it and "
                                    "run the same command again to resume from this step")
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


def test_verdicts_on_known_numbers() -> None:
    assert verdict(0.5, 0.52, (0.49, 0.55), tiny=False) == "reproduced"
    assert verdict(0.49, 0.52, (0.49, 0.55), tiny=False) == "reproduced"  # the interval's ends count
    assert verdict(0.60, 0.52, (0.49, 0.55), tiny=False) == \
        "not reproduced: run -0.08 (the report's number is above the interval)"
    assert verdict(0.40, 0.52, (0.49, 0.55), tiny=False) == \
        "not reproduced: run +0.12 (the report's number is below the interval)"
    assert verdict(0.5, 0.52, (0.49, 0.55), tiny=True) == "no verdict (tiny run)"
    assert verdict(0.5, None, None, tiny=False) == "not measured"


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


def test_a_tiny_placeholder_outside_a_tiny_command_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("steps:\n  - {name: convert, run: 'python converters/agnews.py {fixture:agnews}'}\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"step convert: unknown placeholder \{fixture:agnews\}"):
        Layout(load_chain(str(path)), tmp_path, tiny=False).steps()


def test_each_published_number_is_written_in_its_chain_file_only() -> None:
    """A report's numbers live in its chain; recipe headers and READMEs point there instead of copying them."""
    shipped = [p for pattern in ("*.py", "*.md", "*.yaml", "*.json") for p in ROOT.rglob(pattern)
               if not {".venv", ".git", "outputs", "tests", "data"} & set(p.relative_to(ROOT).parts)]
    texts = {p: p.read_text(encoding="utf-8") for p in shipped}
    for name in chain_names():
        chain = ROOT / "recipes" / "reproduce" / f"{name}.yaml"
        written = re.findall(r"published: ([0-9.]+)", texts[chain])
        assert len(written) == len(load_chain(name).numbers)
        for value in written:
            found = sorted(str(p.relative_to(ROOT)) for p, text in texts.items()
                           if re.search(rf"(?<![0-9.]){re.escape(value)}(?![0-9])", text))
            assert found == [str(chain.relative_to(ROOT))], (value, found)
