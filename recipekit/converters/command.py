"""The command side every converter shares: its shared flags read into :class:`SourceOptions`, and its ``main``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from recipekit.data.dataset_info import default_data_dir, load_registry
from recipekit.data.pipeline import Conversion, SourceOptions, converter_name
from recipekit.errors import InputError, exit_on_input_error
from recipekit.files import announce, ensure_folder


def with_input(args: list[str], place: Callable[[str], str]) -> list[str]:
    """A converter's flags with the path of its ``--input`` (``--input X`` or ``--input=X``) put through ``place``
    (where the converter, run from another folder, finds it)."""
    placed = list(args)
    for i, arg in enumerate(placed):
        if placed[i - 1:i] == ["--input"]:
            placed[i] = place(arg)
        elif arg.startswith("--input="):
            placed[i] = f"--input={place(arg.removeprefix('--input='))}"
    return placed


def source_options(args: argparse.Namespace) -> SourceOptions:
    """The shared flags (:func:`recipekit.cli.add_source_arguments`) out of a converter's parsed arguments."""
    return SourceOptions(args.hf or args.input, bool(args.hf), args.name, Path(args.data_dir), args.max_samples,
                         args.val_size, args.seed)


@exit_on_input_error
def run_converter(convert: Callable[[argparse.Namespace], Conversion],
                  build_parser: Callable[[], argparse.ArgumentParser], argv: list[str] | None) -> Conversion:
    """The body of every converter's ``main``: parse, convert, commit every set as one unit, print the summary;
    bad input exits 2 in one line and Ctrl-C 130, both leaving the data folder as it was."""
    args = build_parser().parse_args(argv)
    default = args.data_dir is None
    if default:
        args.data_dir = str(default_data_dir())
    # a data folder that is a file, or a corrupt registry, is refused before any reading
    registry = ensure_folder(args.data_dir, "--data-dir", create=False) / "dataset_info.json"
    new_registry = not registry.exists()
    load_registry(registry)
    result = convert(args)
    result.print_read()
    if result.read == 0:
        raise InputError("the input holds no rows", args.hf or args.input)
    result.commit(args.name, args.data_dir, args.drop_overlap, converter_name(convert), args.replace)
    result.print_written()
    if new_registry:
        announce(f"started a new registry {registry}: there was none" + (
            " (--data-dir defaults to data/ of the working directory or --root)" if default else ""))
    return result
