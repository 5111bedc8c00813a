"""A plan rendered from a plan written by hand: its Markdown (memory, fit, time and cost, padding, the report's own
time, the changes tried), the one line a recipe header carries, the measured steps beside the plan, and the header
line replaced or added in a recipe's text. The expected text is written out in full."""

from __future__ import annotations

from typing import Any

import pytest

from recipekit.errors import InputError
from recipekit.report.plan import (
    dollars,
    gib,
    header_line,
    padding_line,
    render_markdown,
    render_measured,
    render_measured_here,
    report_amount,
    report_time_line,
    set_plan_line,
    span,
    worst_case_line,
)

CLOSING = ("Model states follow DeepSpeed's estimators; activations are one simulated step on fake tensors at the "
           "sequence length shown (cutoff_len is the worst case LLaMA-Factory pads to; --data measures the data); "
           "the allowance is 1 GiB of CUDA context plus 10% for the allocator.")
SEQ_NOTE = (". The plan's rows are all {seq} tokens (cutoff_len, the report's longest row or --seq/--data); rows "
            "shorter than that make the report's steps faster, and its time includes evaluation and saving.")


def padding(**changes: Any) -> dict[str, Any]:
    pad = {"sampling": "group_by_length", "rows": 1200, "batch": 8, "paid": 1234567, "used": 1000000,
           "padded_share": 0.19, "typical_row": 1028.8, "packed_blocks": 489, "cutoff": 2048, "packed_paid": 1001961,
           "packing_saves": 0.188}
    return {**pad, **changes}


def train_plan(**changes: Any) -> dict[str, Any]:
    plan = {"recipe": "recipes/x.yaml", "model": "Qwen/Qwen3-4B", "params": 4022468096, "trainable": 1234567,
            "gpus": 2, "kind": "train", "fits": True, "tight": True,
            "gpu": {"name": "A100 40GB", "memory_gib": 40.0},
            "memory": {"peak_gib": 38.46, "per_gpu_gib": {"weights": 2.34, "activations": 30.0, "other": None},
                       "host_gib": 12.34},
            "shape": {"method": "lora", "batch": 4, "seq": 2048, "dpo": True, "gradient_checkpointing": True,
                      "attention": "eager", "fused_loss": True},
            "setup": {"quantization_bit": 4, "zero": 3, "offload_optimizer": True, "offload_params": False,
                      "pure_bf16": True},
            "worst_case": {"seq": 4096, "peak_gib": 45.04, "fits": False}, "seq_source": "the report's longest row",
            "time": {"hours": 1.234, "gpu_hours": 2.468, "cost": 4.936, "price_per_gpu_hour": 2.0,
                     "price_source": "lambda"},
            "step_parts": {"forward": 0.123, "backward": 0.0, "optimizer": 0.0456},
            "flops_per_micro_batch": 1.5e14, "operations": 123456, "precision": "bf16", "step_seconds": 1.234,
            "tokens_per_second_per_gpu": 6640.2, "mfu": 0.423, "mfu_source": "measured", "bound": "compute",
            "steps": 3600, "global_batch": 16, "rows": 57600, "rows_source": "data/x.jsonl",
            "time_note": "a rough time", "padding": padding(), "global_batch_note": "the report's is 32",
            "report_time": {"said": "section 5", "hours": 12.75, "seconds_per_step": 2.0,
                            "planned_seconds_per_step": 1.5, "card": "A100 40GB", "ratio": 0.75},
            "options": [{"change": "batch 2", "peak_gib": 30.0, "fits": True, "host_gib": 0, "step_seconds": 0.5},
                        {"change": "ZeRO-2", "peak_gib": 50.0, "fits": False, "host_gib": 8.0, "step_seconds": None},
                        {"change": "offload", "peak_gib": None, "fits": True},
                        {"change": "instant", "peak_gib": 1.0, "fits": True, "step_seconds": 0.0}],
            "unmodelled": ["neftune_noise_alpha", "packing"]}
    return {**plan, **changes}


