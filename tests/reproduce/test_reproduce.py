"""scripts/reproduce.py: chain files, dry runs, plans, placeholders, where each published number is written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, run_script

from recipekit.errors import InputError
from recipekit.reproduce.chain import Layout, chain_names, is_recipe_token, load_chain

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
    result = run_cli("reproduce", "yelp5", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "python converters/yelp.py --hf Yelp/yelp_review_full --max-samples 8000 --val-size 500 --data-dir data" \
        in out
    assert "python scripts/train_classifier.py recipes/classifier/yelp5_bert_lora.yaml\n" in out
    assert ("# train; reads recipes/classifier/yelp5_bert_lora.yaml, "
            "data/dataset_info.json, data/yelp5.jsonl, "
            "data/yelp5_val.jsonl; writes saves/bert-base-uncased/lora/yelp5/classifier_run.json") in out
    assert "WANDB_RUN_GROUP=reproduce-yelp5 WANDB_DIR=outputs/reproduce/yelp5" in out
    assert "# card\npython scripts/report_card.py yelp5 --out outputs/reproduce/yelp5\n" in out
    assert "\nplan (the real run, on each recipe's report hardware):\n" in out
    assert "recipes/classifier/yelp5_bert_lora.yaml: 1x" in out and "GiB peak per GPU" in out  # the planner's line
    # once: the untuned step runs the same recipe with do_train=false, which trains nothing
    assert out.count("  recipes/classifier/yelp5_bert_lora.yaml: 1x") == 1
    assert out.index("# card") < out.index("plan (the real run")
    assert "plan (the real run" not in run_cli("reproduce", "yelp5", "--dry-run", "--no-plan").stdout


@pytest.mark.integration  # starts a process
def test_a_dry_run_prints_no_librarys_warnings() -> None:
    result = run_script("scripts/reproduce.py", "yelp5", "--dry-run")
    assert result.returncode == 0, result.stderr
    # only the planner's own line when its cache is empty
    assert [line for line in result.stderr.splitlines() if not line.startswith("plan: simulating")] == []


def test_deepspeed_steps_launch_through_torchrun_and_gpus_pass_through() -> None:
    result = run_cli("reproduce", "agnews", "--dry-run", "--no-plan", "--gpus", "4")
    assert result.returncode == 0, result.stderr
    train = next(line for line in result.stdout.splitlines() if "train recipes/agnews_full.yaml" in line)
    assert train.startswith("FORCE_TORCHRUN=1 NPROC_PER_NODE=4 WANDB_RUN_GROUP=reproduce-agnews ")


def test_a_tiny_dry_run_moves_every_written_folder_under_out(tmp_path: Path) -> None:
    result = run_cli("reproduce", "tulu_dpo", "--tiny", "--dry-run", "--no-plan", "--out", tmp_path)
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
    result = run_cli("reproduce", "imdb", "--dry-run")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no chain for report 'imdb' (known: afqmc, agnews, arena, tulu_dpo, yelp5)"
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {name: a, run: echo hi, retries: 2}\n", encoding="utf-8")
    result = run_cli("reproduce", bad, "--dry-run")
    assert result.returncode == 2 and result.stderr.strip() == f"error: {bad}: step a: unknown key(s) retries"
    bad.write_text("steps:\n  - {name: a, run: echo hi}\nnumbers:\n  - {name: x, published: 1, metric: auc, "
                   "report: '{out}'}\n", encoding="utf-8")
    result = run_cli("reproduce", bad, "--dry-run")
    assert result.returncode == 2 and "number x: unknown metric 'auc'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1



def test_a_tiny_placeholder_outside_a_tiny_command_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("steps:\n  - {name: convert, run: 'python converters/agnews.py {fixture:agnews}'}\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"step convert: unknown placeholder \{fixture:agnews\}"):
        Layout(load_chain(str(path)), tmp_path, tiny=False).steps()


def test_every_chain_names_its_reports_own_title_and_nothing_cites_a_file_only_this_machine_has() -> None:
    for name in chain_names():
        chain = load_chain(name)
        assert chain.report_title.startswith("《") and chain.report_title.endswith("》"), name
    shipped = [p for pattern in ("*.py", "*.md", "*.yaml") for p in ROOT.rglob(pattern)
               if not {".venv", ".git", "outputs", "tests", "mutants"} & set(p.relative_to(ROOT).parts)]
    assert [p for p in shipped if "shared/seeds" in p.read_text(encoding="utf-8")] == []


def test_each_published_number_is_written_in_its_chain_file_only() -> None:
    """A report's numbers live in its chain; recipe headers and READMEs point there instead of copying them."""
    shipped = [p for pattern in ("*.py", "*.md", "*.yaml", "*.json") for p in ROOT.rglob(pattern)
               if not {".venv", ".git", "outputs", "tests", "data", "mutants"} & set(p.relative_to(ROOT).parts)]
    texts = {p: p.read_text(encoding="utf-8") for p in shipped}
    for name in chain_names():
        chain = ROOT / "recipes" / "reproduce" / f"{name}.yaml"
        written = re.findall(r"published: ([0-9.]+)", texts[chain])
        assert len(written) == len(load_chain(name).numbers)
        for value in written:
            found = sorted(str(p.relative_to(ROOT)) for p, text in texts.items()
                           if re.search(rf"(?<![0-9.]){re.escape(value)}(?![0-9])", text))
            assert found == [str(chain.relative_to(ROOT))], (value, found)
