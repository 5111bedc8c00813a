"""`llm-recipes`: every subcommand reaches its script, both forms give the same result, and the library's layers."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, run_script, write_jsonl

from recipekit import commands
from recipekit.cli import parse_names, parse_pairs
from recipekit.data.dataset_info import dataset_base
from recipekit.errors import InputError

CONSOLE = Path(sys.executable).parent / "llm-recipes"


def every_script() -> list[tuple[list[str], str]]:
    found = []
    for name, target in commands.commands().items():
        if isinstance(target, dict):
            found += [([name, sub], script) for sub, script in target.items()]
        else:
            found.append(([name], target))
    return found


def help_sections(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The command listing of ``--help``: each heading (``data:``) with its commands' words and descriptions in
    order, wrapped lines joined."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for block in text.split("\n\n")[2:-1]:  # after the usage line and the summary, before the closing paragraph
        heading, *lines = block.splitlines()
        rows: list[tuple[str, str]] = []
        for line in lines:
            if line.startswith("  ") and not line.startswith("   "):
                rows.append(tuple(re.split(r"\s{2,}", line.strip(), maxsplit=1)))  # type: ignore[arg-type]
            else:
                rows[-1] = (rows[-1][0], f"{rows[-1][1]} {line.strip()}")
        sections.append((heading, rows))
    return sections


def help_entries(text: str) -> dict[str, str]:
    """Each command's words -> its description, from the listing of ``--help``."""
    return {name: description for _, rows in help_sections(text) for name, description in rows}


