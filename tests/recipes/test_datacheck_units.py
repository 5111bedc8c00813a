"""What LLaMA-Factory's data pipeline makes of a registered set: the length statistics, each aligned row's
comparable key, where a model's tokenizer is found, the tiny BPE trained on the data, the report ``check data``
prints, and (integration) the token counts, answers and shared rows LLaMA-Factory's own loader gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import command_module, write_jsonl

from recipekit.errors import InputError
from recipekit.recipes.datacheck import (
    TOKENIZER_SAMPLE_ROWS,
    UNTRUNCATED,
    CheckSettings,
    local_tokenizer,
    measured_seq,
    row_keys,
    stats,
    tiny_tokenizer,
)
from recipekit.recipes.reading import Recipe

check_data = command_module("check", "data")


def test_length_statistics_by_hand() -> None:
    assert stats([], 10) == {"mean": 0.0, "p50": 0, "p95": 0, "max": 0, "over_cutoff": 0}
    # p50 of 10..40 lies half way between 20 and 30; p95 at 0.95 * 3 = 2.85 of the way: 30 + 0.85 * 10 = 38.5
    assert stats([40, 10, 30, 20], 30) == {"mean": 25.0, "p50": 25, "p95": 38, "max": 40, "over_cutoff": 1}
    assert stats([40, 10, 30, 20], 29)["over_cutoff"] == 2  # a row at the cutoff is not over it
    assert stats([1, 2, 2], 0) == {"mean": 1.67, "p50": 2, "p95": 2, "max": 2, "over_cutoff": 3}
    # two rows 0 and 100: the q-th percentile is q itself, so p50 and p95 are exactly 50 and 95
    assert stats([100, 0], 100) == {"mean": 50.0, "p50": 50, "p95": 95, "max": 100, "over_cutoff": 0}
    assert all(type(v) is int for k, v in stats([3, 5], 4).items() if k != "mean")
    assert (UNTRUNCATED, TOKENIZER_SAMPLE_ROWS) == (1_000_000, 2000)
    settings = CheckSettings("d", None, 5)
    assert settings.max_labels == 20


def test_a_rows_key_is_what_the_model_sees_in_a_fixed_column_order() -> None:
    from datasets import Dataset

    aligned = Dataset.from_dict({
        "_response": [[{"role": "assistant", "content": "é"}], []],
        "_prompt": [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "yo"}]],
        "_images": [None, None], "_system": ["sys", ""], "_tools": ["", "t"]})
    assert row_keys(aligned) == [
        '["sys", "", [{"content": "hi", "role": "user"}], [{"content": "é", "role": "assistant"}]]',
        '["", "t", [{"content": "yo", "role": "user"}], []]']
    assert row_keys(Dataset.from_dict({"_prompt": [[]], "_other": [1]})) == ["[[]]"]


def test_a_models_tokenizer_is_local_in_a_folder_or_the_hub_cache(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    folder = tmp_path / "model"
    folder.mkdir()
    assert local_tokenizer(str(folder)) is None  # a folder without a tokenizer
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    assert local_tokenizer(str(folder)) == str(folder)
    cache = tmp_path / "hub"
    snapshot = cache / "models--org--name" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    (cache / "models--org--name" / "refs").mkdir()
    (cache / "models--org--name" / "refs" / "main").write_text("abc123", encoding="utf-8")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    assert local_tokenizer("org/name") == str(snapshot)
    assert local_tokenizer("org/other") is None  # not in the cache
    bare = cache / "models--name" / "snapshots" / "abc123"
    bare.mkdir(parents=True)
    (bare / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    (cache / "models--name" / "refs").mkdir()
    (cache / "models--name" / "refs" / "main").write_text("abc123", encoding="utf-8")
    assert local_tokenizer("name") is None and local_tokenizer("a/org/name") is None  # not ORG/NAME
    assert local_tokenizer("org/") is None and local_tokenizer("or g/na me") is None  # malformed ids


def saved_vocab(folder: Path) -> dict[str, int]:
    return json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]


def test_the_tiny_bpe_is_trained_on_the_first_rows_of_each_file(tmp_path: Path) -> None:
    from recipekit.recipes.tiny_model import train_tokenizer

    first = write_jsonl(tmp_path / "a.jsonl", [{"q": f"alpha beta {i}", "a": ""} for i in range(4000)] +
                        [{"q": "zqxj " * 50}])  # string 8001 of this file: past the sample
    second = write_jsonl(tmp_path / "b.jsonl", [{"q": "gamma delta", "a": "yes"}])
    out = tmp_path / "tok"
    assert tiny_tokenizer([first, second], out) == str(out)
    texts = [*[t for i in range(4000) for t in (f"alpha beta {i}", "")][:8000], "gamma delta", "yes"]
    expected = tmp_path / "expected"
    train_tokenizer([t for t in texts if t], 2048, []).save_pretrained(expected)
    assert saved_vocab(out) == saved_vocab(expected)
    assert "zq" not in saved_vocab(out) and len(saved_vocab(out)) <= 2048
    empty = write_jsonl(tmp_path / "e.jsonl", [{"q": ""}])
    tiny_tokenizer([empty], tmp_path / "tok2")
    train_tokenizer(["empty"], 2048, []).save_pretrained(tmp_path / "expected2")
    assert saved_vocab(tmp_path / "tok2") == saved_vocab(tmp_path / "expected2")


def test_a_recipe_without_a_dataset_cannot_be_measured(tmp_path: Path) -> None:
    recipe = Recipe(tmp_path / "r.yaml", {"model_name_or_path": "org/m", "stage": "sft", "do_train": True,
                                          "finetuning_type": "lora", "template": "default", "output_dir": "o"},
                    classifier=False)
    with pytest.raises(InputError) as caught:
        measured_seq(recipe, "recipes/mine.yaml")
    assert str(caught.value) == "recipes/mine.yaml: --data: the recipe names no dataset"


REPORT = {"rows_kept": 3, "rows_in_file": 4, "format": "sharegpt", "ranking": False,
          "tokenizer": "a tiny BPE", "tokens": {"mean": 12.5, "p50": 12, "p95": 20, "max": 21, "over_cutoff": 1},
          "cutoff_len": 20, "dropped_by_llamafactory": 0}


def test_a_sets_report_in_lines() -> None:
    assert check_data.render("s", REPORT) == [
        "s: 3 rows kept of 4 (sharegpt)",
        "  tokens per row (a tiny BPE): mean 12.5, p50 12, p95 20, max 21; 1 row(s) longer than cutoff_len 20"]
    full = {**REPORT, "ranking": True, "dropped_by_llamafactory": 1,
            "duplicates": {"exact": 2, "near": 1, "rule": "Jaccard >= 0.7",
                           "examples": [{"row": "line 3", "like": "line 1", "jaccard": 0.75, "text": "abc"}]},
            "labels": {"yes": 3, "": 1}}
    assert check_data.render("p", full) == [
        "p: 3 rows kept of 4 (sharegpt, ranking)",
        "  tokens per row (a tiny BPE): mean 12.5, p50 12, p95 20, max 21; 1 row(s) longer than cutoff_len 20",
        "  ERROR: LLaMA-Factory dropped 1 row(s) as invalid",
        "  repeats: 2 row(s) repeat an earlier row (normalised prompt), 1 nearly (Jaccard >= 0.7)",
        "    line 3 ~ line 1 (Jaccard 0.75): abc",
        "  answers: yes 3 (75.0%), (empty: predict-ready) 1 (25.0%)"]
    none = {**REPORT, "duplicates": {"exact": 0, "near": 0, "rule": "r", "examples": []}, "labels": {"a": 2}}
    assert check_data.render("n", none)[2:] == ["  repeats: 0 row(s) repeat an earlier row (normalised prompt), 0 "
                                                "nearly (r)", "  answers: a 2 (100.0%)"]
    assert len(check_data.render("n", {**REPORT, "duplicates": {}})) == 2  # nothing found: no repeats line


def test_overlap_compares_exactly_two_sets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b", "c"):
        write_jsonl(tmp_path / f"{name}.jsonl", [{"instruction": "q", "output": "x"}])
    (tmp_path / "dataset_info.json").write_text(json.dumps({n: {"file_name": f"{n}.jsonl"} for n in "abc"}),
                                                encoding="utf-8")
    for names in (["a"], ["a", "b", "c"]):
        with pytest.raises(SystemExit) as stopped:
            check_data.main([*names, "--data-dir", str(tmp_path), "--overlap"])
        assert stopped.value.code == 2
        assert capsys.readouterr().err == (f"error: --overlap compares two datasets, got {len(names)}: "
                                           f"{' '.join(names)}\n")


# LLaMA-Factory's own loader, aligner, template and tokenizing processor on tiny sets (seconds each)


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recipekit.recipes.tiny_model import train_tokenizer

    folder = tmp_path_factory.mktemp("tok")
    texts = ["What is the topic of this news story about markets and shares", "sports", "world", "business",
             "The match ended with a late goal", "good answer", "weak answer"] * 20
    train_tokenizer(texts, 300, []).save_pretrained(folder)
    return folder


def by_hand(folder: Path, prompt: str, answer: str) -> int:
    """Tokens of one turn in LLaMA-Factory's ``default`` template: ``Human: {prompt}`` EOS ``\\nAssistant:`` then
    ``{answer}`` EOS ``\\n``, each text piece encoded on its own, no BOS."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    return len(encode(f"Human: {prompt}")) + 1 + len(encode("\nAssistant:")) + len(encode(answer)) + 1 + \
        len(encode("\n"))


