"""A normal (non-editable) ``pip install .`` gives an ``llm-recipes`` that runs from any folder.

The package is installed without its dependencies into a fresh virtual environment that borrows this one's
installed libraries (a ``.pth`` line), so the test needs no network and no second 6 GB install; the package
itself comes only from the wheel pip builds from a copy of the sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import ROOT, agnews_rows, write_jsonl, write_original_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a fresh virtualenv and a wheel build

SOURCES = ("pyproject.toml", "README.md", "recipekit")


def run(command: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(the fresh environment's bin folder, the environment to run it with)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                              if (ROOT / name).is_dir() else {}))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    site.mkdir(parents=True, exist_ok=True)
    (site / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "LLM_RECIPES_ROOT")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"])
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q", str(source)],
        cwd=base, env=env)
    return venv / "bin", env


def test_the_installed_package_runs_from_another_folder(installed: tuple[Path, dict[str, str]],
                                                        tmp_path: Path) -> None:
    bin_dir, env = installed
    where = run([bin_dir / "python", "-c", "import recipekit; print(recipekit.__file__)"], tmp_path, env).stdout
    assert str(bin_dir.parent) in where and str(ROOT) not in where  # the wheel's copy, not this checkout
    cli = bin_dir / "llm-recipes"

    listing = run([cli, "--help"], tmp_path, env).stdout
    assert "report classify" in listing and "convert agnews" in listing and "plan" in listing

    rows = [{"prompt": f"p{i}", "predict": "a" if i % 3 else "b", "label": "a" if i % 2 else "b"} for i in range(12)]
    write_jsonl(tmp_path / "pred.jsonl", rows)
    run([cli, "report", "classify", "pred.jsonl", "--out", "report", "--bootstrap", "50"], tmp_path, env)
    report = json.loads((tmp_path / "report" / "classify_report.json").read_text(encoding="utf-8"))
    assert report["accuracy"] == pytest.approx(sum((i % 3 > 0) == (i % 2 > 0) for i in range(12)) / 12)

    write_original_csv(tmp_path / "raw" / "test.csv", agnews_rows(10))
    converted = run([cli, "convert", "agnews", "--input", "raw", "--val-size", "8"], tmp_path, env).stdout
    assert "wrote 32 rows" in converted
    registry = json.loads((tmp_path / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(registry) == {"agnews", "agnews_val"}

    recipe = tmp_path / "lora.yaml"  # a shipped architecture: the config travels inside the package
    recipe.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
                      "lora_target: all\ndataset: agnews\ntemplate: qwen\ncutoff_len: 64\n"
                      "per_device_train_batch_size: 1\noutput_dir: saves/x\nbf16: true\n", encoding="utf-8")
    planned = run([cli, "plan", recipe.name, "--gpu", "t4", "--out", "plan"], tmp_path,
                  {**env, "LLM_RECIPES_CACHE": str(tmp_path / "cache")})
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text(encoding="utf-8"))
    assert plan["fits"] is True and "fits" in planned.stdout
