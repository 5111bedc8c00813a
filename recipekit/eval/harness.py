"""lm-evaluation-harness runs: its task manager, the check that a suite names tasks it knows, and one stage
evaluated at each shot count of its suite (the numbers are aggregated by :mod:`recipekit.eval.benchmarks`)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from recipekit.data.readers import hub_reachable, root_cause
from recipekit.errors import InputError
from recipekit.eval.benchmarks import Stage, Suite
from recipekit.files import write_json


def quiet_progress() -> None:
    """No loading bars from transformers and datasets and only lm-eval's errors logged: the output is the report
    (and one line on an error)."""
    import logging

    import datasets
    from transformers.utils import logging as transformers_logging

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    transformers_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def task_manager(include_path: str | None) -> Any:
    """lm-eval's task manager: its own tasks and those of the ``include_path`` folder."""
    from lm_eval.tasks import TaskManager

    if include_path and not Path(include_path).is_dir():
        raise InputError("no such folder", include_path)
    return TaskManager(include_path=include_path)


def check_tasks(suite: Suite, manager: Any, suite_path: str) -> None:
    """Every task of the suite is one lm-eval knows (its own, or one in --include-path)."""
    known = set(manager.all_tasks)
    for dimension in suite.dimensions:
        for task in dimension.tasks:
            if task not in known:
                raise InputError(f"dimension {dimension.name!r}: task {task!r} is not an lm-eval task (nor one in "
                                 "--include-path)", suite_path)


def run_stage(stage: Stage, suite: Suite, manager: Any, raw: Path, *, limit: float | None, batch_size: str,
              device: str | None, seed: int) -> dict[int, Any]:
    """lm-eval on every shot count of the suite (``device``: cuda when there is one, else cpu); its results blocks
    by shot count, its own JSON kept in ``raw``."""
    import lm_eval
    import torch
    from lm_eval.utils import handle_non_serializable

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")  # pragma: no mutate (cuda: a GPU's pick)
    by_shots = {}
    for shots, tasks in suite.tasks_by_shots().items():
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                output = lm_eval.simple_evaluate(
                    model="hf", model_args=stage.model_args(), tasks=tasks, num_fewshot=shots,
                    batch_size=batch_size, device=device, limit=limit, task_manager=manager,
                    apply_chat_template=stage.chat, log_samples=False, random_seed=seed,
                    numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed)
        except (OSError, ConnectionError, ValueError, RuntimeError) as exc:
            cause = root_cause(exc)
            hint = (" Without network, point lm-eval at a local copy: a task YAML in --include-path with "
                    "dataset_path: json and data_files naming your files." if not hub_reachable() else "")
            raise InputError(f"stage {stage.name}: lm-eval could not run {', '.join(tasks)}: {cause}.{hint}") from None
        write_json(raw / f"{stage.name}_{shots}shot.json",
                   json.loads(json.dumps(output, default=handle_non_serializable)))
        by_shots[shots] = output["results"]
    return by_shots