def alpaca_set(data: Path, name: str, rows: list[dict], **entry: object) -> dict:
    """Rows registered as ``name`` (Alpaca rows get an empty ``input`` where they have none, as converters write)."""
    write_jsonl(data / f"{name}.jsonl", [r if "messages" in r or "input" in r else {**r, "input": ""} for r in rows])
    registry_path = data / "dataset_info.json"
    registry = json.loads(registry_path.read_text(encoding="utf-8")) if registry_path.exists() else {}
    registry[name] = {"file_name": f"{name}.jsonl", **entry}
    registry_path.write_text(json.dumps(registry), encoding="utf-8")
    return registry[name]


@pytest.mark.integration  # LLaMA-Factory's data pipeline
@pytest.mark.mutation
def test_token_counts_and_answers_are_llamafactorys(tmp_path: Path, tokenizer_folder: Path) -> None:
    from recipekit.recipes.datacheck import check_one

    rows = [{"instruction": "What is the topic", "input": "The match ended with a late goal", "output": "sports"},
            {"instruction": "What is the topic", "input": "", "output": "world"},
            {"instruction": "What is the topic of this news story about markets and shares", "output": "business"},
            {"instruction": "What is the topic", "input": "shares", "output": "sports"}]
    entry = alpaca_set(tmp_path, "news", rows)
    expected = [by_hand(tokenizer_folder, "What is the topic\nThe match ended with a late goal", "sports"),
                by_hand(tokenizer_folder, "What is the topic", "world"),
                by_hand(tokenizer_folder, rows[2]["instruction"], "business"),
                by_hand(tokenizer_folder, "What is the topic\nshares", "sports")]
    cutoff = sorted(expected)[1]  # two rows are longer
    lengths: list[int] = []
    report = check_one("news", entry, CheckSettings(str(tmp_path), "default", cutoff), str(tokenizer_folder), lengths)
    assert lengths == expected
    assert report == {"rows_in_file": 4, "rows_kept": 4, "dropped_by_llamafactory": 0, "format": "alpaca",
                      "ranking": False, "tokens": stats(expected, cutoff), "cutoff_len": cutoff,
                      "labels": {"sports": 2, "business": 1, "world": 1}}
    assert report["tokens"]["over_cutoff"] == 2 and report["tokens"]["max"] == max(expected)
    assert list(report["labels"].items()) == [("sports", 2), ("business", 1), ("world", 1)]  # most first, then A-Z
    exactly = check_one("news", entry, CheckSettings(str(tmp_path), "default", cutoff, max_labels=3),
                        str(tokenizer_folder))
    assert exactly["labels"] == report["labels"]  # as many answers as --max-labels: shown
    few = check_one("news", entry, CheckSettings(str(tmp_path), "default", cutoff, max_labels=2),
                    str(tokenizer_folder))
    assert "labels" not in few  # three answers, at most two shown
    distinct = alpaca_set(tmp_path, "open", [{"instruction": "q", "output": a} for a in ("good answer", "weak answer")])
    assert "labels" not in check_one("open", distinct, CheckSettings(str(tmp_path), "default", 10),
                                     str(tokenizer_folder))  # every row its own answer: free text
    one = alpaca_set(tmp_path, "one", [{"instruction": "q", "output": "world"}])
    assert check_one("one", one, CheckSettings(str(tmp_path), "default", 10), str(tokenizer_folder))["labels"] == {
        "world": 1}
    gaps = alpaca_set(tmp_path, "gaps", [{"instruction": "q", "output": a} for a in ("world", None, "world", "sports")])
    report = check_one("gaps", gaps, CheckSettings(str(tmp_path), "default", 10), str(tokenizer_folder))
    assert (report["rows_kept"], report["dropped_by_llamafactory"]) == (3, 1)  # no answer: LLaMA-Factory drops it
    assert list(report["labels"].items()) == [("world", 2), ("", 1), ("sports", 1)]  # and it is counted as blank


