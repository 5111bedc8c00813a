"""Raw files in the real formats of the public datasets (CLUE AFQMC, the Kaggle arena CSVs, Yelp's release),
written by the tests that need them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from conftest import write_jsonl


def clue_folder(root: Path) -> Path:
    """train.json / dev.json / test.json as CLUE ships them: JSON lines, labels as strings, test with ids."""
    folder = root / "afqmc_public"
    pairs = [(f"花呗第{i}期怎么还款", f"花呗第{i}期如何还钱", str(i % 3 == 0)) for i in range(12)]
    write_jsonl(folder / "train.json", [{"sentence1": a, "sentence2": b, "label": "1" if same == "True" else "0"}
                                        for a, b, same in pairs])
    write_jsonl(folder / "dev.json", [{"sentence1": "借呗额度", "sentence2": "借呗的额度", "label": "1"},
                                      {"sentence1": "借呗额度", "sentence2": "花呗分期", "label": "0"}])
    write_jsonl(folder / "test.json", [{"id": 0, "sentence1": "余额宝", "sentence2": "余额宝收益"},
                                       {"id": 1, "sentence1": "蚂蚁森林", "sentence2": "能量"}])
    return folder


HEADER = ["id", "model_a", "model_b", "prompt", "response_a", "response_b",
          "winner_model_a", "winner_model_b", "winner_tie"]
WINNERS = {"A": ("1", "0", "0"), "B": ("0", "1", "0"), "tie": ("0", "0", "1")}


def battle(row_id: int, prompt: list, a: list, b: list, winner: str) -> list[str]:
    return [str(row_id), "model-x", "model-y", json.dumps(prompt), json.dumps(a), json.dumps(b), *WINNERS[winner]]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])
    return path


def competition(root: Path, battles: int = 30) -> Path:
    winners = ("A", "B", "tie")
    rows = [battle(1000 + i, [f"question {i}"], [f"answer a{i}"], [f"answer b{i}"], winners[i % 3])
            for i in range(battles)]
    write_csv(root / "train.csv", rows)
    tests = [["136060", json.dumps(["q1"]), json.dumps(["ra"]), json.dumps(["rb"])],
             ["211333", json.dumps(["q2", "q3"]), json.dumps(["r1", "r2"]), json.dumps(["s1", None])]]
    write_csv(root / "test.csv", tests, header=["id", "prompt", "response_a", "response_b"])
    return root


def write_yelp_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    """The original release: no header, every field quoted, line breaks as the two characters \\n."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return path


def reviews(per_class: int) -> list[tuple[str, str]]:
    return [(str(stars), f"Review {i} with {stars} stars.\\nSecond line {i}.")
            for i in range(per_class) for stars in range(1, 6)]
