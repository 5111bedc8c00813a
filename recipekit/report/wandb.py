"""Logging a finished report to a wandb run (set WANDB_MODE=offline to keep it local)."""

from __future__ import annotations

import contextlib
import io
import json
import netrc
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from recipekit.errors import InputError
from recipekit.files import held_bytes


def require_wandb(who: str = "--wandb") -> None:
    """Refuse ``--wandb`` (or ``who``) before any work when wandb can neither log offline nor reach an account."""
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun") or os.environ.get("WANDB_API_KEY"):
        return
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    with contextlib.suppress(netrc.NetrcParseError, OSError):
        if netrc.netrc().authenticators(host):
            return
    raise InputError(f"{who}: wandb is not configured: set WANDB_MODE=offline (the run stays on disk) or run "
                     "`wandb login`")


def add_wandb_flags(parser: Any, logs: str, into_training: bool = True) -> None:
    """``--wandb`` (log ``logs`` to wandb) and, for a report of a trained model, ``--wandb-run TRAIN_DIR``."""
    parser.add_argument("--wandb", action="store_true", help=f"log {logs} to wandb")
    if into_training:
        parser.add_argument("--wandb-run", metavar="TRAIN_DIR", help="with --wandb: log into the wandb run of the "
                            "training whose output_dir is TRAIN_DIR (in a chain: the run $WANDB_RUN_ID names)")


def wandb_checked(args: Any) -> Any:
    """``args``, once ``--wandb`` is known to be usable (refused before any work otherwise)."""
    if getattr(args, "wandb", False):
        require_wandb()
    return args


def image(path: Path) -> Any:
    """A wandb.Image of a PNG this run wrote (still held back, or on disk)."""
    import wandb

    data = held_bytes(path)
    if data is None:
        return wandb.Image(str(path))
    from PIL import Image

    return wandb.Image(Image.open(io.BytesIO(data)))


BLOCK, CHUNK_HEADER = 32768, 7  # the .wandb transaction log: LevelDB-style 32 KiB blocks, 7-byte chunk headers


def offline_records(path: Path) -> Iterator[Any]:
    """The protobuf records of a run's ``run-<id>.wandb`` file (online runs keep one too), in order."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise InputError("not a wandb run file", str(path))
    at, pending = CHUNK_HEADER, b""
    while at + CHUNK_HEADER <= len(data):
        left = BLOCK - at % BLOCK
        if left < CHUNK_HEADER:  # block padding
            at += left
            continue
        _, length, kind = struct.unpack("<IHB", data[at:at + CHUNK_HEADER])
        if (kind == 0 and length == 0) or at + CHUNK_HEADER + length > len(data):
            break  # a zeroed tail, or a record still being written (or cut off when its run was killed)
        pending += data[at + CHUNK_HEADER:at + CHUNK_HEADER + length]
        at += CHUNK_HEADER + length
        if kind in (1, 4):  # a whole record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def item_key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def run_facts(path: Path) -> dict[str, Any]:
    """A run file's id, group, job type, config, the history keys it logged and its last summary values."""
    facts: dict[str, Any] = {"id": None, "group": None, "job_type": None, "config": {}, "history": set(),
                             "summary": {}}
    for record in offline_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            facts.update(id=record.run.run_id, group=record.run.run_group or None, job_type=record.run.job_type)
            items = record.run.config.update
        elif kind == "config":
            items = record.config.update
        elif kind == "history":
            facts["history"] |= {item_key(item) for item in record.history.item}
            continue
        elif kind == "summary":
            facts["summary"].update({item_key(item): item.value_json for item in record.summary.update})
            continue
        else:
            continue
        for item in items:
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(item.value_json)
                facts["config"][item_key(item)] = value.get("value", value) if isinstance(value, dict) else value
    return facts


def training_run(train_dir: str | Path) -> tuple[str, Path] | None:
    """The id of the newest wandb run whose ``output_dir`` is ``train_dir`` (the Trainer logs it in the run's
    config) and the folder holding its ``wandb/``, searched under $WANDB_DIR (else the working folder) and the
    training folder."""
    target = Path(train_dir).resolve()
    roots = {Path(os.environ.get("WANDB_DIR") or "."), target}
    files = sorted((f for root in roots for f in root.glob("wandb/*run-*/run-*.wandb")),
                   key=lambda f: f.stat().st_mtime, reverse=True)
    for path in files:
        facts = run_facts(path)
        output_dir = facts["config"].get("output_dir")
        if output_dir and Path(str(output_dir)).resolve() == target:
            return facts["id"], path.parents[2]
    return None


def log_report(job: str, out_dir: Path, scalars: dict[str, float], tables: dict[str, tuple[list[str], list[list[Any]]]],
               images: dict[str, Path], config: dict[str, Any], attach: str | None = None) -> str:
    """One wandb run with scalars in its summary, tables and images; returns the run's local folder.

    The report is logged into the training run it evaluates (resumed), so the training curves and the
    evaluation sit together: the run ``$WANDB_RUN_ID`` names (a chain gives each training step an id and its
    eval steps the same), else, outside a chain, the run whose ``output_dir`` is ``attach`` (found by reading
    wandb's own run files: the one case that still needs them); else a new run in $WANDB_RUN_GROUP."""
    import wandb

    run_id, folder = os.environ.get("WANDB_RUN_ID"), os.environ.get("WANDB_DIR") or str(out_dir)
    if run_id is None and attach:
        found = training_run(attach)
        if found is None:
            print(f"note: no wandb run of {attach} found: logging to a new run in group "
                  f"{os.environ.get('WANDB_RUN_GROUP', '(none)')}")
        else:
            run_id, folder = found[0], str(found[1])
    resume = {"id": run_id, "resume": "allow"} if run_id else {"job_type": job}
    run = wandb.init(project=os.environ.get("WANDB_PROJECT", "llm-recipes"), dir=folder if run_id else str(out_dir),
                     config=config if run_id is None else None, reinit="finish_previous", **resume)
    if run_id:  # inside the training run: the report's numbers under their own prefix
        scalars = {f"{job}/{k}": v for k, v in scalars.items()}
        tables = {f"{job}/{k}": v for k, v in tables.items()}
        images = {f"{job}/{k}": v for k, v in images.items()}
    try:
        run.log({**scalars,
                 **{name: wandb.Table(columns=cols, data=rows) for name, (cols, rows) in tables.items()},
                 **{name: image(path) for name, path in images.items()}})
        run.summary.update(scalars)
        return str(Path(run.dir).parent)
    finally:
        run.finish()
