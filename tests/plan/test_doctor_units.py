"""The doctor's checks one by one on written recipes and described machines: each answer's line, the CUDA build,
the GPU count a header asks for, this machine's card, the libraries a recipe's settings need, disk for the model
and checkpoints, host memory, wandb's login, and every check a recipe calls for on a machine with a GPU."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from conftest import ROOT, JsonHandler, serving

from recipekit.plan import doctor
from recipekit.plan.doctor import (
    Check,
    Machine,
    cuda_check,
    disk_bytes,
    disk_check,
    gpu_checks,
    host_check,
    hub_check,
    library_checks,
    local_gpu,
    recipe_checks,
    recipe_gpus,
    wandb_check,
)
from recipekit.plan.gpus import Gpu, load_cards
from recipekit.recipes.reading import Recipe

GIB = 2**30
TINY = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
        "max_position_embeddings": 256, "tie_word_embeddings": False}


def recipe(tmp_path: Path, header: tuple[str, ...] = (), **values: object) -> Recipe:
    args = {"model_name_or_path": "Qwen/Qwen2.5-0.5B", "stage": "sft", "do_train": True, "finetuning_type": "lora",
            "dataset": "x", "template": "default", "cutoff_len": 64, "output_dir": str(tmp_path / "saves"),
            **values}
    return Recipe(tmp_path / "recipe.yaml", args, list(header), classifier=False)


@pytest.mark.parametrize(("ok", "line"), [
    (True, "ok   r.yaml: disk: 3 GiB"), (False, "FAIL r.yaml: disk: 3 GiB; fix: free some"),
    (None, "skip r.yaml: disk: 3 GiB; fix: free some")])
def test_a_checks_line_is_its_mark_scope_name_and_answer_with_the_fix_unless_it_passed(ok: bool | None,
                                                                                       line: str) -> None:
    assert Check("disk", ok, "3 GiB", "free some").line("r.yaml") == line
    assert Check("disk", ok, "3 GiB").line("r.yaml") == line.split("; fix")[0]


def test_a_cpu_only_torch_build_is_named_with_the_cuda_build_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch, "__version__", "2.5.1+cpu")
    check = cuda_check(Machine(2, "NVIDIA H100", 79.3))
    assert (check.name, check.ok, check.said) == ("cuda", False, "torch 2.5.1+cpu is a CPU-only build")
    assert check.fix == ("pip install torch==2.5.1 --index-url https://download.pytorch.org/whl/cu128 (the CUDA "
                         "build nvidia-smi's driver supports)")


def test_a_cuda_build_without_a_gpu_and_with_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch, "__version__", "2.8.0+cu128")
    none = cuda_check(Machine(0))
    assert (none.ok, none.said) == (False, "torch 2.8.0+cu128 (CUDA 12.8) sees no GPU")
    assert none.fix == ("nvidia-smi must list the GPUs with a driver for CUDA >= 12.8; else install the torch build "
                        "of the driver's CUDA version")
    two = cuda_check(Machine(2, "NVIDIA H100 80GB HBM3", 79.26))
    assert (two.name, two.ok, two.said, two.fix) == ("cuda", True, "torch 2.8.0+cu128 (CUDA 12.8), 2 x NVIDIA H100 "
                                                               "80GB HBM3 (79.3 GiB)", "")


@pytest.mark.parametrize(("header", "gpus"), [
    ((), 1), (("# Hardware: 4x A100 80GB",), 4), (("# Hardware: 1x RTX 4090",), 1),
    (("# Hardware: 2 x GPU of some kind",), 2), (("# Hardware: one mystery card",), 1),
    (("# Report: recipes/reproduce/no_such_chain.yaml",), 1), (("# Hardware: 0 GPUs",), 1),
    (("# Hardware: 0x A100 80GB",), 1), (("# Hardware: 3x mystery card",), 3)])
def test_the_runs_gpus_are_the_headers_count_else_one(tmp_path: Path, header: tuple[str, ...], gpus: int) -> None:
    """A count the header states with a card or with 'GPU'; one without a count, for a card it does not name, or
    when its Report: line names no chain file; at least one."""
    assert recipe_gpus(recipe(tmp_path, header)) == gpus


def test_this_machines_card_is_the_tables_at_the_memory_torch_reports_else_its_own() -> None:
    cards = load_cards()
    a100 = local_gpu(Machine(1, "NVIDIA A100-SXM4-80GB", 79.1, True), cards)
    assert a100 == Gpu(**{**cards["a100-80g"].__dict__, "memory_gib": 79.1})
    other = local_gpu(Machine(1, "ACME X9", 20.5, True), cards)
    assert other == Gpu("ACME X9", 20.5, 1.0, 1.0)


def test_no_gpu_fails_the_count_with_the_runs_own(tmp_path: Path) -> None:
    [one] = gpu_checks(recipe(tmp_path), Machine(0), None)
    assert (one.name, one.ok, one.said) == ("gpus", False, "the run uses 1 GPU; this machine has none")
    assert one.fix == "rent a machine with CUDA GPUs (the cuda check says why none is seen)"
    [four] = gpu_checks(recipe(tmp_path, ("# Hardware: 4x A100 40GB",)), Machine(0), {"fits": True})
    assert four.said == "the run uses 4 GPUs; this machine has none"


def test_enough_gpus_a_fitting_plan_and_no_bf16_asked_for(tmp_path: Path) -> None:
    """One GPU asked, two here: the count passes; a plan that fits says so; no bf16 or NCCL check is called for."""
    machine = Machine(2, "NVIDIA L4", 22.0, False)
    checks = gpu_checks(recipe(tmp_path), machine, {"memory": {"peak_gib": 21.96}, "fits": True})
    assert [(c.name, c.ok) for c in checks] == [("gpus", True), ("memory", True)]
    assert checks[0].said == "the run uses 1, this machine has 2"
    assert checks[1].said == "planned peak 22.0 GiB per GPU on NVIDIA L4 (22.0 GiB)"
    assert checks[1].fix == "`llm-recipes plan RECIPE` lists the changes that fit (batch, checkpointing, ZeRO, LoRA)"


def test_too_few_gpus_name_the_accumulation_that_keeps_the_global_batch(tmp_path: Path) -> None:
    checks = gpu_checks(recipe(tmp_path, ("# Hardware: 8x H100",), bf16=True), Machine(3, "NVIDIA H100", 79.0, True),
                        None)
    assert [(c.name, c.ok) for c in checks][:2] == [("gpus", False), ("bf16", True)]
    assert checks[0].said == "the run uses 8, this machine has 3"
    assert checks[0].fix == "rent 8 GPUs, or raise gradient_accumulation_steps x2 to keep the global batch on fewer"
    assert checks[1].said == "bf16 is supported by NVIDIA H100"
    assert checks[1].fix == "set bf16: false and fp16: true (a card before Ampere)"
    assert checks[2].name == "nccl" and checks[2].said == f"NCCL {'is' if checks[2].ok else 'is not'} in this torch " \
                                                          "build"
    two = gpu_checks(recipe(tmp_path, ("# Hardware: 2x H100",)), Machine(1, "NVIDIA H100", 79.0, True), None)
    assert [c.name for c in two] == ["gpus", "nccl"]
    assert two[0].fix == "rent 2 GPUs, or raise gradient_accumulation_steps x2 to keep the global batch on fewer"
    exact = gpu_checks(recipe(tmp_path, ("# Hardware: 8x H100",)), Machine(8, "NVIDIA H100", 79.0, True), None)
    assert exact[0].ok is True and [c.name for c in exact] == ["gpus", "nccl"]


def test_no_library_is_needed_without_4_bit_fa2_or_deepspeed(tmp_path: Path) -> None:
    assert library_checks(recipe(tmp_path, flash_attn="sdpa"), Machine(1, "X", 8.0)) == []
    classifier = Recipe(tmp_path / "c.yaml", {"model_name_or_path": "bert-base-uncased", "dataset": "x",
                                              "labels": "a,b", "output_dir": str(tmp_path / "c")}, classifier=True)
    assert library_checks(classifier, Machine(1, "X", 8.0)) == []  # its parser has no flash_attn


def test_an_export_recipe_is_checked_without_the_training_settings_its_parser_lacks() -> None:
    """An export recipe is read by LLaMA-Factory's inference parser (no TrainingArguments): no bf16, DeepSpeed or
    wandb check, no checkpoint kept, only the final save."""
    from recipekit.recipes.reading import load_recipe

    export = load_recipe(ROOT / "recipes" / "export" / "yelp5_lora.yaml")
    machine = Machine(1, "NVIDIA A100-SXM4-80GB", 79.1, True)
    assert [(c.name, c.ok) for c in gpu_checks(export, machine, None)] == [("gpus", True)]
    assert library_checks(export, machine) == [] and wandb_check(export) is None
    assert disk_bytes(export, {"params": 1000, "trainable": 10}, False) == (2 * 1000, 1 * 10 * 12)


def test_a_torch_build_without_nccl_fails_a_run_on_several_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    two = recipe(tmp_path, ("# Hardware: 2x H100",))
    for available, said in ((False, "NCCL is not in this torch build"), (True, "NCCL is in this torch build")):
        monkeypatch.setattr(torch.distributed, "is_nccl_available", lambda available=available: available)
        nccl = gpu_checks(two, Machine(2, "NVIDIA H100", 79.0, True), None)[-1]
        assert (nccl.name, nccl.ok, nccl.said, nccl.fix) == ("nccl", available, said,
                                                             "install torch's CUDA build (it ships NCCL)")


def installed(monkeypatch: pytest.MonkeyPatch, folder: Path, *packages: str) -> None:
    """Each package importable from ``folder`` (an empty package there, found by the real import machinery)."""
    for package in packages:
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))


@pytest.mark.parametrize(("gpus", "ok", "said", "fix"), [
    (1, True, "quantization_bit 4: bitsandbytes is installed", ""),
    (0, False, "quantization_bit 4: bitsandbytes is installed, and it needs CUDA", "run on a CUDA machine")])
def test_four_bit_with_bitsandbytes_installed_passes_on_a_gpu_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   gpus: int, ok: bool, said: str, fix: str) -> None:
    installed(monkeypatch, tmp_path / "site", "bitsandbytes", "flash_attn")
    checks = library_checks(recipe(tmp_path, quantization_bit=4, flash_attn="fa2"), Machine(gpus, "X", 8.0))
    assert [(c.name, c.ok, c.said) for c in checks] == [
        ("bitsandbytes", ok, said), ("attention", True, "flash_attn: fa2 finds the flash_attn package")]
    assert checks[0].line("r.yaml") == f"{'ok  ' if ok else 'FAIL'} r.yaml: bitsandbytes: {said}" + (
        f"; fix: {fix}" if fix else "")


def executable(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("#!/bin/sh\n", encoding="utf-8")
    (folder / name).chmod(stat.S_IRWXU)


@pytest.mark.parametrize("variable", ["CUDA_HOME", "CUDA_PATH"])
def test_deepspeed_passes_with_ninja_on_the_path_and_nvcc_in_the_cuda_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    executable(tmp_path / "bin", "ninja")
    executable(tmp_path / "cuda" / "bin", "nvcc")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    for name in ("CUDA_HOME", "CUDA_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(tmp_path / "cuda"))
    ds = tmp_path / "ds_z2.json"
    ds.write_text(json.dumps({"zero_optimization": {"stage": 2}}), encoding="utf-8")
    [check] = library_checks(recipe(tmp_path, deepspeed=str(ds)), Machine(1, "X", 8.0))
    assert (check.name, check.ok, check.said) == ("deepspeed", True, "ds_z2.json: deepspeed, ninja and nvcc found")
    monkeypatch.setenv(variable, str(tmp_path / "nothing"))  # the variable's folder, not the default one
    [check] = library_checks(recipe(tmp_path, deepspeed=str(ds)), Machine(1, "X", 8.0))
    assert (check.ok, check.said) == (False, "ds_z2.json: missing nvcc (CUDA_HOME)")
    monkeypatch.setenv("PATH", str(tmp_path / "cuda" / "bin"))  # nvcc found on the path, ninja nowhere
    [check] = library_checks(recipe(tmp_path, deepspeed=str(ds)), Machine(1, "X", 8.0))
    assert (check.ok, check.said) == (False, "ds_z2.json: missing ninja")
    assert check.fix == ("pip install '.[gpu]' ninja, and a CUDA toolkit (export CUDA_HOME=/usr/local/cuda) for "
                         "DeepSpeed's fused Adam build")
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # as if not installed: the import system finds no spec
    [check] = library_checks(recipe(tmp_path, deepspeed=str(ds)), Machine(1, "X", 8.0))
    assert (check.ok, check.said) == (False, "ds_z2.json: missing deepspeed, ninja")


@pytest.mark.parametrize(("values", "local", "expected"), [
    ({"save_strategy": "no"}, False, (2 * 1000, 1 * 10 * 12)),
    ({"save_strategy": "steps"}, False, (2 * 1000, 2 * 10 * 12)),
    ({"save_strategy": "epoch", "save_total_limit": 3}, True, (0, 4 * 10 * 12)),
    ({}, False, (2 * 1000, 2 * 10 * 12)),  # the trainer's default: a checkpoint every save_steps
])
def test_the_disk_a_run_needs_is_the_download_and_each_kept_checkpoint_and_the_final_save(
        tmp_path: Path, values: dict, local: bool, expected: tuple[int, int]) -> None:
    """bf16 weights of 1,000 parameters (none for a local model); 10 trainable parameters at 12 bytes each (fp32
    weight and two Adam moments) in save_total_limit checkpoints (one without a limit, none without saving), plus
    the final save."""
    assert disk_bytes(recipe(tmp_path, **values), {"params": 1000, "trainable": 10}, local) == expected


def test_a_prediction_run_saves_no_checkpoint(tmp_path: Path) -> None:
    assert disk_bytes(recipe(tmp_path), {"params": 1000, "trainable": None}, False) == (2000, 0)
    assert disk_bytes(recipe(tmp_path), {"params": 1000}, False) == (2000, 0)


HUGE = {"params": 10**15, "trainable": 10**15}  # 2e15 bytes to download, 12e15 per save: no disk holds them


def short_of(said: str) -> dict[str, float]:
    """The needed GiB per path of a disk check's answer ("PATH has F GiB free of N needed", comma separated)."""
    return {path: float(needed) for path, needed in re.findall(r"(\S+) has [\d.]+ GiB free of ([\d.]+) needed", said)}


