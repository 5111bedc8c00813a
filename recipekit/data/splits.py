"""Seeded, label-stratified sampling and train/validation splits (scikit-learn's ``train_test_split``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

from recipekit.data.rows import Example
from recipekit.errors import InputError

HELD_OUT_SPLITS = ("validation", "dev", "test")


def stratified_sample(labels: Sequence[Hashable], size: int | None, seed: int) -> list[int]:
    """Indices of a seeded, label-stratified subset of ``size`` rows (all rows, shuffled, if None or too big)."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    if size is None or size >= len(labels):
        return np.random.default_rng(seed).permutation(indices).tolist()
    if size <= 0:
        return []
    stratify = _stratify(labels)
    try:
        picked, _ = train_test_split(indices, train_size=size, stratify=stratify, random_state=seed)
    except ValueError as exc:  # too few rows for every class: scikit-learn's reason, in one line
        raise InputError(f"cannot draw a stratified sample of {size} from {len(labels)} rows ({exc}); "
                         "change --max-samples or --val-size") from None
    return picked.tolist()


def stratified_split(labels: Sequence[Hashable], test_size: int, seed: int) -> tuple[list[int], list[int]]:
    """Seeded, label-stratified disjoint (rest, held_out) index lists with ``test_size`` held out."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    if test_size <= 0:
        return np.random.default_rng(seed).permutation(indices).tolist(), []
    if test_size >= len(labels):
        raise InputError(f"cannot hold out {test_size} rows from {len(labels)} usable rows (lower --val-size)")
    try:
        rest, held_out = train_test_split(indices, test_size=test_size, stratify=_stratify(labels), random_state=seed)
    except ValueError as exc:  # too few held-out rows for every class to appear: scikit-learn's reason, in one line
        raise InputError(f"cannot hold out {test_size} of {len(labels)} rows stratified by class ({exc}); "
                         "change --val-size") from None
    return rest.tolist(), held_out.tolist()


def _stratify(labels: Sequence[Hashable]) -> list[Hashable] | None:
    """Labels to stratify by: None when unlabeled; an error naming a class too small to split."""
    if all(label is None for label in labels):
        return None
    rare = [str(label) for label, n in Counter(labels).items() if n < 2]
    if rare:
        raise InputError(f"cannot stratify: class {', '.join(sorted(rare))} has only one row (add rows or lower "
                         "--max-samples/--val-size)")
    return list(labels)


def select_rows(pools: dict[str, list[Example]], max_samples: int | None, val_size: int | None, seed: int,
                held_out_splits: Sequence[str] = HELD_OUT_SPLITS) -> tuple[list[Example], list[Example]]:
    """(train, validation) rows: validation is sampled from a held-out split when there is one next to
    ``train``, else ``val_size`` rows are split off; then ``max_samples`` training rows are sampled."""
    held_name = next((name for name in held_out_splits if name in pools), None)
    if "train" in pools and held_name is not None:
        train_pool, val_pool = pools["train"], pools[held_name]
        val = [val_pool[i] for i in stratified_sample([e.label for e in val_pool], val_size, seed)]
    else:
        only = pools["train"] if "train" in pools else pools[held_name] if held_name else []
        rest, held = stratified_split([e.label for e in only], val_size or 0, seed)
        train_pool, val = [only[i] for i in rest], [only[i] for i in held]
    if max_samples is not None and max_samples > len(train_pool):
        print(f"note: --max-samples {max_samples} is more than the {len(train_pool)} training rows there are: "
              f"all {len(train_pool)} are used")
    train = [train_pool[i] for i in stratified_sample([e.label for e in train_pool], max_samples, seed)]
    return train, val