@pytest.mark.integration  # LLaMA-Factory's data pipeline
@pytest.mark.mutation
def test_a_sharegpt_set_is_reported_as_one_and_llamafactorys_example_is_not_printed(
        tmp_path: Path, tokenizer_folder: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from recipekit.recipes.datacheck import check_one

    answers = ["world", "sports"] * 2
    rows = [{"messages": [{"role": "user", "content": f"What is the topic {i}"},
                          {"role": "assistant", "content": answer}]} for i, answer in enumerate(answers)]
    entry = alpaca_set(tmp_path, "chat", rows, formatting="sharegpt",
                       columns={"messages": "messages"},
                       tags={"role_tag": "role", "content_tag": "content", "user_tag": "user",
                             "assistant_tag": "assistant"})
    capfd.readouterr()
    report = check_one("chat", entry, CheckSettings(str(tmp_path), "default", 100), str(tokenizer_folder))
    assert (report["format"], report["rows_kept"], report["labels"]) == ("sharegpt", 4, {"sports": 2, "world": 2})
    assert "What is the topic" not in capfd.readouterr().out  # LLaMA-Factory's tokenized example stays inside


@pytest.mark.integration  # LLaMA-Factory's data pipeline
@pytest.mark.mutation
def test_a_preference_rows_length_is_its_longer_side(tmp_path: Path, tokenizer_folder: Path) -> None:
    from recipekit.recipes.datacheck import check_one

    columns = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}
    rows = [{"instruction": "What is the topic", "input": "", "chosen": "good answer",
             "rejected": "weak answer The match ended with a late goal"},
            {"instruction": "sports", "input": "", "chosen": "The match ended with a late goal", "rejected": "weak"}]
    entry = alpaca_set(tmp_path, "pref", rows, ranking=True, columns=columns)
    expected = [max(by_hand(tokenizer_folder, r["instruction"], r["chosen"]),
                    by_hand(tokenizer_folder, r["instruction"], r["rejected"])) for r in rows]
    lengths: list[int] = []
    report = check_one("pref", entry, CheckSettings(str(tmp_path), "default", 1000), str(tokenizer_folder), lengths)
    assert lengths == expected
    assert report["ranking"] is True and "labels" not in report and report["rows_kept"] == 2