def test_the_model_and_checkpoints_on_one_file_system_are_summed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # neither folder is there yet
    check = disk_check(recipe(tmp_path, output_dir=str(tmp_path / "out"), save_strategy="no"), HUGE, "org/model")
    assert check.ok is False
    assert check.said.startswith(f"model {2e15 / GIB:.1f} GiB, checkpoints {12e15 / GIB:.1f} GiB; ")
    assert short_of(check.said) == {str(tmp_path): float(f"{14e15 / GIB:.1f}")}  # both land in tmp_path
    local = disk_check(recipe(tmp_path, save_strategy="no"), HUGE, str(tmp_path))  # a model on this machine
    assert local.said.startswith(f"model 0.0 GiB, checkpoints {12e15 / GIB:.1f} GiB; ")


def test_each_file_system_short_of_disk_is_named_with_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system (/dev/shm)")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    out = Path(tempfile.mkdtemp(dir=shm))
    try:
        check = disk_check(recipe(tmp_path, output_dir=str(out / "saves"), save_strategy="no"), HUGE, "org/model")
    finally:
        shutil.rmtree(out)
    assert short_of(check.said) == {str(tmp_path): float(f"{2e15 / GIB:.1f}"), str(out): float(f"{12e15 / GIB:.1f}")}
    assert len(check.said.split("; ")[1].split(", ")) == 2  # one entry per file system, comma separated
    assert check.fix == ("free disk, or point HF_HOME and output_dir at a larger volume; lower save_total_limit")


