"""Logging a finished report to a wandb run (set WANDB_MODE=offline to keep it local)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def log_report(job: str, out_dir: Path, scalars: dict[str, float], tables: dict[str, tuple[list[str], list[list[Any]]]],
               images: dict[str, Path], config: dict[str, Any]) -> str:
    """One wandb run with scalars in its summary, tables and images; returns the run's local folder."""
    import wandb

    run = wandb.init(project=os.environ.get("WANDB_PROJECT", "llm-recipes"), job_type=job, dir=str(out_dir),
                     config=config, reinit="finish_previous")
    try:
        run.log({**scalars,
                 **{name: wandb.Table(columns=cols, data=rows) for name, (cols, rows) in tables.items()},
                 **{name: wandb.Image(str(path)) for name, path in images.items()}})
        run.summary.update(scalars)
        return str(Path(run.dir).parent)
    finally:
        run.finish()
