"""Shared fixtures: AG News files in the original and hub layouts, and runners for `llm-recipes` and the scripts."""

from __future__ import annotations

import codecs
import contextlib
import csv
import http.server
import importlib.util
import io
import json
import locale
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import pytest
import yaml

# LLaMA-Factory's start-up order whichever test imports trl first: llamafactory.extras.packages makes transformers'
# package probe answer a plain bool, which trl reads once when imported (else trl takes "(False, None)" for
# mergekit as present, and its DPO trainer fails to import after llamafactory.model.model_utils.misc)
import llamafactory.extras.packages  # isort: skip

from recipekit import commands

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("World", "Sports", "Business", "Sci/Tech")
AGNEWS_LABELS = "1: World,2: Sports,3: Business,4: Sci/Tech"


def agnews_rows(per_class: int, prefix: str = "Story") -> list[tuple[str, str, str]]:
    """(class index 1-4, title, description) rows with words that tell the classes apart."""
    topics = {
        "1": ("minister", "election", "troops"), "2": ("match", "coach", "season"),
        "3": ("shares", "profit", "market"), "4": ("software", "chip", "internet"),
    }
    rows = []
    for i in range(per_class):
        for label, words in topics.items():
            word = words[i % 3]
            rows.append((label, f"{prefix} {i} about the {word}", f"The {word} report number {i} for class {label}."))
    return rows


def write_original_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """The original release's CSV: no header, every field quoted, doubled inner quotes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerows(rows)
    return path


def hub_records(rows: list[tuple[str, str, str]]) -> list[dict[str, object]]:
    """The hub layout of the same rows: text = title + ' ' + description, label 0-3."""
    return [{"text": f"{title} {description}", "label": int(label) - 1} for label, title, description in rows]


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def rows_of(path: Path) -> list[dict]:
    """The rows of a JSONL file, read with nothing but ``json``."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def tulu_row(i: int, messages: list | str | None = None) -> dict:
    prompt = f"Write a haiku about topic {i}. Use no commas."
    return {"id": f"personas_IF_{i}", "prompt": prompt,
            "messages": messages if messages is not None else [msg("user", prompt), msg("assistant", f"haiku {i}")],
            "constraints": ["Use no commas."]}


def uf_row(i: int, chosen_score: float = 8.0, rejected_score: float = 4.0, **changes: object) -> dict:
    prompt = f"Explain idea {i}."
    row = {"prompt": prompt, "prompt_id": f"p{i}",
           "chosen": [msg("user", prompt), msg("assistant", f"good answer {i}")],
           "rejected": [msg("user", prompt), msg("assistant", f"weak answer {i}")],
           "messages": [msg("user", prompt), msg("assistant", f"good answer {i}")],
           "score_chosen": chosen_score, "score_rejected": rejected_score}
    return {**row, **changes}


