"""Small synthetic raw files in each dataset's real format: each function writes one and returns the
arguments that make its converter read it.

The smoke runs of the recipes train on these (through ``converters.catalog``): the same converter, the same
output format and registry entry as the real data, a few dozen rows.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from recipekit.files import write_jsonl

TOPICS = {"1": ("minister", "election"), "2": ("match", "coach"), "3": ("shares", "profit"), "4": ("software", "chip")}


def _csv(path: Path, rows: list[list[str]], quote_all: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
        csv.writer(handle, lineterminator="\n", quoting=quoting).writerows(rows)
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    write_jsonl(path, rows)  # its folder made as it writes
    return path


def agnews(raw: Path) -> list[str]:
    rows = [[label, f"Story {i} on the {words[i % 2]}", f"The {words[i % 2]} report {i}."]
            for i in range(8) for label, words in TOPICS.items()]
    return ["--input", str(_csv(raw / "train.csv", rows, quote_all=True)), "--val-size", "8"]


def yelp5(raw: Path) -> list[str]:
    rows = [[str(stars), f"Review {i}: {'great' if stars > 3 else 'poor'} food.\\nStars {stars}."]
            for i in range(6) for stars in range(1, 6)]
    return ["--input", str(_csv(raw / "train.csv", rows, quote_all=True)), "--val-size", "10"]


def afqmc(raw: Path) -> list[str]:
    folder = raw / "afqmc_public"
    pairs = [(f"花呗{i}怎么还款", f"花呗{i}如何还钱" if i % 2 else "借呗额度") for i in range(24)]
    _jsonl(folder / "train.json", [{"sentence1": a, "sentence2": b, "label": str(i % 2)}
                                   for i, (a, b) in enumerate(pairs)])
    _jsonl(folder / "dev.json", [{"sentence1": f"余额宝{i}", "sentence2": f"余额宝{i}收益", "label": str(i % 2)}
                                 for i in range(8)])
    _jsonl(folder / "test.json", [{"id": i, "sentence1": f"蚂蚁{i}", "sentence2": "能量"} for i in range(4)])
    return ["--input", str(folder)]


def arena(raw: Path) -> list[str]:
    winners = (("1", "0", "0"), ("0", "1", "0"), ("0", "0", "1"))
    rows = [["id", "model_a", "model_b", "prompt", "response_a", "response_b",
             "winner_model_a", "winner_model_b", "winner_tie"]]
    rows += [[str(100 + i), "m1", "m2", json.dumps([f"question {i}?"]), json.dumps([f"answer a{i}"]),
              json.dumps([f"answer b{i}", None]), *winners[i % 3]] for i in range(24)]
    _csv(raw / "kaggle" / "train.csv", rows)
    _csv(raw / "kaggle" / "test.csv", [["id", "prompt", "response_a", "response_b"],
                                       ["900", json.dumps(["q?"]), json.dumps(["a"]), json.dumps(["b"])]])
    return ["--input", str(raw / "kaggle"), "--val-size", "6"]


def _message(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def tulu3_personas_if(raw: Path) -> list[str]:
    rows = [{"id": f"p{i}", "prompt": f"Write {i} words.", "constraints": ["no commas"],
             "messages": [_message("user", f"Write {i} words."), _message("assistant", " ".join(["word"] * (i + 1)))]}
            for i in range(16)]
    return ["--input", str(_jsonl(raw / "tulu" / "train.jsonl", rows)), "--val-size", "4"]


def ultrafeedback_dpo(raw: Path) -> list[str]:
    def row(i: int) -> dict:
        prompt = [_message("user", f"Explain idea {i}.")]
        return {"prompt": f"Explain idea {i}.", "prompt_id": f"u{i}", "score_chosen": 8.0, "score_rejected": 3.0,
                "chosen": [*prompt, _message("assistant", f"A clear answer about idea {i}.")],
                "rejected": [*prompt, _message("assistant", "No.")]}

    _jsonl(raw / "uf" / "train_prefs.jsonl", [row(i) for i in range(16)])
    _jsonl(raw / "uf" / "test_prefs.jsonl", [row(100 + i) for i in range(4)])
    return ["--input", str(raw / "uf")]