def test_disk_exactly_as_large_as_the_run_needs_is_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from collections import namedtuple

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    needed = 2 * 1000 + 1 * 10 * 12  # the download and the final save, both in tmp_path
    usage = namedtuple("usage", "total used free")
    for free, ok in ((needed, True), (needed - 1, False)):
        monkeypatch.setattr(shutil, "disk_usage", lambda path, free=free: usage(10 * needed, 0, free))
        check = disk_check(recipe(tmp_path, output_dir=str(tmp_path / "out"), save_strategy="no"),
                           {"params": 1000, "trainable": 10}, "org/model")
        assert check.ok is ok, free


def test_host_memory_exactly_as_large_as_the_offloaded_states_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    memory = psutil.virtual_memory()
    for available, ok in ((8 * GIB, True), (8 * GIB - 1, False)):
        monkeypatch.setattr(psutil, "virtual_memory", lambda available=available: memory._replace(
            available=available))
        check = host_check({"memory": {"host_gib": 8.0}})
        assert check == Check("host memory", ok, f"offloaded states 8.0 GiB, {available / GIB:.1f} GiB "
                                     "available", "rent a machine with more RAM, or offload less (the DeepSpeed "
                                     "config's offload_* device: none)")


def test_a_little_offloaded_state_fits_in_the_hosts_memory() -> None:
    import psutil

    check = host_check({"memory": {"host_gib": 0.001}})
    assert check is not None and check.name == "host memory" and check.ok is True
    free = psutil.virtual_memory().available / GIB
    assert check.said.startswith("offloaded states 0.0 GiB, ") and abs(float(check.said.split(", ")[1].split()[0])
                                                                        - free) < 1.0
    assert host_check({"memory": {"host_gib": None}}) is None and host_check({"memory": {}}) is None


