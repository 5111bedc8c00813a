"""Mutation score per module from mutmut's results (after `make mutate`): killed / (killed + survived + not
reached by any test; a mutant that makes a test time out counts as killed), the mutants listed as equivalent in
``tests/mutation_equivalent.yaml`` (each with the reason it cannot change behaviour) left out; every other
survivor is printed with the command that shows its change. ``--write`` puts the table per module into
docs/testing.md, and into README.md the one per package folder followed by each module's score in short, between
their marker lines, and keeps every mutant's result in ``tests/mutation_results.json`` (with the hash of its
function), which ``--restore`` puts back into a new clone's ``mutants/`` so a run goes on from there.

Example:
    make mutate                      # mutmut run over [tool.mutmut] in pyproject.toml, then this table
    python scripts/mutation_score.py --recheck --min 0.9 --write
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from recipekit.cli import fraction, script_parser
from recipekit.errors import InputError, exit_on_input_error
from recipekit.files import atomic_write_text, read_yaml_mapping
from recipekit.paths import at_root, root
from recipekit.paths import shown as under_root

EQUIVALENT = "tests/mutation_equivalent.yaml"
RESULTS = "tests/mutation_results.json"
RESULT_LINE = re.compile(r"^\s+(?P<key>\S+): (?P<status>.+)$")
SURVIVORS = ("survived", "no tests")
BEGIN, END = "<!-- mutation scores: written by scripts/mutation_score.py --write -->", "<!-- end of mutation scores -->"
DOCS = {"docs/testing.md": ("module",), "README.md": ("folder", "short")}


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("--equivalent", default=EQUIVALENT, help="YAML of mutant -> why it is equivalent")
    parser.add_argument("--min", type=fraction, default=None, help="exit 1 when a module scores below this (0-1)")
    parser.add_argument("--recheck", action="store_true",
                        help="run the survivors again first (mutmut keeps a result until its function changes, so a "
                             "survivor a new test kills stays a survivor until run again)")
    parser.add_argument("--write", action="store_true",
                        help="write the tables into docs/testing.md and README.md, and every result into --results")
    parser.add_argument("--results", default=RESULTS,
                        help="JSON of each function's hash and its mutants' results, kept between clones")
    parser.add_argument("--restore", action="store_true",
                        help="only put the results kept in --results back into mutants/ (a function whose hash "
                             "changed is left to run again), then stop")
    return parser


def meta_files() -> list[Path]:
    """mutmut's record of each source file under ``mutants/`` (its mutants' exit codes, its functions' hashes)."""
    return sorted(Path("mutants").glob("recipekit/**/*.py.meta"))


def kept_results(metas: list[Path]) -> dict[str, dict[str, list]]:
    """Per source file, per function with a result: its hash and its mutants' exit codes in mutmut's numbering
    (None: not run)."""
    kept: dict[str, dict[str, list]] = {}
    for meta_path in metas:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        codes: dict[str, dict[int, int | None]] = defaultdict(dict)
        for key, code in meta["exit_code_by_key"].items():
            function, _, number = key.rpartition("__mutmut_")
            codes[function.rpartition(".")[2]][int(number)] = code
        functions = {function: [digest, [codes[function].get(n) for n in range(1, len(codes[function]) + 1)]]
                     for function, digest in sorted(meta["hash_by_function_name"].items())
                     if any(code is not None for code in codes[function].values())}  # a function not run: left out
        if functions:
            kept[meta_path.relative_to("mutants").as_posix().removesuffix(".meta")] = functions
    return kept


def results_json(kept: dict[str, dict[str, list]]) -> str:
    """The kept results, one function to a line (a run changes the lines of the functions it ran)."""
    def line(function: str, entry: list) -> str:
        return f"  {json.dumps(function, ensure_ascii=False)}: {json.dumps(entry)}"

    files = [f"{json.dumps(source)}: {{\n" + ",\n".join(line(*item) for item in functions.items()) + "\n}"
             for source, functions in sorted(kept.items())]
    return "{\n" + ",\n".join(files) + "\n}\n"


