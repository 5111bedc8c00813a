"""`pip install '.[gpu]'`: the GPU-only packages, pinned, and each pin's requirements accept the torch pin."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.version import Version


def pins(names: list[str]) -> dict[str, Version]:
    """Package -> pinned version, from ``name==version`` entries."""
    found = {}
    for text in names:
        requirement = Requirement(text)
        (spec,) = requirement.specifier
        assert spec.operator == "==", text
        found[requirement.name.lower()] = Version(spec.version)
    return found


def project() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the project's CI runs 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_gpu_extra_pins_bitsandbytes_for_the_4_bit_recipes() -> None:
    """A recipe with quantization_bit loads through bitsandbytes: the extra pins it exactly."""
    extra = pins(project()["optional-dependencies"]["gpu"])
    assert any("quantization_bit: 4" in p.read_text(encoding="utf-8") for p in (ROOT / "recipes").rglob("*.yaml"))
    assert "bitsandbytes" in extra


@pytest.mark.slow  # downloads each pinned wheel from the package registry (bitsandbytes: 43 MB)
def test_each_gpu_pin_accepts_the_projects_torch(tmp_path: Path) -> None:
    torch = pins([d for d in project()["dependencies"] if d.startswith("torch==")])["torch"]
    for name, version in pins(project()["optional-dependencies"]["gpu"]).items():
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp_path),
                               "--python-version", "3.12", "--only-binary=:all:", "--platform",
                               "manylinux_2_24_x86_64", f"{name}=={version}"], capture_output=True, text=True,
                              check=False, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        (wheel,) = tmp_path.glob(f"{name}-{version}-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            requires = Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist") or []
        for text in requires:
            requirement = Requirement(text)
            if requirement.name.lower() == "torch" and not (requirement.marker and "extra" in str(requirement.marker)):
                assert requirement.specifier.contains(torch), (name, text)
