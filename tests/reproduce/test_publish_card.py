"""The report card written into a reproduction's folder (JSON, Markdown, PNG, the Markdown printed) and, with
wandb, logged as an offline run of the reproduction's group: its numbers, its table of rows, its figure and config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import finished_run_file
from PIL import Image

from recipekit.report.card import render_markdown
from recipekit.report.wandb import run_facts
from recipekit.reproduce.card import build_card
from recipekit.reproduce.chain import Layout, load_chain
from recipekit.reproduce.publish import write_card

TINY_VERDICT = "no verdict (tiny run)"


def untuned_report(out: Path, intervals: bool = True) -> None:
    """The untuned model's classify_report.json: accuracy 0.25 within [0.06, 0.5], macro-F1 0.08 within [0.02, 0.2]
    (``intervals`` False: written without a bootstrap, no intervals at all); the LoRA model's reports are not
    there."""
    folder = out / "reports" / "untuned"
    folder.mkdir(parents=True)
    (folder / "classify_report.json").write_text(json.dumps({
        "n": 16, "accuracy": 0.25, "macro": {"precision": 0.1, "recall": 0.2, "f1": 0.08}, "per_class": {},
        "ci": {"accuracy": [0.06, 0.5], "macro_f1": [0.02, 0.2]} if intervals else None}), encoding="utf-8")


def published() -> dict[str, float]:
    chain = yaml.safe_load(Path("recipes/reproduce/yelp5.yaml").read_text(encoding="utf-8"))
    return {n["name"]: n["published"] for n in chain["numbers"]}


def test_the_card_is_written_as_json_markdown_and_png_and_its_markdown_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    untuned_report(out)
    state = {"steps": {"train": {"seconds": 2.5}}}
    layout = Layout(load_chain("yelp5"), out, tiny=False)
    written = write_card(layout, [], state, wandb=False)
    assert written == [out / "report_card.json", out / "report_card.md", out / "report_card.png"]
    assert sorted(p.name for p in out.iterdir()) == ["report_card.json", "report_card.md", "report_card.png",
                                                     "reports"]
    card = json.loads(written[0].read_text(encoding="utf-8"))
    assert card == json.loads(json.dumps(build_card(layout, [], state)))
    assert (card["report"], card["tiny"], card["wandb_group"]) == ("yelp5", False, "reproduce-yelp5")
    assert card["time"]["steps_seconds"] == {"train": 2.5}
    assert [(n["name"], n["run"], n["ci95"]) for n in card["numbers"]] == [
        ("untuned accuracy", 0.25, [0.06, 0.5]), ("untuned macro-F1", 0.08, [0.02, 0.2]), ("LoRA accuracy", None, None),
        ("LoRA macro-F1", None, None)]
    markdown = written[1].read_text(encoding="utf-8")
    assert markdown == render_markdown(card)
    assert "| untuned macro-F1 | 0.0623 | 0.08 | [0.02, 0.2] | 16 | - | reproduced |" in markdown
    assert capsys.readouterr().out == markdown + "\n"
    with Image.open(written[2]) as figure:
        assert figure.format == "PNG" and figure.size[0] > 0


def test_a_card_whose_numbers_were_measured_without_intervals_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A report written with no bootstrap (classify_report --bootstrap 0) gives its numbers and no intervals: the
    figure draws each as its point."""
    out = tmp_path / "out"
    untuned_report(out, intervals=False)
    written = write_card(Layout(load_chain("yelp5"), out, tiny=False), [], {}, wandb=False)
    card = json.loads(written[0].read_text(encoding="utf-8"))
    assert [(n["run"], n["ci95"], n["verdict"]) for n in card["numbers"][:2]] == [
        (0.25, None, "not measured"), (0.08, None, "not measured")]
    assert "| untuned accuracy | 0.184 | 0.25 | - | 16 | - | not measured |" in capsys.readouterr().out
    with Image.open(written[2]) as figure:
        assert figure.format == "PNG"


@pytest.fixture
def offline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No wandb settings in the environment (WANDB_MODE, the run's group, folder and id all unset), no login,
    wandb's process-wide setup torn down before and after."""
    import wandb

    for name in ("WANDB_MODE", "WANDB_RUN_ID", "WANDB_DIR", "WANDB_PROJECT", "WANDB_RUN_GROUP", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    wandb.teardown()
    yield tmp_path
    wandb.teardown()


def test_a_tiny_cards_wandb_run_is_offline_in_the_reproductions_group_and_folder(
        offline_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    out = offline_home / "out"
    untuned_report(out)
    layout = Layout(load_chain("yelp5"), out, tiny=True)
    written = write_card(layout, [], {}, wandb=True)
    assert written == [out / "report_card.json", out / "report_card.md", out / "report_card.png"]
    assert (os.environ["WANDB_MODE"], os.environ["WANDB_RUN_GROUP"], os.environ["WANDB_DIR"]) == (
        "offline", "reproduce-yelp5-tiny", str(out))
    (folder,) = (out / "wandb").glob("offline-run-*")
    markdown = written[1].read_text(encoding="utf-8")
    assert capsys.readouterr().out == f"{markdown}\nwandb run: {folder}\n"
    facts = run_facts(finished_run_file(folder))
    assert (facts["job_type"], facts["group"]) == ("report_card", "reproduce-yelp5-tiny")
    assert {k: v for k, v in facts["config"].items() if k != "_wandb"} == {"report": "yelp5", "tiny": True}
    numbers = {k: json.loads(v) for k, v in facts["summary"].items() if k.startswith("card/")}
    assert numbers == {"card/untuned accuracy": 0.25, "card/untuned macro-F1": 0.08}  # the LoRA runs are missing
    (table,) = (folder / "files" / "media" / "table").glob("report_card_*.table.json")
    report = published()
    assert json.loads(table.read_text(encoding="utf-8")) == {
        "columns": ["number", "report", "run", "low", "high", "verdict"],
        "data": [["untuned accuracy", report["untuned accuracy"], 0.25, 0.06, 0.5, TINY_VERDICT],
                 ["untuned macro-F1", report["untuned macro-F1"], 0.08, 0.02, 0.2, TINY_VERDICT],
                 ["LoRA accuracy", report["LoRA accuracy"], None, None, None, TINY_VERDICT],
                 ["LoRA macro-F1", report["LoRA macro-F1"], None, None, None, TINY_VERDICT]]}
    (logged,) = (folder / "files" / "media" / "images").glob("report_card_png_*.png")
    with Image.open(logged) as shown, Image.open(written[2]) as drawn:
        assert shown.size == drawn.size
