"""`llm-recipes doctor`: each check's failing path on this CPU machine, and the passing one where it can run."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_cli

from recipekit.plan import doctor
from recipekit.plan.doctor import (
    Machine,
    cuda_check,
    disk_check,
    gpu_checks,
    host_check,
    hub_check,
    library_checks,
    wandb_check,
)
from recipekit.recipes.reading import load_recipe

GIB = 2**30
A100 = Machine(1, "NVIDIA A100-SXM4-40GB", 39.4, True)
T4 = Machine(1, "Tesla T4", 14.6, False)


def recipe(name: str):
    return load_recipe(ROOT / "recipes" / name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the failing path: no CUDA device")
def test_no_cuda_device_fails_the_machine_and_every_recipes_gpus() -> None:
    check = cuda_check(Machine(0))
    assert check.ok is False and ("sees no GPU" in check.said or "CPU-only build" in check.said)
    gpus = gpu_checks(recipe("qwen3_4b_tulu_sft_lora.yaml"), Machine(0), None)
    assert [(c.name, c.ok, c.said) for c in gpus] == [("gpus", False, "the run uses 2 GPUs; this machine has none")]


def test_gpu_count_memory_and_bf16_against_the_card(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recipe's header names 2x A6000: one GPU is too few; a plan that does not fit fails; bf16 on a T4; a
    torch build without NCCL fails a run on several GPUs."""
    sft = recipe("qwen3_4b_tulu_sft_lora.yaml")
    planned = {"memory": {"peak_gib": 52.25}, "fits": False}
    monkeypatch.setattr(torch.distributed, "is_nccl_available", lambda: False)
    checks = {c.name: c for c in gpu_checks(sft, A100, planned)}
    assert checks["gpus"].ok is False and checks["gpus"].said == "the run uses 2, this machine has 1"
    assert checks["memory"].ok is False
    assert checks["memory"].said == "planned peak 52.2 GiB per GPU on NVIDIA A100-SXM4-40GB (39.4 GiB): does not fit"
    assert checks["bf16"].ok is True and checks["nccl"].ok is False
    monkeypatch.setattr(torch.distributed, "is_nccl_available", lambda: True)
    assert {c.name: c for c in gpu_checks(sft, A100, planned)}["nccl"].ok is True
    on_t4 = {c.name: c for c in gpu_checks(sft, T4, {"memory": {"peak_gib": 9.0}, "fits": True})}
    assert on_t4["bf16"].ok is False and on_t4["memory"].ok is True
    assert "FAIL recipes/x.yaml: bf16: bf16 is not supported by Tesla T4; fix: set bf16: false" in (
        on_t4["bf16"].line("recipes/x.yaml"))


@pytest.mark.skipif(doctor.importable("bitsandbytes"), reason="the failing path: no bitsandbytes")
def test_four_bit_needs_bitsandbytes_and_flash_attention_2_needs_flash_attn() -> None:
    qlora = {c.name: c for c in library_checks(recipe("afqmc_qlora.yaml"), Machine(0))}
    assert qlora["bitsandbytes"].ok is False
    assert qlora["bitsandbytes"].said == "quantization_bit 4: bitsandbytes is not installed, and it needs CUDA"
    assert qlora["bitsandbytes"].fix == "pip install '.[gpu]' on a CUDA machine"  # installing it comes first
    on_gpu = {c.name: c for c in library_checks(recipe("afqmc_qlora.yaml"), A100)}
    assert on_gpu["bitsandbytes"].said == "quantization_bit 4: bitsandbytes is not installed"
    assert on_gpu["bitsandbytes"].fix == "pip install '.[gpu]' on a CUDA machine"
    if not doctor.importable("flash_attn"):
        fa2 = {c.name: c for c in library_checks(recipe("agnews_full.yaml"), A100)}
        assert (fa2["attention"].ok, fa2["attention"].said) == (False, "flash_attn: fa2 needs the flash_attn package")
        assert fa2["attention"].fix == ("pip install flash-attn --no-build-isolation (a build against this torch), or "
                                        "set flash_attn: sdpa")