@pytest.mark.parametrize("report_to", ["wandb", ["tensorboard", "wandb"]])
def test_wandb_counts_as_logged_in_with_a_key_or_an_offline_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  report_to: object) -> None:
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))  # a file that is not there: not logged in
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    sft = recipe(tmp_path, report_to=report_to)
    out = wandb_check(sft)
    assert out is not None and (out.name, out.ok, out.said) == ("wandb", False, "report_to wandb: not logged in")
    assert out.fix == "`wandb login` (or WANDB_API_KEY), or WANDB_MODE=offline, or report_to: none"
    for mode, ok in (("offline", True), ("disabled", True), ("online", False)):
        monkeypatch.setenv("WANDB_MODE", mode)
        assert wandb_check(sft).ok is ok, mode  # type: ignore[union-attr]
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "k")
    assert wandb_check(sft).said == "report_to wandb: logged in"  # type: ignore[union-attr]


def test_a_malformed_netrc_is_not_a_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai login a password b\noops\n", encoding="utf-8")  # a stray token
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert wandb_check(recipe(tmp_path, report_to="wandb")).ok is False  # type: ignore[union-attr]
    assert wandb_check(recipe(tmp_path, report_to=["tensorboard"])) is None


def test_a_machine_with_a_gpu_plans_the_recipe_for_memory_disk_and_host(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A prediction recipe of a local two-layer model on one A100 80GB: the count, the plan's memory (weights, the
    key/value cache and the logits: far below the card), the disk (no download: the model is local) in order; no
    hub or wandb check for a local model reporting nowhere."""
    model = tmp_path / "tiny"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(TINY), encoding="utf-8")
    predict = recipe(tmp_path, model_name_or_path=str(model), do_train=False, do_predict=True,
                     eval_dataset="x", per_device_eval_batch_size=2, report_to="none")
    checks = recipe_checks(predict, Machine(1, "NVIDIA A100-SXM4-80GB", 79.1, True), load_cards(), {})
    assert [(c.name, c.ok) for c in checks] == [("gpus", True), ("memory", True), ("disk", True)]
    # 115,008 bf16 weights; keys and values of 2 layers x 4 heads x 16 at 2 x (64 + 1,024 new) tokens; the last
    # position's logits; the 1 GiB CUDA context and 10% on top of it all
    held = 115_008 * 2 + 2 * 2 * 4 * 16 * 2 * (64 + 1024) * 2 + 4 * 2 * 256 * 2
    assert checks[1].said == f"planned peak {(GIB + 1.1 * held) / GIB:.1f} GiB per GPU on NVIDIA A100-SXM4-80GB " \
                             "(79.1 GiB)"
    assert checks[2].said == "model 0.0 GiB, checkpoints 0.0 GiB"
    without = recipe_checks(predict, Machine(0), load_cards(), {})
    assert [(c.name, c.ok) for c in without] == [("gpus", False)]


def test_a_run_on_some_of_the_gpus_is_planned_on_that_many_with_its_libraries(tmp_path: Path) -> None:
    """A ZeRO-3 recipe whose header asks for 2 GPUs, on a machine of 4: planned on 2 (ZeRO-3 partitions the states
    over the run's GPUs, so the peak tells 1, 2 and 4 apart); a 4-bit one gets its bitsandbytes check."""
    from recipekit.plan.planner import plan

    model = tmp_path / "small"
    model.mkdir()
    small = {**TINY, "vocab_size": 32000, "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 4}
    (model / "config.json").write_text(json.dumps(small), encoding="utf-8")  # 0.2B: GiBs of states to partition
    zero3 = recipe(tmp_path, ("# Hardware: 2x A100 80GB",), model_name_or_path=str(model), finetuning_type="full",
                   deepspeed="recipes/deepspeed/ds_z3_config.json", report_to="none")
    a100 = Machine(4, "NVIDIA A100-SXM4-80GB", 79.1, True)
    checks = recipe_checks(zero3, a100, load_cards(), {})
    card = local_gpu(a100, load_cards())
    peaks = {n: plan(zero3, card, n, {})["memory"]["peak_gib"] for n in (1, 2, 4)}
    assert len({f"{peak:.1f}" for peak in peaks.values()}) == 3, peaks
    memory = next(c for c in checks if c.name == "memory")
    assert memory.said == f"planned peak {peaks[2]:.1f} GiB per GPU on NVIDIA A100-SXM4-80GB (79.1 GiB)"
    four_bit = recipe(tmp_path, model_name_or_path=str(model), quantization_bit=4, report_to="none")
    assert "bitsandbytes" in [c.name for c in recipe_checks(four_bit, a100, load_cards(), {})]


MODEL = "org/tiny"


class ModelHub(JsonHandler):
    """The hub's model page: MODEL's answered, any other not found; each call's path and Authorization kept."""

    calls: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.calls.append((self.path.split("?")[0], self.headers.get("Authorization", "")))
        if self.path.split("?")[0] == f"/api/models/{MODEL}":
            self.answer(200, {"id": MODEL})
        else:  # marked as the hub marks a repository it does not have
            self.answer(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})


@pytest.fixture
def model_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[type[ModelHub]]:
    """A hub served here (HF_ENDPOINT), online, with no token stored."""
    from huggingface_hub import constants

    with serving(ModelHub) as endpoint:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy of the machine's is not asked for the hub served here
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "token"))
        monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "stored_tokens"))
        ModelHub.calls = []
        yield ModelHub


