"""The README's command block, run as written and in its order on a fresh copy of the clone (slow: about 3
minutes on 2 cores): every line must exit 0, and what the block says it makes must be there afterwards."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

SHARED = ROOT.parent / "shared"


def first_command_block() -> list[str]:
    """The lines of the README's first ``bash`` block that starts with an ``llm-recipes`` command."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines = [line for line in block.splitlines() if line.strip()]
        if lines[0].startswith("llm-recipes "):
            return lines
    raise AssertionError("README.md has no bash block of llm-recipes commands")


def fresh_copy(target: Path) -> Path:
    """The files a clone holds (tracked, and new files git does not ignore), copied to ``target``, with the
    clone's neighbour ``shared/`` beside it as on this machine."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target.parent / "shared").symlink_to(SHARED)
    return target


@pytest.mark.slow
@pytest.mark.extended  # the demo's path, as the README types it (`make test-all`)
def test_readme_command_block_runs_as_written_on_a_fresh_clone(tmp_path: Path) -> None:
    if not (SHARED / "data" / "ag_news_csv").is_dir():
        pytest.skip("the block reads ../shared/data/ag_news_csv")
    clone = fresh_copy(tmp_path / "main")
    assert not (clone / "outputs").exists() and not (clone / "data" / "agnews.jsonl").exists()
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
           "WANDB_MODE": "offline"}
    env.pop("LLM_RECIPES_ROOT", None)
    for line in first_command_block():
        result = subprocess.run(["bash", "-c", line], cwd=clone, env=env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    val_rows = sum(1 for _ in (clone / "data" / "agnews_val.jsonl").open(encoding="utf-8"))
    generated = json.loads((clone / "outputs/demo/predict/classify_report.json").read_text(encoding="utf-8"))
    scored = json.loads((clone / "outputs/demo/scores/classify_report.json").read_text(encoding="utf-8"))
    assert val_rows == 200 and generated["n"] == scored["n"] == 200, (generated["n"], scored["n"])
    assert (clone / "outputs/demo/sft/config.json").is_file()  # the trained model the predict recipe read
    assert (clone / "outputs/demo/sft/training_summary.json").is_file()  # the plot's summary beside its curves
