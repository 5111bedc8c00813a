"""The conversion pipeline: read and map every split, select rows, stage the sets, commit them as one unit
(files and registry), print the summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipekit.data.readers import read_source
from recipekit.data.rows import Example, Mapper, RowLog, map_records
from recipekit.data.splits import select_rows
from recipekit.data.transaction import Plan, StagedSet, commit, removal_lines
from recipekit.errors import InputError
from recipekit.files import announce


@dataclass
class Conversion:
    """What a converter does: rows read, the skip/repair log, the sets staged, then (after :meth:`commit`) the
    files written with row counts and class balance and the stale sets removed."""

    read: int = 0
    log: RowLog = field(default_factory=RowLog)
    plan: Plan | None = None
    written: dict[str, tuple[Path, int]] = field(default_factory=dict)
    balance: dict[str, Counter[Hashable]] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {name: count for name, (_, count) in self.written.items()}

    def write(self, data_dir: str | Path, name: str, examples: Sequence[Example], entry: dict[str, Any]) -> Path:
        """Stage one dataset (written and registered by :meth:`commit`, with the others); returns its path."""
        if self.plan is None:
            self.plan = Plan(Path(data_dir))
        elif self.plan.data_dir != Path(data_dir):
            raise InputError(f"one conversion writes into one folder, not {self.plan.data_dir} and {data_dir}")
        self.plan.sets[name] = StagedSet([e.row for e in examples], entry, [e.label for e in examples])
        return Path(data_dir) / f"{name}.jsonl"

    def write_train_val(self, data_dir: str | Path, name: str, train: Sequence[Example], val: Sequence[Example],
                        entry: dict[str, Any]) -> None:
        """Stage NAME and, when there are validation rows, NAME_val, both with ``entry``."""
        self.write(data_dir, name, train, entry)
        if val:
            self.write(data_dir, f"{name}_val", val, entry)

    def commit(self, base: str, data_dir: str | Path, drop_overlap: bool = False, maker: str | None = None,
               replace: bool = False) -> None:
        """Check and write every staged set, remove ``base``'s sets this run no longer writes, update the
        registry: all together or, on any error or Ctrl-C, nothing. ``maker`` (the converter) is recorded in each
        entry; a set another converter wrote is replaced or removed only with ``replace``."""
        plan = self.plan or Plan(Path(data_dir))
        plan.maker, plan.replace = maker, replace
        self.plan = plan
        self.written = commit(plan, base, drop_overlap)
        for name, staged in plan.sets.items():
            labels = [label for label in staged.labels if label is not None]
            if labels:
                self.balance[name] = Counter(labels)

    def print_read(self) -> None:
        """Rows read and every skip and repair (printed before the commit, so a refusal comes with its reasons)."""
        print(f"read {self.read} rows, skipped {self.log.total}")
        for line in self.log.summary_lines():
            print(line)

    def print_written(self) -> None:
        """Rows written per set, class balance, stale sets removed and notes."""
        for name, (path, count) in self.written.items():
            announce(f"wrote {count} rows to {path} (dataset '{name}')")
            if name in self.balance:
                print("  class balance: " + ", ".join(f"{label} {n} ({n / count:.1%})"
                                                for label, n in sorted(self.balance[name].items(), key=str)))
        if self.plan is not None:
            for line in removal_lines(self.plan, self.plan.data_dir / "dataset_info.json"):
                print(line)


def read_and_map(source: str, hub: bool, mapper: Mapper, conversion: Conversion,
                 **read_kwargs: Any) -> dict[str, list[Example]]:
    """Read every split of ``source`` and map it, adding to ``conversion``'s read count and log."""
    pools = {}
    for split, records in read_source(source, hub, **read_kwargs).items():
        conversion.read += len(records)
        pools[split] = map_records(records, mapper, conversion.log)
    return pools


@dataclass(frozen=True)
class SourceOptions:
    """The flags every converter shares (see :func:`recipekit.cli.add_source_arguments`), typed."""

    source: str
    hub: bool
    name: str
    data_dir: Path
    max_samples: int | None = None
    val_size: int | None = None
    seed: int = 42


def convert_table(options: SourceOptions, mapper: Mapper, entry: dict[str, Any], **read_kwargs: Any) -> Conversion:
    """The whole run of a one-table converter: read the source its shared flags name, map, select
    train/validation, write both."""
    result = Conversion()
    pools = read_and_map(options.source, options.hub, mapper, result, **read_kwargs)
    train, val = select_rows(pools, options.max_samples, options.val_size, options.seed)
    result.write_train_val(options.data_dir, options.name, train, val, entry)
    return result


def converter_name(convert: Callable[..., Any]) -> str:
    """The converter a ``convert`` function belongs to: its module's name (``recipekit.converters.agnews`` ->
    ``agnews``), what ``llm-recipes convert NAME`` calls it."""
    return convert.__module__.rsplit(".", 1)[-1]
