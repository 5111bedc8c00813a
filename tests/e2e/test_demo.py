"""`make demo`'s script on real AG News (slow: about 6 minutes on 2 cores)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import ROOT, run_script

SHARED_AG_NEWS = ROOT.parent / "shared" / "data" / "ag_news_csv"


@pytest.mark.slow(minutes=7)
def test_demo_on_real_ag_news_reaches_its_accuracy(tmp_path: Path) -> None:
    """With the hub switched off and no AG_NEWS, as on a fresh offline machine, the demo finds the local copy."""
    if os.environ.get("AG_NEWS"):
        env, said = {"AG_NEWS": os.environ["AG_NEWS"]}, f"reading agnews from {os.environ['AG_NEWS']} (AG_NEWS)"
    elif SHARED_AG_NEWS.is_dir():
        env = {"AG_NEWS": "", "HF_HUB_OFFLINE": "1"}
        said = "the hub does not answer: reading agnews from the local copy"
    else:
        pytest.skip("set AG_NEWS to a folder with the original AG News CSV files")
    out, data = tmp_path / "demo", tmp_path / "data"
    result = run_script("scripts/run_demo.py", "--out", out, "--data-dir", data, env=env, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert said in result.stdout.splitlines()[0]
    summary = json.loads((out / "demo_summary.json").read_text(encoding="utf-8"))
    assert summary["n"] == 1000
    assert summary["accuracy"] >= 0.75, summary
    assert set(summary["seconds"]) == {"convert", "tiny_model", "train", "predict", "report", "score_labels",
                                       "score_report"}
    scoring = summary["label_scoring"]  # every row gets a label: no invalid answer, at least generation's accuracy
    assert scoring["n_invalid"] == 0 and scoring["accuracy"] >= summary["accuracy"] - 0.01, scoring
    assert 0 < scoring["log_loss"] < 1.0 and 0 <= scoring["ece"] < 0.2, scoring
    for name in ("agnews.jsonl", "agnews_val.jsonl"):
        assert sum(1 for _ in (data / name).open(encoding="utf-8")) == {"agnews.jsonl": 6600}.get(name, 1000)
    assert "Held-out accuracy" in result.stdout and "Stage times: convert" in result.stdout
    print(f"demo: accuracy {summary['accuracy']:.4f}, train + predict {summary['train_plus_predict_seconds']} s")
