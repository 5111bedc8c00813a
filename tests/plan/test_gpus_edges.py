"""Edges of the card table: overriding one peak or memory, and this machine's first CUDA device."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipekit.plan.gpus import GPUS, Gpu, default_card, local_card, resolve_gpu


def test_overriding_only_the_memory_keeps_the_tables_peaks() -> None:
    gpu = resolve_gpu("a100-80g", memory_gib=70)  # cards.yaml: A100 SXM4 80GB, bf16/fp16 312, fp32 19.5, tf32 156
    assert (gpu.name, gpu.memory_gib, gpu.bf16_tflops, gpu.fp16_tflops, gpu.fp32_tflops, gpu.tf32_tflops) == (
        "A100 SXM4 80GB", 70, 312.0, 312.0, 19.5, 156.0)
    gpu = resolve_gpu("a100-80g", tflops=200.0)
    assert (gpu.memory_gib, gpu.bf16_tflops, gpu.fp16_tflops, gpu.fp32_tflops) == (80.0, 200.0, 200.0, 19.5)


def test_a_card_of_the_users_table_is_taken_whatever_its_key() -> None:
    mine = Gpu("lab card", 20.0, 50.0, 50.0, memory_gb_s=600.0)
    cards = {"": mine, "other": Gpu("other", 8.0, None, 10.0)}
    assert resolve_gpu("", cards=cards) == mine
    assert resolve_gpu("", memory_gib=18, cards=cards) == Gpu("lab card", 18, 50.0, 50.0, memory_gb_s=600.0)


class Device:
    def __init__(self, name: str, gib: float) -> None:
        self.name, self.total_memory = name, int(gib * 2**30)


def two_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two CUDA devices as torch reports them, the second one current (``torch.cuda.set_device(1)``): an index of
    None means the current device, as in torch."""
    import torch

    devices = {0: Device("NVIDIA A100-SXM4-40GB", 39.4), 1: Device("NVIDIA H100 80GB HBM3", 79.6)}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: devices[1 if index is None else index])


def test_this_machines_card_is_its_first_device_by_memory_in_gib(monkeypatch: pytest.MonkeyPatch) -> None:
    two_devices(monkeypatch)
    assert local_card(GPUS) == "a100-40g"  # 39.4 GiB: nearer the 40 GB A100 than the 80 GB one


def test_a_header_naming_a_missing_chain_falls_back_to_this_machines_card(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recipekit.recipes.reading import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text("# A recipe.\n#\n# Report: recipes/reproduce/no_such_chain.yaml\n\nstage: sft\n", encoding="utf-8")
    recipe = load_recipe(path)
    two_devices(monkeypatch)
    assert default_card(recipe, GPUS) == ("a100-40g", "this machine's GPU")


def test_a_missing_or_non_mapping_cards_file_is_one_line_naming_it(tmp_path: Path) -> None:
    from recipekit.errors import InputError
    from recipekit.plan.gpus import load_cards

    missing = tmp_path / "none.yaml"
    with pytest.raises(InputError) as caught:
        load_cards(missing)
    assert str(caught.value) == f"{missing}: no such cards file"
    listed = tmp_path / "list.yaml"
    listed.write_text("- a100\n- h100\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_cards(listed)
    assert str(caught.value) == f"{listed}: a cards file is a YAML mapping"


def test_a_malformed_card_of_the_users_file_names_that_file(tmp_path: Path) -> None:
    from recipekit.errors import InputError
    from recipekit.plan.gpus import load_cards

    extra = tmp_path / "my_cards.yaml"
    extra.write_text("lab:\n  name: Lab card\n  tflops: {fp16: 10}\n  memory_gb_s: 300\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_cards(extra)
    assert caught.value.path == str(extra)
    assert str(caught.value) == (f"{extra}: card lab: needs name, memory_gib, tflops (fp16 at least), memory_gb_s "
                                 "(KeyError('memory_gib'))")
