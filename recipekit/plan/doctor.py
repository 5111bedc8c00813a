"""Preflight on a rented GPU machine: can this machine run a recipe? One check per line, each with its fix.

The machine's checks (torch's CUDA build against the driver, the GPUs) run once; each recipe then gets those its
settings call for: GPU count and memory (the planner's peak on this machine's card), bf16, bitsandbytes for
4-bit, FlashAttention 2, NCCL for several GPUs, DeepSpeed's op builds for ZeRO, free disk for the model and
checkpoints, host memory for offloaded states, the hub and a token for a gated model, wandb's login.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.plan.gpus import Gpu, device_card, report_hardware
from recipekit.plan.memory import GIB
from recipekit.recipes.reading import Recipe

GATED = ("meta-llama/",)  # model families whose download needs an accepted licence and a token
WEIGHT_BYTES = 2  # a model's download: bf16/fp16 safetensors
CHECKPOINT_BYTES = 12  # per trainable parameter in a checkpoint: fp32 weight and Adam's two moments
HUB_SECONDS = 10  # how long the hub may take to answer for a model


@dataclass(frozen=True)
class Check:
    """One check's answer: ``ok`` None when it does not apply here (skipped), with the fix when it fails."""

    name: str
    ok: bool | None
    said: str
    fix: str = ""

    def line(self, scope: str) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        return f"{mark} {scope}: {self.name}: {self.said}" + (f"; fix: {self.fix}" if self.fix and not self.ok else "")


@dataclass(frozen=True)
class Machine:
    """This machine as the checks see it: CUDA devices, the first one's name and memory, bf16 support."""

    gpus: int
    device: str = ""
    memory_gib: float = 0.0
    bf16: bool = False


def this_machine() -> Machine:
    """The CUDA devices torch sees (none on a CPU-only build or without a driver)."""
    import torch

    if not torch.cuda.is_available():
        return Machine(0)
    # pragma: no mutate start (a GPU's readings: the GPU check, tools/gpu_check.sh, runs the doctor on one)
    props = torch.cuda.get_device_properties(0)
    return Machine(torch.cuda.device_count(), props.name, props.total_memory / GIB, torch.cuda.is_bf16_supported())
    # pragma: no mutate end


def cuda_check(machine: Machine) -> Check:
    """torch's CUDA build against the driver: a CPU-only wheel, or a build the driver is too old for."""
    import torch

    built = torch.version.cuda
    if built is None:
        return Check("cuda", False, f"torch {torch.__version__} is a CPU-only build",
                     f"pip install torch=={torch.__version__.split('+')[0]} --index-url "
                     "https://download.pytorch.org/whl/cu128 (the CUDA build nvidia-smi's driver supports)")
    if machine.gpus == 0:
        return Check("cuda", False, f"torch {torch.__version__} (CUDA {built}) sees no GPU",
                     f"nvidia-smi must list the GPUs with a driver for CUDA >= {built}; else install the torch "
                     "build of the driver's CUDA version")
    return Check("cuda", True, f"torch {torch.__version__} (CUDA {built}), {machine.gpus} x {machine.device} "
                 f"({machine.memory_gib:.1f} GiB)")


def recipe_gpus(recipe: Recipe) -> int:
    """The GPUs the recipe's run uses: the count its header's hardware names (at least one), else one."""
    try:
        hardware = recipe.facts().hardware
    except InputError:
        return 1
    return max(report_hardware(hardware)[1], 1)


def local_gpu(machine: Machine, cards: dict[str, Gpu]) -> Gpu:
    """This machine's card from the table, at the memory torch reports; a card the table lacks by its name and
    memory (the doctor reads the plan's memory, not its time)."""
    key = device_card(machine.device, machine.memory_gib, cards)
    if key:
        return replace(cards[key], memory_gib=machine.memory_gib)
    return Gpu(machine.device, machine.memory_gib, 1.0, 1.0)