def test_a_model_the_hub_serves_is_reachable_with_the_token_sent(model_hub: type[ModelHub],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert hub_check(MODEL) == Check("hub", True, f"{MODEL} reachable")
    monkeypatch.setenv("HF_TOKEN", "hf_doctor")
    assert hub_check(MODEL) == Check("hub", True, f"{MODEL} reachable with a token")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)  # the token is given, not implied
    assert hub_check(MODEL) == Check("hub", True, f"{MODEL} reachable with a token")
    assert model_hub.calls == [(f"/api/models/{MODEL}", "")] + [(f"/api/models/{MODEL}", "Bearer hf_doctor")] * 2


def test_a_model_the_hub_lacks_or_a_gated_one_without_a_token_fails_with_its_fix(model_hub: type[ModelHub]) -> None:
    missing = hub_check("org/none")
    assert missing is not None and (missing.name, missing.ok) == ("hub", False)
    # huggingface_hub's message on one line, its first 160 characters
    told = (f"404 Client Error. Repository Not Found for url: {os.environ['HF_ENDPOINT']}/api/models/org/none. Please "
            "make sure you specified the correct `repo_id` and `repo_type`. If you are trying to access a private")
    assert len(told) > 160 and missing.said == f"org/none: RepositoryNotFoundError: {told[:160]}"
    assert missing.fix == "check the network (HF_ENDPOINT) and, for a gated model, that the token's account has access"
    gated = hub_check("meta-llama/Llama-3.1-8B")
    assert gated == Check("hub", False, "meta-llama/Llama-3.1-8B is gated and no Hugging Face token is set",
                                 "accept the licence at https://huggingface.co/meta-llama/Llama-3.1-8B, then `hf auth "
                                 "login` (or HF_TOKEN)")
    assert model_hub.calls == [("/api/models/org/none", "")]  # a gated model without a token is not asked for


def test_a_hub_that_never_answers_fails_after_the_hubs_time(model_hub: type[ModelHub],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as silent:  # connections queue in its backlog; no answer ever comes
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setattr(doctor, "HUB_SECONDS", 0.5)
        check = hub_check(MODEL)
    assert check is not None and check.ok is False and "Timeout" in check.said
