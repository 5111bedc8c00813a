"""recipekit.cli: the one-line parser errors, the flag-value types at their bounds, the shared flags and the
scoring flags filled from a recipe."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from recipekit.cli import (
    ScriptParser,
    add_instruction_argument,
    add_scoring_flags,
    add_source_arguments,
    at_least,
    escaped_text,
    fill_from_recipe,
    fraction,
    in_scratch,
    name_value,
    number_above,
    parse_names,
    parse_pairs,
    scoring_source,
    script_parser,
)
from recipekit.errors import InputError
from recipekit.recipes.reading import Recipe


def refused(parse, text: str) -> str:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parse(text)
    return str(caught.value)


def test_a_parser_error_is_one_line_naming_the_program_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    parser = ScriptParser(prog="tool")
    with pytest.raises(SystemExit) as stopped:
        parser.error("--x: bad")
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "error: tool: --x: bad (see --help)\n"


def test_the_docstring_gives_description_and_epilog() -> None:
    parser = script_parser("  First line.\nstill first.\n\nExample:\n    run it\n\nmore\n")
    assert isinstance(parser, ScriptParser)
    assert parser.description == "First line.\nstill first."
    assert parser.epilog == "Example:\n    run it\n\nmore"
    assert parser.formatter_class is argparse.RawDescriptionHelpFormatter
    bare = script_parser(None)
    assert (bare.description, bare.epilog) == ("", "")


def test_a_whole_number_at_its_lower_bound() -> None:
    parse = at_least(3)
    assert parse("3") == 3 and parse(" 4") == 4
    assert refused(parse, "2") == "must be at least 3, got 2"
    assert refused(parse, "3.5") == "expected a whole number, got '3.5'"
    assert refused(parse, "x") == "expected a whole number, got 'x'"
    assert parse.__name__ == "integer >= 3"
    assert at_least(0)("0") == 0 and refused(at_least(0), "-1") == "must be at least 0, got -1"


def test_a_name_is_never_a_path() -> None:
    assert name_value("my_set-2") == "my_set-2"
    assert name_value("a.b") == "a.b"  # a dot inside is fine
    assert refused(name_value, "") == "a name cannot be empty"
    assert refused(name_value, "  ") == "a name cannot be empty"
    assert refused(name_value, "a/b") == "a name, not a path: 'a/b' holds '/' (e.g. a_b)"
    assert refused(name_value, "a\\b") == "a name, not a path: 'a\\\\b' holds '\\\\' (e.g. a_b)"
    assert refused(name_value, "a/b\\c") == "a name, not a path: 'a/b\\\\c' holds '/' (e.g. a_b_c)"  # '/' first
    assert refused(name_value, "./x.") == "a name, not a path: './x.' holds '/' (e.g. x)"  # '.' and '_' stripped
    assert refused(name_value, "/") == "a name, not a path: '/' holds '/' (e.g. a plain name)"
    assert refused(name_value, ".hidden") == "a name cannot start with '.', got '.hidden'"
    assert refused(name_value, "..") == "a name cannot start with '.', got '..'"
    assert refused(name_value, "a\tb") == "a name cannot hold control characters, got 'a\\tb'"
    assert refused(name_value, "a\x1fb") == "a name cannot hold control characters, got 'a\\x1fb'"
    assert name_value("a b") == "a b"  # a space (32) is not a control character


def test_a_number_above_its_bound_and_at_most_its_ceiling() -> None:
    above = number_above(0.0)
    assert above("1e-9") == 1e-9 and above("5") == 5.0
    assert refused(above, "0") == "must be above 0, got 0"
    assert refused(above, "-1") == "must be above 0, got -1"
    assert refused(above, "inf") == "must be above 0, got inf"
    assert refused(above, "nan") == "must be above 0, got nan"
    assert refused(above, "one") == "expected a number, got 'one'"
    capped = number_above(0.5, 2.0)
    assert capped("2") == 2.0 and capped("0.51") == 0.51
    assert refused(capped, "2.01") == "must be above 0.5 and at most 2, got 2.01"
    assert refused(capped, "0.5") == "must be above 0.5 and at most 2, got 0.5"
    included = number_above(1.0, low_included=True)
    assert included("1") == 1.0
    assert refused(included, "0.99") == "must be at least 1, got 0.99"


def test_a_fraction_is_in_zero_to_one_inclusive() -> None:
    assert fraction("0") == 0.0 and fraction("1") == 1.0 and fraction("0.25") == 0.25
    assert refused(fraction, "1.01") == "must be in [0, 1], got 1.01"
    assert refused(fraction, "-0.01") == "must be in [0, 1], got -0.01"
    assert refused(fraction, "half") == "expected a number in [0, 1], got 'half'"
    assert refused(fraction, "nan") == "must be in [0, 1], got nan"


def test_typed_escapes_become_breaks_and_empty_text_is_refused() -> None:
    assert escaped_text("a\\nb\\tc") == "a\nb\tc"
    assert escaped_text(" x ") == " x "
    assert refused(escaped_text, "\\n") == "must not be empty"
    assert refused(escaped_text, "  ") == "must not be empty"


def test_pairs_at_their_edges() -> None:
    assert parse_pairs("a=x", "--m") == {"a": "x"}
    assert parse_pairs(" a = x ,b=y", "--m") == {"a": "x", "b": "y"}
    for text, says in (("a=", "--m expects KEY=VALUE pairs separated by commas, got 'a='"),
                       ("=x", "--m expects KEY=VALUE pairs separated by commas, got '=x'"),
                       (" =x", "--m expects KEY=VALUE pairs separated by commas, got ' =x'"),
                       ("a= ", "--m expects KEY=VALUE pairs separated by commas, got 'a= '"),
                       ("a=x,", "--m expects KEY=VALUE pairs separated by commas, got ''"),
                       ("a=x=y", "--m: 'a=x=y' holds more than one '=': separate KEY=VALUE pairs with commas"),
                       ("a=x, a =y", "--m names 'a' twice")):
        with pytest.raises(InputError) as caught:
            parse_pairs(text, "--m")
        assert caught.value.message == says, text
    with pytest.raises(InputError) as caught:
        parse_pairs("a", "--flip", "A=B")
    assert caught.value.message == "--flip expects A=B pairs separated by commas, got 'a'"


def test_names_exactly_count_distinct_and_non_empty() -> None:
    assert parse_names(" a ,b,c", 3, "--n") == ["a", "b", "c"]
    for text in ("a,b", "a,b,c,d", "a,a,b", "a,,b", "a,b, "):
        with pytest.raises(InputError) as caught:
            parse_names(text, 3, "--n")
        assert caught.value.message == f"--n needs 3 distinct comma-separated names, got {text!r}"


def test_the_instruction_flag_reads_escapes_and_keeps_its_default() -> None:
    parser = argparse.ArgumentParser()
    add_instruction_argument(parser, "the converter's own", default="Classify.")
    assert parser.parse_args([]).instruction == "Classify."
    assert parser.parse_args(["--instruction", "a\\nb"]).instruction == "a\nb"
    action = next(a for a in parser._actions if a.dest == "instruction")
    assert action.help.startswith("the instruction of every row, \\n for a line break (default: the converter's own)")
    bare = argparse.ArgumentParser()
    add_instruction_argument(bare, "x")
    assert bare.parse_args([]).instruction is None


def test_the_converters_source_flags() -> None:
    parser = ScriptParser(prog="conv")
    add_source_arguments(parser, "agnews", "fancyzhx/ag_news", "CSV files")
    args = parser.parse_args(["--hf", "org/set"])
    assert (args.hf, args.input, args.name, args.data_dir, args.max_samples, args.val_size, args.seed,
            args.drop_overlap, args.replace) == ("org/set", None, "agnews", None, None, None, 42, False, False)
    given = parser.parse_args(["--input", "f", "--name", "x", "--max-samples", "1", "--val-size", "0", "--seed", "0",
                               "--drop-overlap", "--replace"])
    assert (given.input, given.name, given.max_samples, given.val_size, given.seed, given.drop_overlap,
            given.replace) == ("f", "x", 1, 0, 0, True, True)
    for argv in (["--input", "f", "--hf", "h"], [], ["--hf", "h", "--max-samples", "0"],
                 ["--hf", "h", "--val-size", "-1"], ["--hf", "h", "--seed", "-1"], ["--hf", "h", "--name", "a/b"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
    named = ScriptParser(prog="generic")
    add_source_arguments(named, None, "org/x", "a file")
    with pytest.raises(SystemExit):
        named.parse_args(["--input", "f"])  # --name is required without a default
    assert named.parse_args(["--input", "f", "--name", "n"]).name == "n"
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["hf"] == "hub id read with datasets.load_dataset (e.g. fancyzhx/ag_news)"
    assert helps["input"].startswith("CSV files: a folder of split files")
    assert helps["name"] == "dataset name: writes DATA_DIR/NAME.jsonl (default: agnews)"


def test_a_body_runs_in_a_scratch_folder_removed_after() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int)
    seen: list[Path] = []

    def body(args: argparse.Namespace, scratch: Path) -> int:
        assert scratch.is_dir() and not any(scratch.iterdir())
        seen.append(scratch)
        return args.n * 2

    assert in_scratch(parser, ["--n", "21"], body) == 42
    assert not seen[0].exists()


def scoring_parser() -> argparse.ArgumentParser:
    parser = ScriptParser(prog="score")
    parser.add_argument("--recipe")
    add_scoring_flags(parser, "the model", "the labels")
    return parser


KEYS = {"model": "model_name_or_path", "template": "template", "dataset": "eval_dataset",
        "dataset_dir": "dataset_dir", "cutoff_len": "cutoff_len", "batch_size": "per_device_eval_batch_size"}


def test_scoring_flags_and_their_bounds() -> None:
    parser = scoring_parser()
    args = parser.parse_args([])
    assert [args.model, args.template, args.dataset, args.dataset_dir, args.labels, args.batch_size, args.cutoff_len,
            args.max_samples] == [None] * 8
    given = parser.parse_args(["--model", "m", "--template", "t", "--dataset", "d", "--dataset-dir", "dd", "--labels",
                               "a,b", "--batch-size", "1", "--cutoff-len", "1", "--max-samples", "1"])
    assert (given.model, given.template, given.dataset, given.dataset_dir, given.labels, given.batch_size,
            given.cutoff_len, given.max_samples) == ("m", "t", "d", "dd", "a,b", 1, 1, 1)
    for flag in ("--batch-size", "--cutoff-len", "--max-samples"):
        with pytest.raises(SystemExit):
            parser.parse_args([flag, "0"])
    helps = {a.dest: a.help for a in parser._actions}
    assert (helps["model"], helps["labels"]) == ("the model", "the labels")


def test_unset_scoring_flags_come_from_the_recipe_set_ones_stay(tmp_path: Path) -> None:
    recipe = Recipe(tmp_path / "r.yaml", {"model_name_or_path": "org/m", "template": "qwen",
                                          "eval_dataset": "first_val, second_val", "dataset_dir": "my_data",
                                          "cutoff_len": 77, "per_device_eval_batch_size": 3}, classifier=False)
    args = scoring_parser().parse_args(["--template", "mine", "--max-samples", "5"])
    fill_from_recipe(args, recipe, KEYS)
    assert (args.model, args.template, args.dataset, args.dataset_dir, args.cutoff_len, args.batch_size,
            args.max_samples) == ("org/m", "mine", "first_val", "my_data", 77, 3, 5)
    args.data, args.adapter, args.quantization_bit, args.keep = "rows.jsonl", "ad", 4, "id"  # the score command's
    source = scoring_source(args)
    assert (source.model, source.template, source.dataset, source.dataset_dir, source.cutoff_len, source.batch_size,
            source.max_samples, source.data, source.adapter, source.quantization_bit, source.keep) == (
        "org/m", "mine", "first_val", "my_data", 77, 3, 5, "rows.jsonl", "ad", 4, "id")


def test_without_a_recipe_only_the_data_folder_gets_llamafactorys_default() -> None:
    args = scoring_parser().parse_args(["--model", "m"])
    fill_from_recipe(args, None, KEYS)
    assert (args.model, args.template, args.dataset, args.cutoff_len, args.batch_size) == ("m", None, None, None, None)
    assert args.dataset_dir == "data"  # DataArguments.dataset_dir's default
    kept = scoring_parser().parse_args(["--dataset-dir", "elsewhere"])
    fill_from_recipe(kept, None, KEYS)
    assert kept.dataset_dir == "elsewhere"
    no_field = argparse.Namespace(model=None)
    fill_from_recipe(no_field, None, {"model": "model_name_or_path"})
    assert no_field.dataset_dir == "data"  # a command without the flag still gets the folder