def gpu_checks(recipe: Recipe, machine: Machine, planned: dict[str, Any] | None) -> list[Check]:
    """GPU count against the recipe's run, its planned peak against this card, bf16, NCCL for several GPUs."""
    wanted = recipe_gpus(recipe)
    if machine.gpus == 0:
        return [Check("gpus", False, f"the run uses {wanted} GPU{'s' * (wanted > 1)}; this machine has none",
                      "rent a machine with CUDA GPUs (the cuda check says why none is seen)")]
    found = [Check("gpus", machine.gpus >= wanted, f"the run uses {wanted}, this machine has {machine.gpus}",
                   f"rent {wanted} GPUs, or raise gradient_accumulation_steps x{wanted // max(machine.gpus, 1)} "
                   "to keep the global batch on fewer")]
    if planned is not None:
        peak, fits = planned["memory"]["peak_gib"], planned["fits"]
        found.append(Check("memory", fits, f"planned peak {peak:.1f} GiB per GPU on {machine.device} "
                           f"({machine.memory_gib:.1f} GiB)" + ("" if fits else ": does not fit"),
                           "`llm-recipes plan RECIPE` lists the changes that fit (batch, checkpointing, ZeRO, LoRA)"))
    if recipe.setting("bf16", False):  # an export recipe's parser has no TrainingArguments
        found.append(Check("bf16", machine.bf16, f"bf16 {'is' if machine.bf16 else 'is not'} supported by "
                           f"{machine.device}", "set bf16: false and fp16: true (a card before Ampere)"))
    if wanted > 1:
        import torch.distributed

        nccl = torch.distributed.is_nccl_available()
        found.append(Check("nccl", nccl, f"NCCL {'is' if nccl else 'is not'} in this torch build",
                           "install torch's CUDA build (it ships NCCL)"))
    return found


def importable(module: str) -> bool:
    """Whether ``module`` can be imported here."""
    return importlib.util.find_spec(module) is not None


def library_checks(recipe: Recipe, machine: Machine) -> list[Check]:
    """bitsandbytes with CUDA for 4/8-bit, flash_attn for ``flash_attn: fa2``, DeepSpeed's op builds for ZeRO."""
    found = []
    bits = recipe.setting("quantization_bit")
    if bits:
        has = importable("bitsandbytes")
        said = (f"quantization_bit {bits}: bitsandbytes " + ("is installed" if has else "is not installed")
                + ("" if machine.gpus else ", and it needs CUDA"))
        found.append(Check("bitsandbytes", has and machine.gpus > 0, said,
                           "pip install '.[gpu]' on a CUDA machine" if machine.gpus or not has else
                           "run on a CUDA machine"))
    if recipe.setting("flash_attn", None) == "fa2":
        has = importable("flash_attn")
        found.append(Check("attention", has, f"flash_attn: fa2 {'finds' if has else 'needs'} the flash_attn package",
                           "pip install flash-attn --no-build-isolation (a build against this torch), or set "
                           "flash_attn: sdpa"))
    deepspeed = recipe.setting("deepspeed", None)
    if deepspeed:
        home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
        nvcc = shutil.which("nvcc") is not None or (Path(home) / "bin" / "nvcc").is_file()
        missing = [name for name, there in (("deepspeed", importable("deepspeed")),
                                            ("ninja", shutil.which("ninja") is not None),
                                            ("nvcc (CUDA_HOME)", nvcc)) if not there]
        found.append(Check("deepspeed", not missing, f"{Path(str(deepspeed)).name}: "
                           + (f"missing {', '.join(missing)}" if missing else "deepspeed, ninja and nvcc found"),
                           "pip install '.[gpu]' ninja, and a CUDA toolkit (export CUDA_HOME=/usr/local/cuda) "
                           "for DeepSpeed's fused Adam build"))
    return found


def disk_bytes(recipe: Recipe, planned: dict[str, Any], local_model: bool) -> tuple[int, int]:
    """(model download, checkpoints) bytes: bf16 weights from the plan's parameter count (none for a local
    model), and ``save_total_limit`` checkpoints (at least one without a limit) of the trainable parameters'
    fp32 weights and Adam moments, plus the final save."""
    download = 0 if local_model else int(planned["params"]) * WEIGHT_BYTES
    if str(recipe.setting("save_strategy", "no")).lower().endswith("no"):
        kept = 0
    else:
        kept = int(recipe.setting("save_total_limit", None) or 1)
    trainable = int(planned.get("trainable") or 0)  # a prediction run saves no checkpoints
    return download, (kept + 1) * trainable * CHECKPOINT_BYTES