def run_script(*args: str | Path, env: dict[str, str] | None = None, cwd: Path = ROOT,
               timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """Run ``python <script> args...`` from the repository root, capturing text output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, check=False)


CLI = str(Path(sys.executable).with_name("llamafactory-cli"))


def recipe_with(tmp_path: Path, recipe: str, **overrides: object) -> Path:
    """The repository's recipe with paths pointed into tmp_path (everything else unchanged)."""
    config = yaml.safe_load((ROOT / recipe).read_text(encoding="utf-8"))
    config.update(overrides)
    path = tmp_path / Path(recipe).name
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """A request handler of a server the tests run (a hub's API): it answers in JSON and logs nothing."""

    def log_message(self, *args: Any) -> None:
        pass

    def answer(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler] = http.server.BaseHTTPRequestHandler
            ) -> Iterator[str]:
    """A server of ``handler`` on a free port of this machine, for the block; its URL (the bare handler answers
    every request with an error)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# A CPU rank of a DeepSpeed run under torchrun now and then aborts in the interpreter's teardown, after training
# finished: DeepSpeed keeps its gloo process groups (``deepspeed.utils.groups._WORLD_GROUP``, each ZeRO-3 parameter's
# ``ds_process_group``) past LLaMA-Factory's destroy_process_group, so their C++ threads still run while Python
# finalizes (pytorch/pytorch#190489 names the same abort). Such a run of a training-only recipe that overwrites its
# output folder is run once more.
TEARDOWN_ABORT = ("terminate called without an active exception", "Signal 6 (SIGABRT)", "***** train metrics *****")


def aborted_in_teardown(recipe: Path, env: dict[str, str], said: str) -> bool:
    """Whether a failed run is the teardown abort above: torchrun's rank ended by SIGABRT with the C++ message,
    after the train metrics, in a recipe that trains only (no evaluation or prediction after the metrics) and
    overwrites its output folder (a second run starts afresh)."""
    config = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    training_only = not any(config.get(key) for key in ("do_eval", "do_predict", "eval_dataset", "val_size"))
    return (env.get("FORCE_TORCHRUN") == "1" and training_only and bool(config.get("overwrite_output_dir"))
            and all(sign in said for sign in TEARDOWN_ABORT))


def llamafactory(recipe: Path, log: Path, env: dict[str, str] | None = None) -> str:
    """Run ``llamafactory-cli train recipe`` from the repository root; return its output, fail loudly (a run that
    ``aborted_in_teardown`` is run once more, and says so in ``log``)."""
    path = os.pathsep.join([str(Path(CLI).parent), os.environ.get("PATH", "")])  # torchrun lives beside the CLI
    full_env = {**os.environ, "PATH": path, "WANDB_MODE": "offline", **(env or {})}
    said = ""
    for _ in range(2):
        done = subprocess.run([CLI, "train", str(recipe)], cwd=ROOT, env=full_env, capture_output=True, text=True,
                              timeout=900, check=False)
        said += done.stdout + done.stderr
        if done.returncode == 0 or not aborted_in_teardown(recipe, env or {}, done.stdout + done.stderr):
            break
        said += "\n--- a rank aborted in teardown after training finished: run again ---\n"
    log.write_text(said, encoding="utf-8")
    assert done.returncode == 0, said[-4000:]
    return done.stdout + done.stderr


class Ran(NamedTuple):
    """What a script run in this process left: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def command_module(*words: str) -> ModuleType:
    """The module behind an ``llm-recipes`` subcommand (``"score"``, ``"report", "classify"``), loaded once."""
    _, module, _ = commands.resolve([*words])
    return commands.load(module)


@cache
def script_module(name: str) -> ModuleType:
    """A developer tool of scripts/ (``"bench_convert"``: scripts/bench_convert.py), loaded from its file once."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader, name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dispatch(argv: list[str]) -> int:
    """``llm-recipes ARGV...``, or the developer tool ``scripts/NAME.py ARGS...`` named by ARGV's first word."""
    if not argv or not argv[0].startswith("scripts/"):
        return commands.main(argv)
    saved, sys.argv[0] = sys.argv[0], argv[0]  # argparse's prog, as `python scripts/NAME.py` gives it
    try:
        script_module(Path(argv[0]).stem).main(argv[1:])
    finally:
        sys.argv[0] = saved
    return 0


def run_cli(*argv: object, cwd: Path = ROOT) -> Ran:
    """Run ``llm-recipes ARGV...`` through its dispatcher (or ``scripts/NAME.py ARGS...``, a developer tool) in this
    process: no interpreter start and no LLaMA-Factory import per call.

    The working directory and environment are restored afterwards; the exit code follows Python's rules for
    ``SystemExit`` (a string is printed to stderr and gives 1). Each script keeps at least one test through
    ``run_script``, so its real entry point stays covered too.
    """
    before, environ, out, err = Path.cwd(), dict(os.environ), io.StringIO(), io.StringIO()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = dispatch([str(a) for a in argv])
            except SystemExit as exc:
                if isinstance(exc.code, str):
                    code = 1
                    print(exc.code, file=sys.stderr)
                else:
                    code = int(exc.code or 0)
    finally:
        os.chdir(before)
        os.environ.clear()
        os.environ.update(environ)
    return Ran(code, out.getvalue(), err.getvalue())


