"""The measuring process's parts in this process: the resident-memory sampler keeps the peak between two reads,
and the callback times each optimizer step from the start of training and writes one file per rank."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
import torch

from recipekit.plan.probe import Sampler, probe_callback


def test_the_sampler_keeps_a_peak_that_is_gone_by_the_end() -> None:
    process = psutil.Process()
    sampler = Sampler(process)
    assert sampler.peak == pytest.approx(process.memory_info().rss, rel=0.05) and sampler.daemon
    sampler.start()
    before = process.memory_info().rss
    block = torch.ones(64 * 2**20, dtype=torch.uint8)  # 64 MiB touched
    deadline = time.monotonic() + 30
    while sampler.peak < before + 60 * 2**20 and time.monotonic() < deadline:  # however busy the machine
        time.sleep(0.01)
    del block
    peak = sampler.finish()
    assert not sampler.is_alive()
    assert peak >= before + 60 * 2**20
    assert peak >= process.memory_info().rss


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU's file (a GPU adds its allocator's peaks)")
@pytest.mark.parametrize("rank", [None, "3"])
def test_the_callback_times_each_step_and_writes_its_ranks_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               rank: str | None) -> None:
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    from transformers import TrainerCallback  # noqa: F401  (what the callback imports, before its baseline)

    before = psutil.Process().memory_info().rss
    callback = probe_callback(tmp_path / "probe")
    # the model loads between the callback's making and training's start: its peak counts, though freed by then
    block = torch.ones(64 * 2**20, dtype=torch.uint8)
    time.sleep(0.2)
    del block
    args = SimpleNamespace()
    callback.on_train_begin(args, None, None)
    pauses = [0.03, 0.06]
    for pause in pauses:
        time.sleep(pause)
        callback.on_step_end(args, None, None)
    callback.on_train_end(args, None, None)
    written = json.loads((tmp_path / f"probe.rank{rank or '0'}.json").read_text(encoding="utf-8"))
    assert set(written) == {"device", "step_seconds", "rss_before", "rss_peak"}
    assert written["device"] == "cpu" and written["rss_before"] == pytest.approx(before, rel=0.05)
    assert written["rss_peak"] >= written["rss_before"] + 60 * 2**20
    assert len(written["step_seconds"]) == 2  # each from the end of the one before (the first from the start)
    assert all(p <= s < p + 30 for p, s in zip(pauses, written["step_seconds"], strict=True))
    assert written["rss_peak"] >= psutil.Process().memory_info().rss * 0.9


def test_arguments_the_classifier_refuses_are_one_line_naming_the_arguments_file(tmp_path: Path) -> None:
    """Refused before anything loads: the classifier parser's own words, under the file the probe was given."""
    from recipekit.errors import InputError
    from recipekit.plan.probe import main

    path = tmp_path / "args.json"
    path.write_text(json.dumps({"model_name_or_path": "m", "dataset": "d", "labels": "a,b", "finetuning_type": "bogus",
                                "output_dir": str(tmp_path / "run")}), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        main([str(path), str(tmp_path / "probe"), "classifier"])
    assert str(raised.value) == (f"{path}: the classifier's parser refused it: finetuning_type must be one of "
                                 "('full', 'lora'), got 'bogus'")
    assert not (tmp_path / "run").exists()
