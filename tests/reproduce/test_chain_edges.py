"""Edges of a reproduction's layout: relocating KEY=VALUE tokens, spotting a launch, the layout's defaults."""

from __future__ import annotations

from pathlib import Path

from recipekit.reproduce.chain import Layout, layout_for, load_chain


def test_a_tiny_run_relocates_only_the_value_after_the_first_equals(tmp_path: Path) -> None:
    layout = Layout(load_chain("yelp5"), tmp_path, tiny=True)
    assert layout.relocate("output_dir=saves/m") == f"output_dir={tmp_path}/saves/m"
    assert layout.relocate("k=v=saves/m") == f"k=v={tmp_path}/saves/m"
    assert layout.relocate("k=-x=saves/m") == "k=-x=saves/m"  # a value that is a flag is left as written


def test_a_runner_and_its_verb_as_the_last_two_tokens_is_a_launch() -> None:
    assert Layout.launches(["llamafactory-cli", "train"]) is True
    assert Layout.launches(["env", "llm-recipes", "export"]) is True
    assert Layout.launches(["llamafactory-cli"]) is False
    assert Layout.launches(["llm-recipes", "check", "recipes/x.yaml"]) is False


def test_layout_for_writes_by_default_and_keeps_the_fixture_converter(tmp_path: Path) -> None:
    def sources(name: str, raw: Path, write: bool) -> list[str]:
        return ["--input", str(raw / name)]

    layout = layout_for("yelp5", str(tmp_path), tiny=True, sources=sources)
    assert (layout.writes, layout.sources, layout.out, layout.tiny) == (True, sources, tmp_path.resolve(), True)