def disk_check(recipe: Recipe, planned: dict[str, Any], model: str) -> Check:
    """Free disk where the model is cached and the checkpoints go, against the bytes each needs (summed where
    both are the same file system)."""
    from huggingface_hub import constants

    local = Path(model).exists()
    download, checkpoints = disk_bytes(recipe, planned, local)
    needs: dict[Path, int] = {}
    for where, size in ((Path(constants.HF_HUB_CACHE), download), (Path(str(recipe.setting("output_dir"))),
                                                                   checkpoints)):
        existing = next(p for p in [where, *where.absolute().parents] if p.exists())
        needs[existing] = needs.get(existing, 0) + size
    by_device: dict[int, tuple[Path, int]] = {}
    for path, size in needs.items():
        device = os.stat(path).st_dev
        first, total = by_device.get(device, (path, 0))
        by_device[device] = (first, total + size)
    short = [(path, size, shutil.disk_usage(path).free) for path, size in by_device.values()
             if shutil.disk_usage(path).free < size]
    said = f"model {download / GIB:.1f} GiB, checkpoints {checkpoints / GIB:.1f} GiB"
    if short:
        said += "; " + ", ".join(f"{path} has {free / GIB:.1f} GiB free of {size / GIB:.1f} needed"
                                 for path, size, free in short)
    return Check("disk", not short, said, "free disk, or point HF_HOME and output_dir at a larger volume; lower "
                 "save_total_limit")


def host_check(planned: dict[str, Any]) -> Check | None:
    """Host memory for states offloaded to the CPU (the plan's host figure), against what is available."""
    import psutil

    host = float(planned["memory"].get("host_gib") or 0.0)
    if host <= 0:
        return None
    free = psutil.virtual_memory().available / GIB
    return Check("host memory", free >= host, f"offloaded states {host:.1f} GiB, {free:.1f} GiB available",
                 "rent a machine with more RAM, or offload less (the DeepSpeed config's offload_* device: none)")


def hub_check(model: str) -> Check | None:
    """A hub model reachable, with a token for a gated one (None for a local folder)."""
    if Path(model).exists():
        return None
    from huggingface_hub import HfApi, get_token

    token = get_token()
    gated = model.startswith(GATED)
    if gated and not token:
        return Check("hub", False, f"{model} is gated and no Hugging Face token is set",
                     f"accept the licence at https://huggingface.co/{model}, then `hf auth login` (or HF_TOKEN)")
    try:
        HfApi(endpoint=os.environ.get("HF_ENDPOINT")).model_info(model, token=token, timeout=HUB_SECONDS)
    except Exception as exc:  # any failure to reach or read the model is the answer
        return Check("hub", False, f"{model}: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}",
                     "check the network (HF_ENDPOINT) and, for a gated model, that the token's account has access")
    return Check("hub", True, f"{model} reachable" + (" with a token" if token else ""))


def wandb_check(recipe: Recipe) -> Check | None:
    """wandb logged in (WANDB_API_KEY, or `wandb login`'s netrc entry) when the recipe reports to it."""
    if "wandb" not in (recipe.setting("report_to", None) or []):  # TrainingArguments reads it as a list
        return None
    import netrc

    key = os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE") in ("offline", "disabled")
    if not key:
        try:
            key = bool(netrc.netrc(os.environ.get("NETRC")).authenticators("api.wandb.ai"))
        except (FileNotFoundError, netrc.NetrcParseError):
            key = False
    return Check("wandb", bool(key), "report_to wandb: " + ("logged in" if key else "not logged in"),
                 "`wandb login` (or WANDB_API_KEY), or WANDB_MODE=offline, or report_to: none")


def recipe_checks(recipe: Recipe, machine: Machine, cards: dict[str, Gpu], made_by: dict[str, Path]) -> list[Check]:
    """Every check the recipe calls for on this machine; planning (for memory, disk and host) only with a GPU."""
    from recipekit.plan.planner import plan, producer_model

    model = producer_model(str(recipe.setting("model_name_or_path")), made_by)
    planned = None
    if machine.gpus:
        gpus = min(recipe_gpus(recipe), machine.gpus)
        planned = plan(recipe, local_gpu(machine, cards), gpus, made_by)
    found = gpu_checks(recipe, machine, planned) + library_checks(recipe, machine)
    if planned is not None:
        found += [disk_check(recipe, planned, model), *filter(None, [host_check(planned)])]
    return found + list(filter(None, [hub_check(model), wandb_check(recipe)]))