def restore(kept: dict[str, dict[str, list]]) -> int:
    """Put kept results into ``mutants/``: into mutmut's record of a file where it has one (only a mutant not run
    yet, of a function whose hash is unchanged), else as a new record that mutmut's next run keeps for every
    function whose hash still matches. Returns how many results were put back."""
    from mutmut.utils.format_utils import get_mutant_name

    restored = 0
    for source, functions in kept.items():
        meta_path = Path("mutants") / f"{source}.meta"
        meta = (json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else
                {"exit_code_by_key": {}, "hash_by_function_name": {}, "type_check_error_by_key": {},
                 "durations_by_key": {}, "estimated_durations_by_key": {}})
        current, put_back = meta["hash_by_function_name"], 0
        for function, (digest, codes) in functions.items():
            if current.setdefault(function, digest) != digest:
                continue
            for number, code in enumerate(codes, 1):
                key = get_mutant_name(Path(source), f"{function}__mutmut_{number}")
                if meta["exit_code_by_key"].get(key) is None:
                    put_back += code is not None
                    meta["exit_code_by_key"][key] = code
        if put_back or not meta_path.exists():  # mutmut's own record is rewritten only when it gains a result
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(meta_path, json.dumps(meta, indent=4))
        restored += put_back
    return restored


def mutmut_results() -> dict[str, str]:
    """Every mutant's status, as ``mutmut results --all`` prints it (run where ``mutants/`` is)."""
    done = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise InputError(f"mutmut results failed (run it where pyproject.toml and mutants/ are): {last}")
    found = {m["key"]: m["status"] for m in map(RESULT_LINE.match, done.stdout.splitlines()) if m}
    if not found:
        raise InputError("no mutants found: run `make mutate` first", "mutants/")
    return found


def survivors(statuses: dict[str, str], equivalent: dict[str, str]) -> list[str]:
    """The mutants that need a test: survived or reached by no unit test, and not listed as equivalent."""
    return sorted(k for k, s in statuses.items() if s in SURVIVORS and k not in equivalent)


def recheck(names: list[str]) -> None:
    """Run these mutants again against the tests as they are now (mutmut runs a mutant it is given by name)."""
    if names:
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "2", *names], check=False)


def module_of(key: str) -> str:
    """The module of a mutant (``module.x_function__mutmut_N``, ``module.xǁClassǁmethod__mutmut_N``), by mutmut's
    own rule."""
    from mutmut.utils.format_utils import get_module_from_key

    return get_module_from_key(key)


