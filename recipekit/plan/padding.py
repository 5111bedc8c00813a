"""Tokens a run pays for against the tokens its rows hold: LLaMA-Factory pads each batch to its longest row, in
the order the Trainer's sampler gives (``train_sampling_strategy``), and ``packing`` fills blocks of ``cutoff_len``
instead (its own greedy knapsack, each block padded to cutoff + 1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recipekit.recipes.reading import Recipe


@dataclass(frozen=True)
class Padding:
    """One epoch's tokens, padded per batch and packed."""

    rows: int
    batch: int
    cutoff: int
    used: int  # tokens the rows hold, each cut at cutoff_len
    paid: int  # tokens the batches run: each batch's rows x its longest row
    packed_blocks: int  # LLaMA-Factory's packed rows
    packed_paid: int  # tokens the packed rows run (each cutoff_len + 1)
    sampling: str = "random"  # the Trainer's train_sampling_strategy: random | sequential | group_by_length

    @property
    def padded_share(self) -> float:
        """Share of the paid tokens that are padding."""
        return 1 - self.used / self.paid if self.paid else 0.0

    @property
    def typical_row(self) -> float:
        """The mean row as the batches run it (padded)."""
        return self.paid / self.rows if self.rows else 0.0

    @property
    def packing_saves(self) -> float:
        """Share of the padded batches' tokens that packing does not run (negative: packing runs more)."""
        return 1 - self.packed_paid / self.paid if self.paid else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "padded_share": round(self.padded_share, 4), "typical_row": round(self.typical_row, 1),
                "packing_saves": round(self.packing_saves, 4)}


def batch_order(lengths: list[int], batch: int, sampling: str, seed: int, accumulation: int = 1) -> list[int]:
    """The rows' indices in the order the Trainer's sampler takes them: a seeded shuffle ("random"), the data's
    own order ("sequential"; LLaMA-Factory's ``disable_shuffling``), or ``LengthGroupedSampler``'s
    ("group_by_length": transformers' own mega-batches of one optimizer step's rows, ``batch`` x
    ``accumulation``, each sorted longest first, from a generator seeded with ``seed``)."""
    import numpy as np

    if sampling == "sequential" or not lengths:
        return list(range(len(lengths)))
    if sampling == "group_by_length":
        import torch
        from transformers.trainer_pt_utils import get_length_grouped_indices

        return get_length_grouped_indices(lengths, batch * accumulation,
                                          generator=torch.Generator().manual_seed(seed))
    return [int(i) for i in np.random.default_rng(seed).permutation(len(lengths))]


def padding(lengths: list[int], batch: int, cutoff: int, seed: int = 42, sampling: str = "random",
            accumulation: int = 1) -> Padding:
    """The tokens of one epoch of ``lengths`` in batches of ``batch`` taken in the sampler's order
    (``batch_order``), against LLaMA-Factory's packing of the same rows into blocks of ``cutoff``."""
    import numpy as np
    from llamafactory.data.processor.processor_utils import greedy_knapsack

    cut = np.minimum(lengths, cutoff)
    rows = [int(n) for n in cut]
    order = cut[batch_order(rows, batch, sampling, seed, accumulation)]
    paid = sum(int(chunk.size * chunk.max()) for chunk in np.array_split(order, range(batch, len(order), batch))
               if chunk.size)
    blocks = len(greedy_knapsack(rows, cutoff))
    return Padding(len(cut), batch, cutoff, int(cut.sum()), paid, blocks, blocks * (cutoff + 1), sampling)


def add_padding(result: dict, lengths: list[int], recipe: Recipe) -> None:
    """The data's tokens as the padded batches run them (in the order of the recipe's sampler, from its seed) and
    as packing would, and the run's hours at the typical padded row beside those at the longest (time in
    proportion to the tokens run)."""
    value = recipe.setting
    sampling = "sequential" if value("disable_shuffling", False) else str(value("train_sampling_strategy"))
    found = padding(lengths, int(result["shape"]["batch"]), int(value("cutoff_len")), int(value("seed")), sampling,
                    int(value("gradient_accumulation_steps")))
    result["padding"] = found.as_dict()
    hours = (result.get("time") or {}).get("hours")
    if hours is not None:
        result["padding"]["typical_hours"] = hours * found.typical_row / int(result["shape"]["seq"])
