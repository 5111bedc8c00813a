"""A conversion killed (SIGKILL) between two of its renames leaves a registry that names only files in place: the
set files land first, the registry last. Killing skips every cleanup, so no rollback can hide the order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # a process started and killed

CONVERSION = """
import os, pathlib, sys, time
from recipekit.data.transaction import Plan, StagedSet, commit

data, marker, stop_after = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
real_replace, renames = os.replace, []

def replace(src, dst):
    real_replace(src, dst)
    renames.append(str(dst))
    if len(renames) == stop_after:
        marker.write_text(str(dst))
        time.sleep(120)  # killed here

os.replace = replace
rows = [{"instruction": f"question {i}", "output": "x"} for i in range(3)]
commit(Plan(data, {"news": StagedSet(rows[:2], {}, [None, None]), "news_val": StagedSet(rows[2:], {}, [None])}),
       "news")
"""


@pytest.mark.parametrize("stop_after", [1, 2, 3])
def test_a_conversion_killed_between_renames_leaves_a_registry_naming_only_files_in_place(
        tmp_path: Path, stop_after: int) -> None:
    data, marker = tmp_path / "data", tmp_path / "renamed"
    data.mkdir()
    (data / "old.jsonl").write_text('{"instruction": "q", "output": "x"}\n', encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"old": {"file_name": "old.jsonl"}}), encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-c", CONVERSION, str(data), str(marker), str(stop_after)])
    deadline = time.monotonic() + 60
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert marker.exists(), "the conversion never reached its rename"
    registry = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    assert {name: (data / entry["file_name"]).is_file() for name, entry in registry.items()} == \
        dict.fromkeys(registry, True)
    assert set(registry) == ({"old", "news", "news_val"} if stop_after == 3 else {"old"})
