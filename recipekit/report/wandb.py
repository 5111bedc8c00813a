"""Logging a finished report to a wandb run (set WANDB_MODE=offline to keep it local)."""

from __future__ import annotations

import contextlib
import io
import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from recipekit.errors import InputError
from recipekit.files import held_bytes


def require_wandb() -> None:
    """Refuse ``--wandb`` before any work when wandb can neither log offline nor reach an account."""
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun") or os.environ.get("WANDB_API_KEY"):
        return
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    with contextlib.suppress(FileNotFoundError, netrc.NetrcParseError, OSError):
        if netrc.netrc().authenticators(host):
            return
    raise InputError("--wandb: wandb is not configured: set WANDB_MODE=offline (the run stays on disk) or run "
                     "`wandb login`")


def image(path: Path) -> Any:
    """A wandb.Image of a PNG this run wrote (still held back, or on disk)."""
    import wandb

    data = held_bytes(path)
    if data is None:
        return wandb.Image(str(path))
    from PIL import Image

    return wandb.Image(Image.open(io.BytesIO(data)))


def log_report(job: str, out_dir: Path, scalars: dict[str, float], tables: dict[str, tuple[list[str], list[list[Any]]]],
               images: dict[str, Path], config: dict[str, Any]) -> str:
    """One wandb run with scalars in its summary, tables and images; returns the run's local folder."""
    import wandb

    run = wandb.init(project=os.environ.get("WANDB_PROJECT", "llm-recipes"), job_type=job, dir=str(out_dir),
                     config=config, reinit="finish_previous")
    try:
        run.log({**scalars,
                 **{name: wandb.Table(columns=cols, data=rows) for name, (cols, rows) in tables.items()},
                 **{name: image(path) for name, path in images.items()}})
        run.summary.update(scalars)
        return str(Path(run.dir).parent)
    finally:
        run.finish()