@pytest.mark.integration  # LLaMA-Factory's data pipeline
@pytest.mark.mutation
def test_shared_rows_of_two_sets_in_different_formats(tmp_path: Path, tokenizer_folder: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from recipekit.recipes.datacheck import overlap

    alpaca_set(tmp_path, "val", [{"instruction": "q1", "output": "a"}, {"instruction": "q2", "output": "b"},
                                 {"instruction": "q2", "output": "b"}, {"instruction": "q3", "output": "c"}])
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
    chat = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            for q, a in (("q2", "b"), ("q3", "other"), ("q1", "a"), ("q1", "a"), ("q9", "z"))]
    alpaca_set(tmp_path, "train", chat, formatting="sharegpt", columns={"messages": "messages"}, tags=tags)
    registry = json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
    found = overlap(["val", "train"], registry, CheckSettings(str(tmp_path), "default", 100), str(tokenizer_folder))
    assert found == {"sets": ["val", "train"], "rows": {"val": 4, "train": 5},
                     "repeated_inside": {"val": 1, "train": 1}, "rows_of_first_in_second": 3, "distinct_shared": 2}
    out = tmp_path / "overlap.json"
    with pytest.raises(SystemExit) as stopped:
        check_data.main(["val", "train", "--data-dir", str(tmp_path), "--overlap", "--model", str(tokenizer_folder),
                         "--json", str(out)])
    assert stopped.value.code == 1
    assert capsys.readouterr().out.splitlines() == [
        "val (4 rows) against train (5 rows): 3 row(s) of val are also in train (2 distinct)",
        "  val: 1 row(s) repeat another row of val", "  train: 1 row(s) repeat another row of train"]
    assert json.loads(out.read_text(encoding="utf-8")) == found
    alpaca_set(tmp_path, "fresh", [{"instruction": "new", "output": "n"}])
    assert check_data.main(["fresh", "train", "--data-dir", str(tmp_path), "--overlap"])["rows_of_first_in_second"] == 0
    assert capsys.readouterr().out.splitlines() == [
        "fresh (1 rows) against train (5 rows): 0 row(s) of fresh are also in train (0 distinct)",
        "  train: 1 row(s) repeat another row of train"]