def test_deepspeed_needs_ninja_and_nvcc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither ninja nor nvcc on it
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "cuda"))
    zero3 = {c.name: c for c in library_checks(recipe("agnews_full.yaml"), A100)}["deepspeed"]
    assert zero3.ok is False and "ninja, nvcc (CUDA_HOME)" in zero3.said


def test_too_little_disk_for_the_model_and_its_checkpoints(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Llama-3.1-8B, full: 8e9 bf16 weights to download (16 GB) and save_total_limit + 1 saves of 12 bytes per
    trainable parameter (no limit: at least one, and the final save); one file system with 10 GiB free holds neither."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    full = recipe("agnews_full.yaml")
    assert full.setting("save_total_limit") is None  # no limit: at least one checkpoint, and the final save
    planned = {"params": 8_000_000_000, "trainable": 8_000_000_000, "memory": {}}
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(100 * GIB, 90 * GIB, 10 * GIB))
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    check = disk_check(full, planned, "meta-llama/Llama-3.1-8B")
    download, saves = 8e9 * 2 / GIB, 2 * 8e9 * 12 / GIB
    assert check.ok is False
    assert check.said.startswith(f"model {download:.1f} GiB, checkpoints {saves:.1f} GiB; ")
    assert f"has 10.0 GiB free of {download + saves:.1f} needed" in check.said
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10_000 * GIB, 0, 10_000 * GIB))
    assert disk_check(full, planned, "meta-llama/Llama-3.1-8B").ok is True


def test_offloaded_states_need_host_memory() -> None:
    assert host_check({"memory": {"host_gib": 0.0}}) is None
    short = host_check({"memory": {"host_gib": 1e6}})
    assert short is not None and short.ok is False and short.said.startswith("offloaded states 1000000.0 GiB, ")


def test_a_gated_model_needs_a_token_and_the_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "stored_tokens"))
    gated = hub_check("meta-llama/Llama-3.1-8B")
    assert gated is not None and gated.ok is False
    assert gated.said == "meta-llama/Llama-3.1-8B is gated and no Hugging Face token is set"
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    unreachable = hub_check("Qwen/Qwen3-4B-Base")
    assert unreachable is not None and unreachable.ok is False and unreachable.said.startswith("Qwen/Qwen3-4B-Base: ")
    assert hub_check(str(tmp_path)) is None  # a local folder needs no hub


def test_reporting_to_wandb_needs_a_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine example.com login a password b\n", encoding="utf-8")
    monkeypatch.setenv("NETRC", str(netrc))
    sft = recipe("qwen3_4b_tulu_sft_lora.yaml")
    out = wandb_check(sft)
    assert out is not None and out.ok is False and out.said == "report_to wandb: not logged in"
    netrc.write_text("machine api.wandb.ai login user password k\n", encoding="utf-8")
    netrc.chmod(0o600)
    assert wandb_check(sft).ok is True  # type: ignore[union-attr]
    assert wandb_check(recipe("demo/agnews_tiny_sft.yaml")) is None  # report_to: none


@pytest.mark.skipif(torch.cuda.is_available(), reason="the failing path: no CUDA device")
def test_doctor_exits_1_with_one_line_per_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("PATH", str(tmp_path))  # neither ninja nor nvcc on it: DeepSpeed could not build its ops
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "cuda"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    done = run_cli("doctor", "recipes/qwen3_4b_tulu_sft_lora.yaml")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("FAIL machine: cuda: ")
    assert [line.split(":")[0:2] for line in lines[1:]] == [
        ["FAIL recipes/qwen3_4b_tulu_sft_lora.yaml", " gpus"],
        ["FAIL recipes/qwen3_4b_tulu_sft_lora.yaml", " deepspeed"],
        ["FAIL recipes/qwen3_4b_tulu_sft_lora.yaml", " hub"],
        ["ok   recipes/qwen3_4b_tulu_sft_lora.yaml", " wandb"]]
    missing = run_cli("doctor", "recipes/nope.yaml")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
