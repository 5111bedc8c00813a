"""Everything a converter needs: reading raw tables, mapping rows, splitting, writing, registering.

A converter in ``recipekit/converters/`` declares how one raw record becomes an :class:`Example` and takes
the rest from the modules of this package (re-exported here): ``readers`` (CSV/TSV/JSONL/parquet/hub),
``rows`` (the mapping and its skip/repair log), ``splits`` (seeded stratified selection), ``pipeline`` (read
-> map -> select -> write -> register), ``dataset_info`` (LLaMA-Factory's registry), ``textclean``, ``chat``.
"""

from recipekit.data.chat import check_alternation, parse_messages
from recipekit.data.dataset_info import (
    alpaca_entry,
    alpaca_ranking_entry,
    load_registry,
    sharegpt_entry,
    upsert_dataset_entry,
)
from recipekit.data.pipeline import Conversion, SourceOptions, convert_table, read_and_map
from recipekit.data.readers import BROKEN_UTF8, Record, read_source, repair_text
from recipekit.data.rows import Example, Mapper, RowLog, Skip, int_label, map_records, required, required_text
from recipekit.data.splits import select_rows, stratified_sample, stratified_split
from recipekit.data.textclean import (
    clean_release_text,
    head_tail,
    head_tail_tokens,
    unescape_backslash_newlines,
)

__all__ = [
    "BROKEN_UTF8", "Conversion", "Example", "Mapper", "Record", "RowLog", "Skip", "SourceOptions",
    "alpaca_entry", "alpaca_ranking_entry", "check_alternation",
    "clean_release_text",
    "convert_table", "head_tail", "head_tail_tokens", "int_label", "load_registry", "map_records",
    "parse_messages", "read_and_map", "read_source", "repair_text", "required", "required_text",
    "select_rows", "sharegpt_entry", "stratified_sample", "stratified_split", "unescape_backslash_newlines",
    "upsert_dataset_entry",
]
