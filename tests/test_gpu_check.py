"""tools/gpu_check.sh parses, and `make gpu-wheels` gathers the versions pyproject.toml pins."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]  # the repository root


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def make_variable(name: str) -> list[str]:
    """The words of a Makefile variable, continuation lines joined."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{name} := (.*)$", text, re.MULTILINE)
    assert match, f"Makefile has no {name}"
    return match.group(1).split()


def test_gpu_check_script_parses() -> None:
    done = subprocess.run(["bash", "-n", str(ROOT / "tools" / "gpu_check.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_gpu_wheels_pin_the_projects_versions() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["gpu"]
    pins = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[.*\])?==(\S+)", r).groups() for r in requirements)
    pins = {canonical(name): version for name, version in pins.items()}
    gathered = dict(w.split("==") for w in make_variable("GPU_WHEELS") + make_variable("GPU_SOURCE_WHEELS"))
    gathered = {canonical(name): version for name, version in gathered.items()}
    # what the GPU machine lacks, at the project's versions
    for name in ("llamafactory", "trl", "datasets", "bitsandbytes", "deepspeed", "transformers", "tokenizers",
                 "accelerate", "peft"):
        assert gathered[name] == pins[name], name
    assert {n: v for n, v in gathered.items() if n in pins} == {n: pins[n] for n in gathered if n in pins}