def infer_plan(**changes: Any) -> dict[str, Any]:
    plan = {"recipe": "recipes/p.yaml", "model": "m", "params": 1000, "gpus": 1, "kind": "predict", "fits": False,
            "time": None,
            "gpu": {"name": "H100", "memory_gib": 80},
            "memory": {"peak_gib": 10.0, "per_gpu_gib": {"weights": 8.0}, "host_gib": 0},
            "shape": {"method": "full", "batch": 1, "seq": 512, "dpo": False, "gradient_checkpointing": False},
            "setup": {"quantization_bit": 8, "zero": 0, "offload_optimizer": False, "offload_params": False},
            "options": []}
    return {**plan, **changes}


def test_a_training_plan_in_full() -> None:
    assert render_markdown(train_plan()) == "\n".join([
        "# Plan: recipes/x.yaml", "",
        "Qwen/Qwen3-4B (4,022,468,096 parameters, 1,234,567 trainable), lora + 4-bit base (QLoRA), ZeRO-3 + CPU "
        "offload, 2 x A100 40GB; per-device batch 4 x 2048 tokens (chosen + rejected), gradient checkpointing, eager "
        "attention (score matrices held), Liger's fused cross-entropy (logits in chunks), pure bf16 (no fp32 "
        "copies).", "",
        "**Peak per GPU 38.5 GiB of 40 GiB: fits only just: within 5% of the card's memory, too tight to trust (the "
        "allowance is an estimate; a smaller batch or more GPUs leave room).**", "",
        "Rows of 2048 tokens, the report's longest row. At cutoff_len 4,096, the worst case LLaMA-Factory pads to, "
        "the peak would be 45.0 GiB: does not fit.", "",
        "| kind | per GPU |", "|---|---|", "| weights | 2.3 GiB |", "| activations | 30.0 GiB |", "| other | - |", "",
        "Host memory for the offloaded states: 12.3 GiB (DeepSpeed's estimate).", "",
        "150.0 TFLOP per micro-batch (recomputation included), 123,456 operations, in bf16: 1.23 s per optimizer "
        "step, 6,640 tokens/s per GPU, MFU 42% (measured). The model's step: forward 0.123 s, optimizer 0.0456 s (a "
        "micro-step is compute-bound).",
        "3,600 steps of 16 rows (57,600 rows from data/x.jsonl): 1.23 h, 2.5 GPU-hours, $4.94 at $2 per GPU-hour "
        "(lambda).",
        "a rough time.", "",
        padding_line(padding(), 2048), "",
        "**Global batch**: the report's is 32.", "",
        "The report's own time (section 5): 12.75 h, 2 s per optimizer step; planned 1.5 s on A100 40GB (planned / "
        "reported 0.75)" + SEQ_NOTE.format(seq=2048), "",
        "Changes tried (each simulated; host memory is DeepSpeed's estimate for offloaded states, the step is planned "
        "on this card):", "",
        "| change | peak per GPU | fits | host memory | optimizer step |", "|---|---|---|---|---|",
        "| batch 2 | 30.0 GiB | yes | - | 0.5 s |", "| ZeRO-2 | 50.0 GiB | no | 8.0 GiB | - |",
        "| offload | - | yes | - | - |", "| instant | 1.0 GiB | yes | - | 0 s |", "",
        "**Not modelled** (settings of the recipe that change its memory or time, which this plan leaves out): "
        "neftune_noise_alpha; packing.", "",
        CLOSING]) + "\n"


def test_a_plan_with_nothing_optional() -> None:
    assert render_markdown(infer_plan()) == "\n".join([
        "# Plan: recipes/p.yaml", "",
        "m (1,000 parameters), full, no DeepSpeed, 1 x H100; per-device batch 1 x 512 tokens.", "",
        "**Peak per GPU 10.0 GiB of 80 GiB: does NOT fit.**", "",
        "| kind | per GPU |", "|---|---|", "| weights | 8.0 GiB |", "", CLOSING]) + "\n"