def scores(statuses: dict[str, str], equivalent: dict[str, str]) -> dict[str, Counter[str]]:
    """Per module: how many mutants were killed, survived, equivalent, or not run (no tests, timeout...)."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for key, status in statuses.items():
        kind = "equivalent" if key in equivalent and status == "survived" else status
        table[module_of(key)][kind] += 1
    return dict(sorted(table.items()))


def module_score(counts: Counter[str]) -> float | None:
    """Killed (a timeout counts as killed) over killed, survived and unreached; None when no mutant of the module
    was run (a run limited to other modules' mutants)."""
    killed = counts["killed"] + counts["timeout"]
    total = killed + counts["survived"] + counts["no tests"]
    return killed / total if total else None


COLUMNS = ("killed", "survived", "no tests", "equivalent", "not checked")


def source_of(module: str) -> str:
    """The file of a module under ``recipekit/`` (a package's own module is its ``__init__.py``)."""
    path = Path(*module.split(".")[1:])
    return f"{path}/__init__.py" if (root() / "recipekit" / path).is_dir() else f"{path}.py"


def folder_of(module: str) -> str:
    """The package folder a module's file sits in (``recipekit.plan.memory`` -> ``plan/``; top level -> ``.``)."""
    parent = Path(source_of(module)).parent
    return "." if parent == Path(".") else f"{parent}/"


def markdown(table: dict[str, Counter[str]], by: str) -> str:
    """The scores as a Markdown table, one row per module (``by="module"``) or per package folder; a status
    mutmut gives besides these (suspicious, skipped, segfault...) is counted as other."""
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for module, counts in table.items():
        groups[source_of(module) if by == "module" else folder_of(module)].update(counts)
    rows = [f"| {by} | killed | survived | no test reaches it | equivalent | not run yet | other | score |",
            "|---|---|---|---|---|---|---|---|"]
    for name, counts in sorted(groups.items()):
        score = module_score(counts)
        shown = "not run" if score is None else f"{score:.1%}" + (" (partial run)" if counts["not checked"] else "")
        killed = counts["killed"] + counts["timeout"]
        other = sum(n for status, n in counts.items() if status not in (*COLUMNS, "timeout"))
        rows.append(f"| `{name}` | {killed} | {counts['survived']} | {counts['no tests']} | {counts['equivalent']} | "
                    f"{counts['not checked']} | {other} | {shown} |")
    return "\n".join(rows)


def in_short(table: dict[str, Counter[str]]) -> str:
    """Each module's score in one line per package folder (the modules not run yet counted at its end)."""
    lines: dict[str, list[str]] = defaultdict(list)
    unrun: Counter[str] = Counter()
    for module, counts in table.items():
        score, folder = module_score(counts), folder_of(module)
        if score is None:
            unrun[folder] += 1
        else:
            part = " (partial)" if counts["not checked"] else ""
            lines[folder].append(f"`{Path(source_of(module)).name}` {score:.1%}{part}")
    return "\n".join(f"- `{folder}`: " + ", ".join([*lines[folder], *([f"{unrun[folder]} not run yet"]
                                                                       if unrun[folder] else [])])
                     for folder in sorted({*lines, *unrun}))


def tables(table: dict[str, Counter[str]], kinds: tuple[str, ...]) -> str:
    """The tables a page shows: per module or per folder, and each module's score in short."""
    return "\n\n".join(in_short(table) if by == "short" else markdown(table, by) for by in kinds)


def with_block(path: Path, text: str) -> str:
    """The text of ``path`` with what sits between its marker lines replaced by ``text``."""
    old = path.read_text(encoding="utf-8")
    if old.count(BEGIN) != 1 or old.count(END) != 1 or old.index(BEGIN) > old.index(END):
        raise InputError(f"needs one line {BEGIN} and, after it, one line {END}", str(path))
    head, rest = old.split(BEGIN)
    return f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}"


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Counter[str]]:
    args = build_parser().parse_args(argv)
    path = at_root(args.equivalent)
    equivalent = read_yaml_mapping(path, "list of equivalent mutants")
    results = at_root(args.results)
    if args.restore or Path("mutants").is_dir():
        try:
            kept = json.loads(results.read_text(encoding="utf-8")) if results.exists() else {}
        except ValueError as exc:
            raise InputError(f"not the JSON --write keeps: {exc}", str(results)) from None
        restored = restore(kept)
        if args.restore:
            print(f"restored {restored} results from {results} into mutants/")
            return {}
    statuses = mutmut_results()
    if args.recheck:
        recheck(survivors(statuses, equivalent))
        statuses = mutmut_results()
    table = scores(statuses, equivalent)
    print(f"{'module':40s} {'killed':>6s} {'survived':>8s} {'no tests':>8s} {'equiv.':>6s} {'score':>6s}")
    low = []
    for module, counts in table.items():
        killed, score = counts["killed"] + counts["timeout"], module_score(counts)
        low += [module] if args.min is not None and score is not None and score < args.min else []
        shown = "-" if score is None else f"{score:.1%}"
        print(f"{module:40s} {killed:6d} {counts['survived']:8d} {counts['no tests']:8d} {counts['equivalent']:6d} "
              f"{shown:>6s}")
    for key in survivors(statuses, equivalent):
        print(f"{statuses[key]}: {key}  (python -m mutmut show {key})")
    for key in sorted(set(equivalent) - set(statuses)):
        print(f"note: {path} lists {key}, which mutmut no longer generates")
    for key in sorted(k for k in equivalent if statuses.get(k) in ("killed", "timeout")):
        print(f"note: {path} lists {key}, which a test kills (its function changed: the number may name another "
              f"mutant now)")
    if args.write:
        new = {name: with_block(root() / name, tables(table, kinds)) for name, kinds in DOCS.items()}
        new[str(under_root(results))] = results_json(kept_results(meta_files()))
        for name, text in new.items():
            atomic_write_text(root() / name, text)
            print(f"wrote {name}")
    if low:
        raise SystemExit(f"below {args.min:.0%}: {', '.join(low)}")
    return table


if __name__ == "__main__":
    main()
