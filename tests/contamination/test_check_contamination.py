"""llm-recipes check contamination on sets with planted contamination: an exact copy, an edited copy (case,
spaces, punctuation, full-width letters), a 13-gram inside a longer row, a paraphrase by word swaps, and rows
that come close without crossing any rule. The expected counts are worked out from how each row was made."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import run_cli, write_jsonl

from recipekit.eval.benchmarks import multiple_choice_task

WORDS = 40  # words per scored row: 3 words swapped every 10 leave no 13-gram and a bigram Jaccard of 33/45 (39
# bigrams in each row once the shared instruction is masked out, 6 of them changed by the swaps)


def vocabulary(seed: int = 7, size: int = 3000) -> list[str]:
    rng = random.Random(seed)
    letters = "bcdfghjklmnprstvz"
    return sorted({"".join(rng.choice(letters) + rng.choice("aeiou") for _ in range(3)) for _ in range(size)})


VOCAB = vocabulary()


def sentence(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n)]


TEMPLATE = ("Read the following short report about one of the topics below and answer with the number of its "
            "topic only, nothing else.")  # every row's instruction: 20 words that are not contamination


def alpaca(text: str, label: str = "x", **extra: object) -> dict[str, object]:
    return {"instruction": TEMPLATE, "input": text, "output": label, **extra}


def register(data: Path, names: list[str]) -> None:
    (data / "dataset_info.json").write_text(json.dumps({
        name: {"file_name": f"{name}.jsonl", "formatting": "alpaca",
               "columns": {"prompt": "instruction", "query": "input", "response": "output"}} for name in names}),
        encoding="utf-8")


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, list[list[str]]]:
    rng = random.Random(1)
    data = tmp_path / "data"
    data.mkdir()
    scored = [sentence(rng, WORDS) for _ in range(20)]
    write_jsonl(data / "news_val.jsonl", [alpaca(" ".join(w), id=f"v{i}") for i, w in enumerate(scored)])
    training = [alpaca(" ".join(sentence(rng, WORDS))) for _ in range(200)]
    edited = " ".join(scored[1]).upper().replace(" ", "  ", 3) + " !"
    edited = "\uff21" + edited[1:] if edited[0] == "A" else edited.replace(edited[0], chr(ord(edited[0]) + 0xFEE0), 1)
    inside = sentence(rng, 20) + scored[2][5:18] + sentence(rng, 20)
    swapped = list(scored[3])
    for position in (10, 20, 30):
        swapped[position] = "zzzword"
    near_miss = sentence(rng, 20) + scored[4][0:12] + sentence(rng, 20)  # 12 words in common: under 13
    planted_rows = [alpaca(" ".join(scored[0])), alpaca(edited), alpaca(" ".join(inside)),
                    alpaca(" ".join(swapped)), alpaca(" ".join(near_miss))]
    rows = training[:50] + planted_rows + training[50:]
    write_jsonl(data / "news.jsonl", rows)
    register(data, ["news", "news_val"])
    return data, scored


def test_each_planted_row_is_found_by_its_methods_and_nothing_else(planted: tuple[Path, list], tmp_path: Path) -> None:
    data, _ = planted
    ran = run_cli("check", "contamination", "--train", "news", "--data-dir", data, "--out", tmp_path / "report")
    assert ran.returncode == 0, ran.stderr
    report = json.loads((tmp_path / "report" / "contamination.json").read_text(encoding="utf-8"))
    (pair,) = report["pairs"]  # news_val comes in as news's registered held-out set
    assert (pair["training"], pair["scored"], pair["scored_rows"]) == ("news", "news_val", 20)
    methods = {m: (v["scored_rows"], v["training_rows"]) for m, v in pair["methods"].items()}
    # exact: the copy and the edited copy; 13-gram: those and the embedded run; near: the copies and the swap
    assert methods == {"exact": (2, 2), "ngram": (3, 3), "near": (3, 3)}
    assert (pair["any"]["scored_rows"], pair["any"]["training_rows"]) == (4, 4)
    assert pair["scored_ids"] == ["v0", "v1", "v2", "v3"]
    swap = next(e for e in pair["examples"] if e["scored_id"] == "v3")
    assert swap["method"] == "near" and swap["jaccard"] == pytest.approx(33 / 45, abs=1e-3)
    assert report["sets"]["news"]["rows"] == 205 and report["sets"]["news_val"]["side"] == "scored"
    markdown = (tmp_path / "report" / "contamination.md").read_text(encoding="utf-8")
    assert "| news | news_val | 20 | 2 (10.0%) / 2 | 3 (15.0%) / 3 | 3 (15.0%) / 3 | 4 (20.0%) / 4 |" in markdown
    assert "13 normalised words" in markdown and "Jaccard of the shingle sets is >= 0.7" in markdown


def test_drop_writes_a_new_training_set_and_leaves_the_scored_side(planted: tuple[Path, list], tmp_path: Path) -> None:
    data, _ = planted
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    ran = run_cli("check", "contamination", "--train", "news", "--data-dir", data, "--out", tmp_path / "r", "--drop")
    assert ran.returncode == 0, ran.stderr
    assert "train on it with `dataset=news_decon`" in ran.stdout
    kept = [json.loads(line) for line in (data / "news_decon.jsonl").read_text(encoding="utf-8").splitlines()]
    originals = [json.loads(line) for line in (data / "news.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(kept) == 201 and kept == originals[:50] + originals[54:]  # the 4 planted matches out, the near miss in
    registry = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    assert registry["news_decon"]["file_name"] == "news_decon.jsonl"
    for name in ("news.jsonl", "news_val.jsonl"):
        assert (data / name).read_bytes() == before[name]
    again = run_cli("check", "contamination", "--train", "news_decon", "--against", "news_val", "--data-dir", data,
                    "--out", tmp_path / "r2")
    assert again.returncode == 0 and "No scored row was found in any training set." in again.stdout


def test_drop_that_would_empty_a_set_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "tiny.jsonl", [{"instruction": "The same question about markets today", "output": "x"}])
    write_jsonl(data / "tiny_val.jsonl", [{"instruction": "the same QUESTION, about markets today.", "output": "x"}])
    register(data, ["tiny", "tiny_val"])
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    ran = run_cli("check", "contamination", "--train", "tiny", "--data-dir", data, "--drop", "--out", tmp_path / "r")
    assert ran.returncode == 2 and "would leave tiny with 0 rows" in ran.stderr
    assert ran.stderr.strip().count("\n") == 0
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before
    assert not (tmp_path / "r" / "contamination.json").exists()


@pytest.mark.integration  # lm-evaluation-harness's import and task loading
def test_a_benchmark_task_is_read_through_lm_eval(planted: tuple[Path, list], tmp_path: Path) -> None:
    data, scored = planted
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    questions = write_jsonl(tasks / "mc.jsonl", [{"question": " ".join(scored[i]), "choices": ["a", "b"], "answer": 0}
                                                 for i in (0, 5, 6)])
    (tasks / "tiny_mc.yaml").write_text(multiple_choice_task("tiny_mc", questions, "Question: {{question}}\nAnswer:"),
                                        encoding="utf-8")
    suite = tmp_path / "suite.yaml"
    suite.write_text("dimensions:\n  knowledge: {tasks: [tiny_mc], shots: 0}\n", encoding="utf-8")
    ran = run_cli("check", "contamination", "--train", "news", "--against", "news_val", "--data-dir", data,
                  "--suite", suite, "--include-path", tasks, "--out", tmp_path / "r")
    assert ran.returncode == 0, ran.stderr
    report = json.loads((tmp_path / "r" / "contamination.json").read_text(encoding="utf-8"))
    pair = next(p for p in report["pairs"] if p["scored"] == "lm-eval:tiny_mc")
    # the exact copy of the first question in training: its 40 words (13-grams) and near (the prompt adds 2 words)
    assert pair["scored_rows"] == 3 and pair["scored_ids"] == ["tiny_mc:0"]
    assert {m: v["scored_rows"] for m, v in pair["methods"].items()} == {"exact": 0, "ngram": 1, "near": 1}


@pytest.mark.parametrize(("flags", "says"), [
    (["--train", "news"], "nothing to compare"),
    (["--train", "nope", "--against", "news_val"], "dataset 'nope' is not registered"),
    (["--train", "news", "--name", "x"], "--name goes with --drop"),
    (["--train", "news", "--drop", "--name", "news_val"], "is a scored set"),
    (["--train", "news", "--threshold", "2"], "--threshold"),
    (["--train", "news/../x"], "a name, not a path"),
])
def test_bad_input_is_one_line(tmp_path: Path, flags: list[str], says: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "news.jsonl", [alpaca("one row")])
    write_jsonl(data / "news_val.jsonl", [alpaca("another row")])
    register(data, ["news"] + (["news_val"] if "news_val" in flags or "--name" in flags else []))
    ran = run_cli("check", "contamination", *flags, "--data-dir", data, "--out", tmp_path / "r")
    assert ran.returncode == 2 and says in ran.stderr, ran.stderr
    assert ran.stderr.strip().count("\n") == 0
