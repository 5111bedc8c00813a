"""The cards the planner knows (``cards.yaml`` beside this module, or a file of the user's with ``--cards``):
memory as NVML reports it, dense peaks per precision, memory bandwidth, the GPU-to-GPU link and a dated price."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recipekit.errors import InputError
from recipekit.files import read_yaml_mapping

if TYPE_CHECKING:
    from recipekit.recipes.reading import Recipe

CARDS_FILE = Path(__file__).resolve().parent / "cards.yaml"


@dataclass(frozen=True)
class Gpu:
    """A card: name, usable memory (GiB), dense peak TFLOP/s per precision (None: no such path), memory
    bandwidth (GB/s), the link between cards of one machine (GB/s per direction) and a price per GPU-hour."""

    name: str
    memory_gib: float
    bf16_tflops: float | None
    fp16_tflops: float
    fp32_tflops: float | None = None
    tf32_tflops: float | None = None
    memory_gb_s: float = 0.0
    link: str = ""
    link_gb_s: float = 0.0
    price_per_hour: float | None = None
    price_source: str = ""

    def peak_tflops(self, precision: str) -> float:
        """The dense peak for ``precision`` (bf16, fp16, tf32 or fp32): bf16 falls back to fp16 on a card without
        it, tf32 to fp32; a card described only by --gpu-tflops has that one peak."""
        if precision == "bf16":
            return self.bf16_tflops or self.fp16_tflops
        if precision == "tf32":
            return self.tf32_tflops or self.fp32_tflops or self.fp16_tflops
        if precision == "fp32":
            return self.fp32_tflops or self.fp16_tflops
        return self.fp16_tflops

    def half_precision(self) -> str:
        """What LLaMA-Factory picks for a run without bf16/fp16 flags (``infer_optim_dtype``): bf16 where the
        card has it, else fp16."""
        return "bf16" if self.bf16_tflops else "fp16"


def card(key: str, raw: Any, source: str) -> Gpu:
    """One entry of a cards file; a malformed one is one error naming the file and the card."""
    try:
        peaks, link, price = raw["tflops"], raw.get("link") or {}, raw.get("price") or {}
        return Gpu(str(raw["name"]), float(raw["memory_gib"]), peaks.get("bf16"), float(peaks["fp16"]),
                   peaks.get("fp32"), peaks.get("tf32"), float(raw["memory_gb_s"]), str(link.get("kind", "")),
                   float(link.get("gb_s", 0.0)), price.get("usd_per_hour"),
                   f"{price['source']}, {price['date']}" if price else "")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"card {key}: needs name, memory_gib, tflops (fp16 at least), memory_gb_s ({exc!r})",
                         source) from None


def load_cards(extra: str | Path | None = None) -> dict[str, Gpu]:
    """The shipped cards, with those of ``extra`` (a file of the same layout) added or replacing them."""
    cards: dict[str, Gpu] = {}
    for path in [CARDS_FILE, *([Path(extra)] if extra else [])]:
        data = read_yaml_mapping(path, "cards file")
        cards.update({str(key).lower(): card(str(key), raw, str(path)) for key, raw in data.items()})
    return cards


GPUS = load_cards()


def squeezed(name: str) -> str:
    """A card's name as people write it, reduced to letters and digits: vendor words and separators dropped,
    ``GB`` to ``g`` (``NVIDIA A100-80GB`` -> ``a10080g``, ``RTX 4090`` -> ``rtx4090``)."""
    text = re.sub(r"\b(?:nvidia|geforce|tesla|sxm\d?|pcie)\b", " ", name.lower())
    return re.sub(r"gb\b", "g", re.sub(r"[^a-z0-9]+", " ", text)).replace(" ", "")


def card_key(name: str, cards: dict[str, Gpu]) -> str:
    """The table's key for a card as people write it (``a100-80g``, ``A100-80GB``, ``RTX 4090``, ``4090``,
    ``H100``); a name that fits several cards asks which, one that fits none suggests the nearest."""
    if name.lower() in cards:
        return name.lower()
    wanted, keys = squeezed(name), {squeezed(key): key for key in cards}
    if wanted in keys:
        return keys[wanted]
    fits = [key for short, key in keys.items() if wanted and (short.startswith(wanted) or
                                                                short.endswith(wanted) or wanted in short)]
    if len(fits) == 1:
        return fits[0]
    if fits:
        raise InputError(f"--gpu {name!r} fits {' and '.join(fits)}: say which (memory matters to the plan)")
    import difflib

    near = difflib.get_close_matches(wanted, list(keys), n=1, cutoff=0.5)
    hint = f"did you mean {keys[near[0]]}? " if near else ""
    raise InputError(f"--gpu {name!r} is not in the table ({', '.join(cards)}); {hint}or describe it with --gpu-mem "
                     "GIB --gpu-tflops TFLOPS")


def resolve_gpu(name: str | None, memory_gib: float | None = None, tflops: float | None = None,
                cards: dict[str, Gpu] | None = None) -> Gpu:
    """A card of the table, or one described by --gpu-mem / --gpu-tflops (which also override the table's)."""
    cards = cards or GPUS
    if name is None:  # a card described by its memory and one peak: no bandwidth, link or price known
        if memory_gib is None:
            raise InputError(f"name a card with --gpu ({', '.join(cards)}) or describe one with --gpu-mem and "
                             "--gpu-tflops")
        if tflops is None:
            raise InputError("--gpu-mem needs --gpu-tflops (the card's dense bf16/fp16 peak)")
        return Gpu(f"custom {memory_gib:g} GiB", float(memory_gib), tflops, float(tflops))
    base = cards[card_key(name, cards)]
    if tflops is None and memory_gib is None:
        return base
    return replace(base, memory_gib=memory_gib if memory_gib is not None else base.memory_gib,
                   bf16_tflops=tflops if tflops is not None else base.bf16_tflops,
                   fp16_tflops=tflops if tflops is not None else base.fp16_tflops)


HARDWARE = re.compile(r"^\s*(?:(\d+)\s*x\s*)?([^.(;]*)", re.I)
NAMED = (("a100", "40", "a100-40g"), ("a100", "80", "a100-80g"), ("a100", "", "a100-40g"), ("a6000", "", "rtx-a6000"),
         ("h100", "", "h100-80g"), ("h200", "", "h200"), ("4090", "", "rtx4090"), ("3090", "", "rtx3090"),
         ("t4", "", "t4"), ("a10", "", "a10"))  # an A100 of no stated size: the smaller one, not an A10


def report_hardware(hardware: str) -> tuple[str, int, bool]:
    """(card key, GPU count, named) from a report's hardware ("8x A100-SXM4-40GB"); a GPU the report does not
    name is planned on the smallest common cloud card, a T4 (named False)."""
    match = HARDWARE.search(hardware)
    if not match or not hardware.strip():
        return "t4", 1, False
    count, text = int(match.group(1) or 1), match.group(2).lower()
    for tag, size, key in NAMED:
        if tag in text and size in text:
            return key, count, True
    digits = re.match(r"\s*(\d+)\s*(?:x\s*)?gpu", text)
    return "t4", int(digits.group(1)) if digits else count, False


def local_card(cards: dict[str, Gpu]) -> str | None:
    """The table's key for this machine's first CUDA device; None without CUDA or for a card not in the table."""
    import torch

    if not torch.cuda.is_available():
        return None
    device = torch.cuda.get_device_properties(0)
    return device_card(device.name, device.total_memory / 2**30, cards)


def device_card(device: str, memory_gib: float, cards: dict[str, Gpu]) -> str | None:
    """The table's key for a device as CUDA names it: the longest card family in its name, then the size nearest
    its memory (``NVIDIA A100-SXM4-80GB`` -> ``a100-80g``); None for a card not in the table."""
    name, memory = squeezed(device), memory_gib
    families = {key: squeezed(re.sub(r"-\d+g$", "", key)) for key in cards}
    matching = [key for key, family in families.items() if family and family in name]
    if not matching:
        return None
    longest = max(len(families[key]) for key in matching)
    same = [key for key in matching if len(families[key]) == longest]
    return min(same, key=lambda key: abs(cards[key].memory_gib - memory))


def fitting_cards(peak_gib: float, cards: dict[str, Gpu]) -> list[str]:
    """The cards whose memory holds a run that peaks at ``peak_gib`` per GPU (the peak is the same on any card),
    smallest first."""
    return sorted((key for key, gpu in cards.items() if peak_gib <= gpu.memory_gib), key=lambda k: cards[k].memory_gib)


def default_card(recipe: Recipe, cards: dict[str, Gpu]) -> tuple[str | None, str | None]:
    """(card, why) when --gpu is not given: the card the header's 'Hardware:' names, else this machine's GPU;
    (None, None) when neither is known."""
    try:
        hardware = recipe.facts().hardware
    except InputError:  # a header naming a chain that has no entry for it: no card from it
        hardware = ""
    card, _, named = report_hardware(hardware)
    if named and card in cards:
        return card, f"the recipe's header names {hardware.strip()}"
    local = local_card(cards)
    return (local, "this machine's GPU") if local else (None, None)


def peak_and_cards(result: dict, cards: dict[str, Gpu]) -> dict:
    """The run's peak per GPU and the cards that hold it (the peak does not depend on the card)."""
    peak = result["memory"]["peak_gib"]
    return {"recipe": result["recipe"], "gpus": result["gpus"], "peak_gib": peak,
            "fits_cards": fitting_cards(peak, cards)}
