"""The process ``plan --measure`` starts (one per rank under torchrun): LLaMA-Factory's ``run_exp`` on the given
arguments (or, for a classifier recipe, the classifier's trainer), with a callback that times every optimizer
step and records the peak memory of training; each rank writes ``OUT.rank<N>.json``.

Memory: on CUDA the caching allocator's peaks (allocated, reserved) and the context the device holds besides;
on the CPU the process's resident memory, sampled every few milliseconds from before the model loads to the end of
training, over what the process held before the run (libraries imported, nothing loaded).

Usage: python -m recipekit.plan.probe ARGS.json OUT [classifier]
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

SAMPLE_SECONDS = 0.002


class Sampler(threading.Thread):
    """The process's largest resident set size while it runs."""

    def __init__(self, process: Any) -> None:
        super().__init__(daemon=True)
        self.process, self.peak, self.done = process, process.memory_info().rss, threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def finish(self) -> int:
        self.done.set()
        self.join()
        return max(self.peak, self.process.memory_info().rss)


def probe_callback(out: Path) -> Any:
    """The callback that times each optimizer step and writes ``OUT.rankN.json``; on the CPU its resident-memory
    peak runs from now (the libraries imported: the baseline) through the model's load and the trainer's setup to
    the end of training, so it is never below the baseline."""
    import psutil
    import torch
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()  # pragma: no mutate (what follows from it runs on a GPU only)
    sampler = Sampler(psutil.Process())
    before = sampler.peak
    sampler.start()

    class Probe(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            self.marks = [time.perf_counter()]

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            self.marks.append(time.perf_counter())

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            rss = sampler.finish()
            steps = [later - earlier for earlier, later in zip(self.marks, self.marks[1:], strict=False)]
            result: dict[str, Any] = {"device": "cpu", "step_seconds": steps, "rss_before": before, "rss_peak": rss}
            # pragma: no mutate start (a GPU's readings: the GPU check, tools/gpu_check.sh, runs them)
            if cuda:
                free, total = torch.cuda.mem_get_info()
                reserved = torch.cuda.memory_reserved()
                result.update(device=torch.cuda.get_device_name(), device_total=total,
                              allocated_peak=torch.cuda.max_memory_allocated(),
                              reserved_peak=torch.cuda.max_memory_reserved(),
                              context=max(total - free - reserved, 0))
            # pragma: no mutate end
            rank = os.environ.get("RANK", "0")
            Path(f"{out}.rank{rank}.json").write_text(json.dumps(result), encoding="utf-8")

    return Probe()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args, out = json.loads(Path(argv[0]).read_text(encoding="utf-8")), Path(argv[1])
    import torch
    from llamafactory.train.dpo.workflow import run_dpo  # noqa: F401  (imported before the baseline is read)
    from llamafactory.train.sft.workflow import run_sft  # noqa: F401
    from llamafactory.train.tuner import run_exp

    from recipekit.classify.training import run
    from recipekit.recipes.reading import Recipe

    if torch.cuda.is_available():  # pragma: no mutate (each rank its own GPU: the GPU check runs it)
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # pragma: no mutate
    if argv[2:] == ["classifier"]:
        head, training = Recipe(Path(argv[0]), args, classifier=True).parsed()
        run(head, training, [probe_callback(out)])
    else:
        run_exp(args, callbacks=[probe_callback(out)])


if __name__ == "__main__":
    main()
