"""The one bootstrap of the repository: seeded percentile intervals of statistics over rows drawn with
replacement. The reports write their intervals with it; the report card reads what they wrote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

RESAMPLES, SEED, LEVEL = 1000, 0, 0.95


def percentile_bootstrap(n: int, statistics: Callable[[np.ndarray], dict[str, float]], resamples: int = RESAMPLES,
                         seed: int = SEED, level: float = LEVEL) -> dict[str, Any]:
    """``{"level", "resamples", "seed", NAME: [low, high], ...}``: each statistic ``statistics(rows)`` returns
    (given the indices of the rows drawn), over ``resamples`` draws of ``n`` rows with replacement."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(resamples):
        for key, value in statistics(rng.integers(0, n, size=n)).items():
            draws.setdefault(key, []).append(value)
    tail = (1 - level) / 2 * 100
    intervals = {key: [float(x) for x in np.percentile(values, [tail, 100 - tail])] for key, values in draws.items()}
    return {"level": level, "resamples": resamples, "seed": seed, **intervals}