def test_help_lists_every_command_with_the_whole_first_sentence_of_its_docstring() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    entries = help_entries(result.stdout)
    assert all(len(line) <= 118 for line in result.stdout.splitlines())
    for words, script in every_script():
        source = (ROOT / (script.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        paragraph = " ".join(ast.get_docstring(ast.parse(source)).split("\n\n")[0].split())
        shown = entries[" ".join(words)]
        assert paragraph.startswith(shown) and shown[-1] in ".?!", (words, shown)  # never cut mid-sentence
    assert entries["check contamination"] == "Is a scored set in the training data?"
    assert entries["demo"].endswith("-> report, then the same held-out rows scored label by label "
                                    "(eval/score_labels.py) and reported with log loss and calibration.")
    converters = {p.stem for p in (ROOT / "recipekit" / "converters").glob("*.py")} - {"__init__", "catalog", "command",
                                                                                       "fixtures"}
    assert set(commands.commands()["convert"]) == converters == {
        "agnews", "yelp", "afqmc", "arena", "tulu", "ultrafeedback", "generic"}


def test_help_lists_every_command_once_under_its_stage_in_a_projects_order() -> None:
    converters = [f"convert {name}" for name in ("afqmc", "agnews", "arena", "generic", "tulu", "ultrafeedback",
                                                  "yelp")]
    stages = [("data:", [*converters, "check data", "check contamination"]),
              ("check and plan:", ["check recipes", "smoke", "plan", "doctor"]),
              ("train:", ["train-classifier", "sweep", "tiny-model"]),
              ("evaluate:", ["score", "report classify", "report gen", "checkpoints", "calibrate", "bench", "plot",
                             "compare", "submission"]),
              ("reproduce:", ["new", "reproduce", "report-card", "demo"]),
              ("export:", ["export"])]
    listed = [(heading, [name for name, _ in rows]) for heading, rows in help_sections(run_cli("--help").stdout)]
    assert listed == stages
    names = [name for _, rows in listed for name in rows]
    assert sorted(names) == sorted(" ".join(words) for words, _ in every_script())  # each command once
    unknown = run_cli("speed", "plan")
    assert unknown.returncode == 2 and unknown.stderr.startswith("llm-recipes: unknown command 'speed'")
    assert run_cli("mutation-score").returncode == 2


@pytest.mark.parametrize("name", ["bench_convert", "bench_gen_report", "bench_score_labels", "bench_plan",
                                  "bench_contamination", "bench_new", "mutation_score"])
def test_developer_tools_are_scripts_outside_the_package_with_an_example(name: str) -> None:
    result = run_cli(f"scripts/{name}.py", "--help")
    assert result.returncode == 0 and result.stdout.startswith(f"usage: {name}.py")
    assert f"    python scripts/{name}.py" in result.stdout.split("Example:", 1)[1]
    assert not (ROOT / "recipekit" / "commands" / f"{name}.py").exists()


def test_a_developer_tools_bad_flag_is_one_line_naming_the_script() -> None:
    for name, flag in (("bench_convert", "--rows"), ("bench_gen_report", "--workers"), ("bench_score_labels", "--rows"),
                       ("bench_new", "--gpus")):
        result = run_cli(f"scripts/{name}.py", flag, "0")
        assert (result.returncode, result.stderr) == (
            2, f"error: {name}.py: argument {flag}: must be at least 1, got 0 (see --help)\n")


@pytest.mark.integration
def test_make_runs_each_benchmark_with_its_flags_and_all_of_them_in_turn() -> None:
    def planned(*target: str) -> list[str]:
        done = subprocess.run(["make", "-n", *target], cwd=ROOT, capture_output=True, text=True, check=True)
        return [line.rstrip() for line in done.stdout.splitlines() if " scripts/bench_" in line]

    assert planned("bench-plan", "ARGS=--published --fit") == [
        ".venv/bin/python scripts/bench_plan.py --published --fit"]
    assert planned("bench") == [f".venv/bin/python scripts/bench_{name}.py" for name in (
        "convert", "gen_report", "plan", "contamination", "new", "score_labels")]  # the one needing the demo last


def test_the_readme_table_names_every_command() -> None:
    rows = [re.split(r"(?<!\\)\|", line)[1] for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `llm-recipes")]  # the first cell; "\|" inside it separates subcommands
    named = set(re.findall(r"[a-z][a-z-]*", " ".join(rows)))
    assert {words[0] for words, _ in every_script()} - named == set()


@pytest.mark.parametrize(("words", "script"), every_script(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_every_subcommand_is_a_script_with_main_and_an_example(words: list[str], script: str) -> None:
    result = run_cli(*words, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: llm-recipes {' '.join(words)}")  # argparse's prog names the subcommand
    assert "Example:" in result.stdout
    example = result.stdout.split("Example:", 1)[1]
    commands_shown = [line.strip() for line in example.splitlines() if line.startswith("    ")
                      and not line.startswith("     ") and not line.strip().startswith("#")]
    assert commands_shown, words
    # the example is typed as the README leads: the llm-recipes command itself (an environment variable or a make
    # target may come first)
    for line in commands_shown:
        assert re.match(r"^(?:[A-Z_]+=\S+ )*(?:make \w+(?: && llm-recipes |\s|$)|llm-recipes )", line), (words, line)
    assert any(f"llm-recipes {' '.join(words)}" in line for line in commands_shown), words
    assert callable(commands.load(script).main)


@pytest.mark.integration
def test_wrong_commands_are_one_line_and_exit_2() -> None:
    for argv, message in ((["nope"], "unknown command 'nope' (choose from convert, check,"),
                          (["report", "pie"], "report: unknown subcommand 'pie' (choose from classify, gen)"),
                          (["report"], "usage: llm-recipes report SUBCOMMAND")):
        done = subprocess.run([sys.executable, "-m", "recipekit.commands", *argv], capture_output=True, text=True,
                              cwd=ROOT, check=False)
        assert done.returncode == 2 and message in done.stderr, (argv, done.stderr)
        assert "Traceback" not in done.stderr and (len(done.stderr.strip().splitlines()) == 1 or argv == ["report"])


@pytest.mark.integration
def test_both_forms_write_the_same_report(tmp_path: Path) -> None:
    rows = [{"prompt": f"p{i}", "predict": "a" if i % 3 else "b", "label": "a" if i % 2 else "b"} for i in range(12)]
    path = write_jsonl(tmp_path / "pred.jsonl", rows)
    assert CONSOLE.is_file(), "pip install -e . installs the llm-recipes console script"
    console = subprocess.run([str(CONSOLE), "report", "classify", str(path), "--out", str(tmp_path / "a"),
                              "--bootstrap", "50"], capture_output=True, text=True, cwd=tmp_path, check=False)
    script = run_script("eval/classify_report.py", path, "--out", tmp_path / "b", "--bootstrap", "50")
    assert console.returncode == 0 and script.returncode == 0, console.stderr + script.stderr
    first, second = (json.loads((tmp_path / d / "classify_report.json").read_text("utf-8")) for d in "ab")
    first.pop("meta"), second.pop("meta")
    assert first == second and first["accuracy"] == pytest.approx(sum(
        (("a" if i % 3 else "b") == ("a" if i % 2 else "b")) for i in range(12)) / 12)
    failed = subprocess.run([str(CONSOLE), "report", "classify", str(tmp_path / "none.jsonl")], capture_output=True,
                            text=True, check=False)
    assert failed.returncode == 2 and failed.stderr.strip().endswith("none.jsonl: no such file")


def test_key_value_and_name_parsers() -> None:
    assert parse_pairs(" 0 = no , 1=yes", "--label-map") == {"0": "no", "1": "yes"}
    with pytest.raises(InputError, match=r"--flip expects LABEL=LABEL pairs separated by commas, got 'A'"):
        parse_pairs("A", "--flip", "LABEL=LABEL")
    with pytest.raises(InputError, match="--columns names 'A' twice"):
        parse_pairs("A=x,A=y", "--columns")
    assert parse_names("x, y", 2, "--answers") == ["x", "y"]
    with pytest.raises(InputError, match="--answers needs 2 distinct"):
        parse_names("x,x", 2, "--answers")


def test_dataset_base_groups_every_name_one_conversion_writes() -> None:
    for name in ("arena", "arena_val", "arena_test", "arena_pref", "arena_val_swapped", "arena_test_swapped"):
        assert dataset_base(name) == "arena"
    assert dataset_base("my_validation") == "my_validation"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_library_layers_point_one_way() -> None:
    """The library never imports the scripts above it; data and recipes know nothing of eval or reports; eval
    computes and draws nothing."""
    rules = {"data": ("recipekit.eval", "recipekit.report", "recipekit.recipes", "recipekit.classify", "matplotlib"),
             "eval": ("recipekit.report", "recipekit.recipes", "recipekit.classify", "matplotlib"),
             "recipes": ("recipekit.eval", "recipekit.report"),
             "classify": ("recipekit.report", "matplotlib")}
    for path in (ROOT / "recipekit").rglob("*.py"):
        names = imports_of(path)
        assert not any(n.split(".")[0] in ("converters", "eval", "scripts") for n in names), path
        layer = path.relative_to(ROOT / "recipekit").parts[0]
        for forbidden in rules.get(layer, ()):
            assert not any(n == forbidden or n.startswith(forbidden + ".") for n in names), (path, forbidden)
        assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), f"{path} has no module docstring"


def test_version_and_root_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recipekit import __version__
    from recipekit.paths import root

    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"llm-recipes {__version__}"
    missing = run_cli("--root", tmp_path / "nowhere", "check", "recipes")
    assert missing.returncode == 2 and missing.stderr.strip() == (
        f"error: llm-recipes: --root: no such folder: {tmp_path / 'nowhere'}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM_RECIPES_ROOT", raising=False)
    assert root() == tmp_path.resolve()
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(ROOT))
    assert root() == ROOT.resolve()


@pytest.mark.integration  # every shipped recipe checked twice, two plans and two chains: 20 s
def test_root_is_where_commands_find_recipes_chains_and_outputs(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """From another folder, --root reads the same recipes as a run in the repository; a recipe path is read as
    given first, then under the root; a folder without chains names --root."""
    monkeypatch.delenv("LLM_RECIPES_ROOT", raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    at_home, away = run_cli("check", "recipes"), run_cli("--root", ROOT, "check", "recipes", cwd=elsewhere)
    assert away.returncode == at_home.returncode, away.stderr
    said = [[line for line in ran.stdout.replace(f"{ROOT}/", "").splitlines() if not line.startswith("[")
                 and "still running, elapsed" not in line]
            for ran in (at_home, away)]  # less DeepSpeed's one-time accelerator line and the timed heartbeats
    assert said[0] == said[1]  # every recipe, the same findings and data notes
    assert at_home.stdout.count(": ok") > 20
    (elsewhere / "recipes").mkdir()
    (elsewhere / "recipes" / "yelp5_lora.yaml").write_text("model_name_or_path: [", encoding="utf-8")
    own = run_cli("--root", ROOT, "check", "recipes", "recipes/yelp5_lora.yaml", cwd=elsewhere)
    assert own.returncode == 2 and own.stderr.startswith("error: recipes/yelp5_lora.yaml:")  # the one given, here
    planned = run_cli("--root", ROOT, "plan", "recipes/classifier/yelp5_bert_lora.yaml", "--gpu", "t4", "--out",
                      tmp_path / "plan", cwd=elsewhere)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text(encoding="utf-8"))
    assert plan["recipe"] == "recipes/classifier/yelp5_bert_lora.yaml" and plan["fits"] is True
    zero3 = run_cli("--root", ROOT, "plan", "recipes/agnews_full.yaml", "--gpu", "a100-80g", "--seq", "64", "--out",
                    tmp_path / "plan3", cwd=elsewhere)  # its DeepSpeed config is a path of the repository too
    assert zero3.returncode == 0, zero3.stderr
    assert "ZeRO-3" in (tmp_path / "plan3" / "plan.md").read_text(encoding="utf-8")
    nothing = run_cli("reproduce", "yelp5", "--dry-run", cwd=elsewhere)
    assert nothing.returncode == 2 and nothing.stderr == (
        f"error: no chain for report 'yelp5': there is no {elsewhere}/recipes/reproduce (the repository root is "
        f"{elsewhere}: run from the repository, or name it with `llm-recipes --root DIR`)\n")
    dry = run_cli("--root", ROOT, "reproduce", "yelp5", "--dry-run", "--no-plan", cwd=elsewhere)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0].startswith(f"reproduce yelp5: Yelp-5 bert-base-uncased LoRA against the "
                                                 f"untuned model; 9 steps in {ROOT}/outputs/reproduce/yelp5 ")
    assert list(elsewhere.iterdir()) == [elsewhere / "recipes"]  # nothing written here


def test_no_cycle_between_the_librarys_packages() -> None:
    """Function-level imports included: a package never reaches back to itself through another."""
    edges: dict[str, set[str]] = {}
    for path in (ROOT / "recipekit").rglob("*.py"):
        parts = path.relative_to(ROOT / "recipekit").parts
        if len(parts) < 2:
            continue  # the top-level modules (paths, errors, files, cli, steps) are below every package
        targets = {n.split(".")[1] for n in imports_of(path) if n.startswith("recipekit.") and len(n.split(".")) > 2}
        edges.setdefault(parts[0], set()).update(targets - {parts[0]})

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
                   for nxt in edges.get(start, ()))

    cycles = [package for package in edges if reaches(package, package, {package})]
    assert not cycles, {p: sorted(edges[p]) for p in cycles}


@pytest.mark.integration
def test_help_read_by_a_reader_that_stops_early_ends_without_a_traceback() -> None:
    """`llm-recipes --help | head -1` once head has gone: every write meets a closed pipe, which ends the command
    quietly (exit 1, as Python's documentation advises) instead of in a BrokenPipeError traceback."""
    import os

    for argv in (["--help"], ["report", "--help"]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader has stopped before the first write: deterministic
        try:
            done = subprocess.run([sys.executable, "-m", "recipekit.commands", *argv], cwd=ROOT, stdout=write_end,
                                  stderr=subprocess.PIPE, timeout=60)
        finally:
            os.close(write_end)
        assert done.returncode == 1 and done.stderr == b"", (argv, done.stderr.decode()[-500:])