@pytest.mark.parametrize(("setup", "said"), [
    ({"zero": 2, "offload_optimizer": False, "offload_params": True}, ", ZeRO-2 + CPU offload, "),
    ({"zero": 0, "offload_optimizer": True, "offload_params": False}, ", no DeepSpeed + CPU offload, "),
    ({"zero": 1}, ", ZeRO-1, "),
])
def test_the_deepspeed_stage_and_offload(setup: dict[str, Any], said: str) -> None:
    plan = infer_plan()
    plan["setup"] = {**plan["setup"], **setup}
    assert said in render_markdown(plan)


def test_a_plan_that_fits_with_room_and_a_training_time_without_cost_or_known_rows() -> None:
    plan = train_plan(tight=False, rows_source=None, time_note=None, padding=None, global_batch_note=None,
                      report_time=None, options=[], unmodelled=[], worst_case=None, trainable=None)
    plan["time"] = {**plan["time"], "cost": None}
    plan["shape"] = {**plan["shape"], "attention": "sdpa", "fused_loss": False, "dpo": False,
                     "gradient_checkpointing": False}
    plan["setup"] = {**plan["setup"], "pure_bf16": False}
    markdown = render_markdown(plan)
    assert "Qwen/Qwen3-4B (4,022,468,096 parameters), lora + 4-bit" in markdown
    assert "per-device batch 4 x 2048 tokens.\n\n**Peak per GPU 38.5 GiB of 40 GiB: fits.**\n\n| kind |" in markdown
    assert ("micro-step is compute-bound).\n3,600 steps of 16 rows (57,600 rows): 1.23 h, 2.5 GPU-hours.\n\n"
            + CLOSING + "\n") in markdown
    plan["time"] = {**plan["time"], "hours": None}
    plan["memory"] = {**plan["memory"], "host_gib": None}
    markdown = render_markdown(plan)
    assert "compute-bound).\n\n" + CLOSING in markdown and "Host memory" not in markdown
    plan["time"] = {**plan["time"], "hours": 0.0, "gpu_hours": 0.0, "cost": 0.0}
    plan["padding"] = padding()  # padding without a time note
    assert ("compute-bound).\n3,600 steps of 16 rows (57,600 rows): 0.00 h, 0.0 GPU-hours, $0.00 at $2 per GPU-hour "
            "(lambda).\n\n**Padding** (--data,") in render_markdown(plan)


def test_a_plan_with_room_still_shows_its_worst_case_and_counts_zero_trainable_parameters() -> None:
    markdown = render_markdown(train_plan(tight=False, trainable=0))
    assert "Qwen/Qwen3-4B (4,022,468,096 parameters, 0 trainable), lora" in markdown
    assert ("**Peak per GPU 38.5 GiB of 40 GiB: fits.**\n\nRows of 2048 tokens, the report's longest row. At "
            "cutoff_len 4,096,") in markdown


def test_the_padding_line_by_sampling_and_by_what_packing_saves() -> None:
    assert padding_line(padding(typical_hours=0.984), 2048) == (
        "**Padding** (--data, 1,200 rows in length-grouped batches of 8): the batches run 1,234,567 tokens for the "
        "1,000,000 the rows hold (19% padding; the mean row runs as 1,029 tokens, the plan's rows as 2048). "
        "`packing: true` would run 489 blocks of 2,049 tokens, 1,001,961 in all (19% fewer; `neat_packing` packs the "
        "same, each row attending only to itself). At the mean padded row the run takes about 0.98 h instead of the "
        "plan's worst case (time in proportion to the tokens run).")
    assert "1,200 rows in batches in the data's order of 8)" in padding_line(padding(sampling="sequential"), 8)
    assert "1,200 rows in shuffled batches of 8)" in padding_line(padding(sampling="random"), 8)
    unnamed = padding()
    del unnamed["sampling"]
    assert "1,200 rows in shuffled batches of 8)" in padding_line(unnamed, 8)
    assert "1,200 rows in shuffled batches of 8)" in padding_line(padding(sampling="other"), 8)
    assert "in all (0% fewer; `neat_packing`" in padding_line(padding(packing_saves=0.0), 8)
    assert ("in all (5% more: rows far shorter than cutoff_len leave each block's end padded; `neat_packing` packs"
            in padding_line(padding(packing_saves=-0.05), 8))
    assert padding_line(padding(typical_hours=0), 8).endswith(" about 0.00 h instead of the plan's worst case (time "
                                                              "in proportion to the tokens run).")
    assert padding_line(padding(typical_hours=None), 8).endswith("each row attending only to itself).")