@pytest.mark.integration  # LLaMA-Factory's data pipeline
@pytest.mark.mutation
def test_a_recipes_longest_row_by_the_models_tokenizer_or_a_tiny_bpe(tmp_path: Path, tokenizer_folder: Path) -> None:
    from recipekit.recipes.datacheck import row_lengths

    data = tmp_path / "data"
    data.mkdir()
    alpaca_set(data, "d", [{"instruction": "sports", "output": "world"},
                           {"instruction": "What is the topic of this news story", "output": "business"}])
    expected = [by_hand(tokenizer_folder, "sports", "world"),
                by_hand(tokenizer_folder, "What is the topic of this news story", "business")]
    recipe = Recipe(tmp_path / "r.yaml", {"model_name_or_path": str(tokenizer_folder), "stage": "sft",
                                          "do_train": True, "finetuning_type": "lora", "template": "default",
                                          "dataset": "d", "dataset_dir": str(data), "output_dir": "o",
                                          "cutoff_len": max(expected) - 1}, classifier=False)
    assert measured_seq(recipe, "r.yaml") == (max(expected) - 1, f"--data: longest row {max(expected)} tokens by "
                                              "the model's tokenizer", expected)
    roomy = recipe.with_values({"cutoff_len": 4096})
    assert measured_seq(roomy, "r.yaml")[0] == max(expected)
    registry = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    lengths, how = row_lengths(data, ["d"], registry, "org/not-on-this-machine", "default")
    assert how == "a tiny BPE trained on the data (approximate: the model's tokenizer is not on this machine)"
    assert len(lengths) == 2 and 0 < lengths[0] < lengths[1]
    # trained on these rows, the tokenizer has their words whole: fewer tokens than the row and its template have
    # characters (a tokenizer that never saw them counts about one a character)
    assert lengths[1] < len("Human: What is the topic of this news story\nAssistant: business")
    alpaca_set(data, "broken", [{"instruction": "q", "output": "a"}], formatting="sharegpt",
               columns={"messages": "conversations"})
    broken = recipe.with_values({"dataset": "broken"})
    with pytest.raises(InputError) as caught:
        measured_seq(broken, "r.yaml")
    assert str(caught.value).startswith("r.yaml: --data: LLaMA-Factory could not load broken: ")
    assert "\n" not in str(caught.value)