def pytest_configure(config: pytest.Config) -> None:
    """Test processes side by side (pytest-xdist's workers, mutmut's children) share the cores: each, and every
    process its tests start, gets its share of threads instead of all of them (oversubscribed, OpenMP's waiting
    threads spin: two tiny trainings at once took 71 s with two threads each, 41 s with one)."""
    side_by_side = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")),
                       2 if os.environ.get("MUTANT_UNDER_TEST") else 1)
    if side_by_side > 1 and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // side_by_side)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under mutmut (a mutant under test, run from its mutants/ folder beside its stats), the fastest tests first: a
    mutant most often fails a quick test, and mutmut stops at the first failure. Otherwise the files whose slow
    tests say they take minutes (``slow(minutes=N)``), longest first: `make test-slow` hands files to its two
    workers in this order, so each starts a long one at once (in the order pytest-xdist picks, two of them ran one
    after the other on one worker while the other ran out of work: the slow tier took 1,102 s instead of 854 s)."""
    stats = Path("mutmut-stats.json")
    if os.environ.get("MUTANT_UNDER_TEST") and stats.is_file():
        seconds = json.loads(stats.read_text(encoding="utf-8")).get("duration_by_test", {})
        items.sort(key=lambda item: seconds.get(item.nodeid, 0.0))
        return
    minutes: dict[Path, float] = {}
    for item in items:
        said = [mark.kwargs.get("minutes", 0) for mark in item.iter_markers("slow")]
        minutes[item.path] = max(minutes.get(item.path, 0), *said, 0)
    items.sort(key=lambda item: -minutes[item.path])


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Plans and models are cached in a temporary folder of this test session (a test may set its own), never in
    the user's cache: set before every other fixture, those a whole module shares included."""
    with pytest.MonkeyPatch.context() as patch:
        cache = tmp_path_factory.mktemp("llm-recipes-cache")
        patch.setenv("LLM_RECIPES_CACHE", str(cache))
        yield cache


@pytest.fixture
def agnews_folder(tmp_path: Path) -> Path:
    """A folder with train.csv and test.csv in the original layout."""
    folder = tmp_path / "ag_news_csv"
    write_original_csv(folder / "train.csv", agnews_rows(25))
    write_original_csv(folder / "test.csv", agnews_rows(10, prefix="Test story"))
    return folder


class Piped(io.StringIO):
    """A non-terminal stream as a reader at the other end of a pipe sees it: only what was flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = ""

    def flush(self) -> None:
        self.seen = self.getvalue()


@contextlib.contextmanager
def ascii_locale() -> Iterator[str]:
    """This process's files opened without an encoding read and written as ASCII (the C locale's character type,
    as a Windows or Latin-1 locale has another default than UTF-8); the locale's name yielded, the process's own
    put back afterwards. Skipped in Python's UTF-8 mode, which uses UTF-8 whatever the locale."""
    if sys.flags.utf8_mode:
        pytest.skip("Python's UTF-8 mode reads and writes every file as UTF-8: no ASCII locale to use")
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        assert codecs.lookup(locale.getencoding()).name == "ascii"
        yield locale.getencoding()
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


def finished_run_file(folder: str | Path) -> Path:
    """The offline wandb run's file in ``folder`` once wandb's service has written it out: ``run.finish()`` may
    return while the file still holds only its header, so wait (up to 30 s) for its last record, the run's exit."""
    import time

    from recipekit.report.wandb import offline_records

    (path,) = Path(folder).glob("run-*.wandb")
    deadline = time.monotonic() + 30
    while not any(record.WhichOneof("record_type") == "exit" for record in offline_records(path)):
        assert time.monotonic() < deadline, f"{path} never got its exit record"
        time.sleep(0.05)
    return path