def test_the_worst_case_line_that_fits() -> None:
    plan = train_plan(worst_case={"seq": 1024, "peak_gib": 9.96, "fits": True}, seq_source="measured by --data")
    assert worst_case_line(plan) == ("Rows of 2048 tokens, measured by --data. At cutoff_len 1,024, the worst case "
                                     "LLaMA-Factory pads to, the peak would be 10.0 GiB: fits.")


def test_gib_span_and_the_reports_amount() -> None:
    assert (gib(None), gib(0.0), gib(12.345)) == ("-", "0.0 GiB", "12.3 GiB")
    assert [span(v, "h") for v in (None, [], 0, 2.4, [6, 8], [1.23456, 2])] == [
        "-", "-", "-", "2.4 h", "6-8 h", "1.23-2 h"]
    assert span(0.456, "", ".2f") == "0.46 " and span([1, 2.5], "x", "g") == "1-2.5 x"
    assert span(1234.5, "h") == "1.23e+03 h"  # three significant digits, Python's own exponent form
    assert report_amount({"hours": [6, 8], "minutes": 30}) == "6-8 h"
    assert report_amount({"hours": 0, "minutes": 45}) == "45 min"
    assert report_amount({"minutes": 12.75}) == "12.75 min" and report_amount({}) == "-"
    assert report_amount({"hours": 2.5e-05}) == "2.5e-05 h" and report_amount({"minutes": 1.5e-05}) == "1.5e-05 min"


def test_the_reports_time_beside_the_plans() -> None:
    full = {"said": "table 2", "hours": 6, "steps": 12000.4, "seconds_per_step": [1.5, 2],
            "planned_seconds_per_step": 1.8765, "card": "A100 80GB", "ratio": [0.938, 1.251], "planned_hours": 6.2549,
            "eval": "5 minutes", "matching_cards": ["A100 80GB", "H100"]}
    assert report_time_line(full, 2048) == (
        "The report's own time (table 2): 6 h for 12,000 steps, 1.5-2 s per optimizer step; planned 1.88 s on A100 "
        "80GB (planned / reported 0.94-1.25), 6.25 h for the report's steps. Its evaluation: 5 minutes. Cards whose "
        "plan is within 0.67-1.5x of the report's step: A100 80GB, H100" + SEQ_NOTE.format(seq=2048))
    bare = {"said": "s", "minutes": 30, "seconds_per_step": 0.5, "planned_seconds_per_step": 12.345, "card": "T4",
            "ratio": 0.5, "planned_hours": None, "matching_cards": []}
    assert report_time_line(bare, 64) == (
        "The report's own time (s): 30 min, 0.5 s per optimizer step; planned 12.3 s on T4 (planned / reported 0.50). "
        "Cards whose plan is within 0.67-1.5x of the report's step: none" + SEQ_NOTE.format(seq=64))
    assert report_time_line({"said": "s", "hours": 1, "steps": 0, "seconds_per_step": 0}, 8) == (
        "The report's own time (s): 1 h; it gives no step count to compare a step with.")
    without_cards = {**bare, "planned_hours": 0.0}
    del without_cards["matching_cards"]
    assert report_time_line(without_cards, 8) == (
        "The report's own time (s): 30 min, 0.5 s per optimizer step; planned 12.3 s on T4 (planned / reported "
        "0.50), 0.00 h for the report's steps" + SEQ_NOTE.format(seq=8))


def test_dollars_cents_below_ten_whole_dollars_from_ten() -> None:
    assert [dollars(c) for c in (0.0, 4.936, 9.994, 9.999, 10.0, 10.5, 1234.6)] == [
        "$0.00", "$4.94", "$9.99", "$10.00", "$10", "$10", "$1,235"]


def test_the_header_line_of_a_training_plan() -> None:
    assert header_line(train_plan()) == (
        "2x A100 40GB: 38.5 GiB peak per GPU at 4 x 2048 tokens (the report's longest row), fits (45.0 GiB at the "
        "4,096-token cutoff_len, does not fit); 1.2 h, $4.94; the report: 12.75 h")
    plan = train_plan(worst_case=None, fits=False, report_time=None)
    plan["time"] = {**plan["time"], "hours": 25.06, "cost": 125.3}
    assert header_line(plan) == "2x A100 40GB: 38.5 GiB peak per GPU at 4 x 2048 tokens, does not fit; 25.1 h, $125"
    plan["time"] = {**plan["time"], "cost": None}
    assert header_line(plan).endswith(", does not fit; 25.1 h")
    plan["time"] = {**plan["time"], "cost": 0.0}
    assert header_line(plan).endswith(", does not fit; 25.1 h, $0.00")
    fitting = train_plan(worst_case={"seq": 4096, "peak_gib": 39.0, "fits": True}, report_time={})
    assert header_line(fitting).endswith("(39.0 GiB at the 4,096-token cutoff_len, fits); 1.2 h, $4.94")


def test_the_header_line_times_the_reports_steps_when_the_plan_has_no_rows() -> None:
    report = {"said": "s", "minutes": 90, "steps": 1500.2, "planned_hours": 0.75}
    plan = train_plan(worst_case=None, report_time=report)
    plan["time"] = {**plan["time"], "hours": None, "cost": None}
    assert header_line(plan) == ("2x A100 40GB: 38.5 GiB peak per GPU at 4 x 2048 tokens, fits; 0.8 h for the "
                                 "report's 1,500 steps, $3.00; the report: 90 min")  # 0.75 h x 2 GPUs x $2
    plan["time"] = {**plan["time"], "price_per_gpu_hour": None}
    assert header_line(plan).endswith("; 0.8 h for the report's 1,500 steps; the report: 90 min")
    plan["report_time"] = {"said": "s", "steps": 10, "planned_hours": None}
    assert header_line(plan).endswith("4 x 2048 tokens, fits")
    plan["report_time"] = {"said": "s", "steps": 10, "planned_hours": 0.0}
    assert header_line(plan).endswith("4 x 2048 tokens, fits; 0.0 h for the report's 10 steps")
    inference = infer_plan(report_time=report)
    assert header_line(inference) == ("1x H100: 10.0 GiB peak per GPU at 1 x 512 tokens, does not fit; the report: "
                                      "90 min")
    assert header_line(infer_plan()) == "1x H100: 10.0 GiB peak per GPU at 1 x 512 tokens, does not fit"


def measured(**changes: Any) -> dict[str, Any]:
    found = {"device": "NVIDIA H100 80GB", "steps": 3, "shape": {"batch": 2, "seq": 256, "dpo": True},
             "planned_gib": 10.123, "peak_gib": 9.876, "memory_ratio": 1.025, "planned_step_seconds": 0.4567,
             "step_seconds": 0.5, "time_ratio": 0.913, "planned_mfu": 0.4, "measured_mfu": 0.3456,
             "allocated_gib": 8.04, "notes": ["one note", "another"]}
    return {**found, **changes}


def test_the_measured_steps_beside_the_plan() -> None:
    assert render_measured(measured()) == "\n".join([
        "## Measured on NVIDIA H100 80GB", "",
        "3 real steps, per-device batch 2 x 256 tokens (chosen + rejected), random weights, synthetic rows.", "",
        "|  | planned | measured | planned / measured |", "|---|---|---|---|",
        "| peak memory | 10.12 GiB | 9.88 GiB | 1.02x |",
        "| optimizer step | 0.457 s | 0.5 s | 0.91x |",
        "| MFU | 40.0% | 34.6% | - |", "",
        "Peak allocated by tensors: 8.0 GiB.", "",
        "- one note", "- another"]) + "\n"


def test_measured_steps_on_a_cpu_without_a_planned_time() -> None:
    shape = {"batch": 1, "seq": 8, "dpo": False}
    assert render_measured(measured(shape=shape, planned_step_seconds=None, time_ratio=None, measured_mfu=None,
                                    allocated_gib=None, notes=[])) == "\n".join([
        "## Measured on NVIDIA H100 80GB", "",
        "3 real steps, per-device batch 1 x 8 tokens, random weights, synthetic rows.", "",
        "|  | planned | measured | planned / measured |", "|---|---|---|---|",
        "| peak memory | 10.12 GiB | 9.88 GiB | 1.02x |",
        "| optimizer step | - | 0.5 s | - |"]) + "\n"
    zeros = render_measured(measured(measured_mfu=0.0, planned_step_seconds=0.0, time_ratio=0.0, allocated_gib=0.0))
    assert "| optimizer step | 0 s | 0.5 s | 0.00x |\n| MFU | 40.0% | 0.0% | - |\n" in zeros
    assert "\n\nPeak allocated by tensors: 0.0 GiB.\n\n- one note" in zeros


def test_the_plan_on_this_machines_device() -> None:
    found = {"recipe": "recipes/x.yaml", "peak_gib": 9.876, "fits_cards": ["A100 40GB", "H100"],
             "measured": measured(notes=[])}
    assert render_measured_here(found) == (
        "# Plan of recipes/x.yaml on this machine's device\n\n9.88 GiB peak per GPU planned; the cards that hold it: "
        "A100 40GB, H100.\n\n" + render_measured(measured(notes=[])))
    assert "; the cards that hold it: none.\n\n## Measured" in render_measured_here({**found, "fits_cards": []})


def test_the_plan_line_goes_after_the_report_line_and_its_continuation() -> None:
    text = ("# A recipe.\n# Report: papers/x.md, section 4\n#   continued here\n#   and here\n# Other: y\n"
            "stage: sft\n# Report: not the header\n")
    assert set_plan_line(text, "# Plan (a).") == (
        "# A recipe.\n# Report: papers/x.md, section 4\n#   continued here\n#   and here\n# Plan (a).\n# Other: y\n"
        "stage: sft\n# Report: not the header\n")
    last = "# A recipe.\n#Report:papers/x.md\n#   more"
    assert set_plan_line(last, "# Plan (b).") == "# A recipe.\n#Report:papers/x.md\n#   more\n# Plan (b)."


def test_an_old_plan_line_is_replaced_in_place() -> None:
    text = "# A recipe.\n# Plan (old).\n# Report: p.md\n# Plan (second).\nstage: sft\n# Plan (body)\n"
    assert set_plan_line(text, "# Plan (new).") == (
        "# A recipe.\n# Plan (new).\n# Report: p.md\n# Plan (second).\nstage: sft\n# Plan (body)\n")
    assert set_plan_line("# Planned: not a plan line\n# Report: p\n", "# Plan (x).") == (
        "# Planned: not a plan line\n# Report: p\n# Plan (x).\n")


def test_a_header_without_a_report_line_is_refused() -> None:
    for text in ("# A recipe.\nstage: sft\n", "stage: sft\n# Report: p.md\n", "# A\n\n# Report: p.md\n"):
        with pytest.raises(InputError) as caught:
            set_plan_line(text, "# Plan (a).")
        assert str(caught.value) == "the header has no 'Report:' line to put the plan after"


def test_a_micro_batch_of_a_twentieth_of_a_teraflop_rounds_up() -> None:
    # 5e10 FLOP is 0.05 TFLOP, shown to one decimal as 0.1 (0.05 in binary lies just above the half)
    assert "\n\n0.1 TFLOP per micro-batch (recomputation included)" in render_markdown(
        train_plan(flops_per_micro_batch=5e10))
