"""Rendering a plan: memory per GPU by kind, fit, time and cost, and the changes tried when it does not fit."""

from __future__ import annotations

from typing import Any

from recipekit.errors import InputError
from recipekit.recipes.facts import REPORT_LINE
from recipekit.report.writer import md_table


def gib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} GiB"


def render_markdown(plan: dict[str, Any]) -> str:
    gpu, memory = plan["gpu"], plan["memory"]
    shape, setup = plan["shape"], plan["setup"]
    method = shape["method"] + (" + 4-bit base (QLoRA)" if setup["quantization_bit"] == 4 else "")
    zero = f"ZeRO-{setup['zero']}" if setup["zero"] else "no DeepSpeed"
    if setup["offload_optimizer"] or setup["offload_params"]:
        zero += " + CPU offload"
    verdict = "fits" if plan["fits"] else "does NOT fit"
    if plan.get("tight"):
        verdict += (" only just: within 5% of the card's memory, too tight to trust (the allowance is an estimate;"
                    " a smaller batch or more GPUs leave room)")
    lines = [f"# Plan: {plan['recipe']}", "",
             f"{plan['model']} ({plan['params']:,} parameters"
             + (f", {plan['trainable']:,} trainable" if plan.get("trainable") is not None else "") + f"), {method}, "
             f"{zero}, {plan['gpus']} x {gpu['name']}; per-device batch {shape['batch']} x {shape['seq']} tokens"
             + (" (chosen + rejected)" if shape["dpo"] else "")
             + (", gradient checkpointing" if shape["gradient_checkpointing"] else "")
             + (", eager attention (score matrices held)" if shape.get("attention") == "eager" else "")
             + (", Liger's fused cross-entropy (logits in chunks)" if shape.get("fused_loss") else "")
             + (", pure bf16 (no fp32 copies)" if setup.get("pure_bf16") else "") + ".", "",
             f"**Peak per GPU {gib(memory['peak_gib'])} of {gpu['memory_gib']:g} GiB: {verdict}.**", "",
             *([worst_case_line(plan), ""] if plan.get("worst_case") else []),
             md_table(["kind", "per GPU"], [[kind, gib(value)] for kind, value in memory["per_gpu_gib"].items()])]
    if memory["host_gib"]:
        lines += ["", f"Host memory for the offloaded states: {gib(memory['host_gib'])} (DeepSpeed's estimate)."]
    if plan["kind"] == "train":
        t = plan["time"]
        parts = plan["step_parts"]
        lines += ["", f"{plan['flops_per_micro_batch'] / 1e12:.1f} TFLOP per micro-batch (recomputation included), "
                      f"{plan['operations']:,} operations, in {plan['precision']}: "
                      f"{plan['step_seconds']:.2f} s per optimizer step, {plan['tokens_per_second_per_gpu']:,.0f} "
                      f"tokens/s per GPU, MFU {plan['mfu']:.0%} ({plan['mfu_source']}). The model's step: "
                      + ", ".join(f"{name} {seconds:.3g} s" for name, seconds in parts.items() if seconds)
                      + f" (a micro-step is {plan['bound']}-bound)."]
        if t["hours"] is not None:
            cost = (f", ${t['cost']:,.2f} at ${t['price_per_gpu_hour']:g} per GPU-hour ({t['price_source']})"
                    if t["cost"] is not None else "")
            source = f" from {plan['rows_source']}" if plan.get("rows_source") else ""
            lines.append(f"{plan['steps']:,} steps of {plan['global_batch']} rows ({plan['rows']:,} rows{source}): "
                         f"{t['hours']:.2f} h, {t['gpu_hours']:.1f} GPU-hours{cost}.")
    if plan.get("time_note"):
        lines.append(plan["time_note"] + ".")
    if plan.get("padding"):
        lines += ["", padding_line(plan["padding"], plan["shape"]["seq"])]
    if plan.get("global_batch_note"):
        lines += ["", f"**Global batch**: {plan['global_batch_note']}."]
    if plan.get("report_time"):
        lines += ["", report_time_line(plan["report_time"], plan["shape"]["seq"])]
    if plan["options"]:
        lines += ["", "Changes tried (each simulated; host memory is DeepSpeed's estimate for offloaded states, the "
                      "step is planned on this card):", "",
                  md_table(["change", "peak per GPU", "fits", "host memory", "optimizer step"],
                           [[o["change"], gib(o["peak_gib"]), "yes" if o["fits"] else "no",
                             gib(o["host_gib"]) if o.get("host_gib") else "-",
                             "-" if o.get("step_seconds") is None else f"{o['step_seconds']:.3g} s"]
                            for o in plan["options"]])]
    if plan.get("unmodelled"):
        lines += ["", "**Not modelled** (settings of the recipe that change its memory or time, which this plan "
                      "leaves out): " + "; ".join(plan["unmodelled"]) + "."]
    lines += ["", "Model states follow DeepSpeed's estimators; activations are one simulated step on fake tensors at "
                  "the sequence length shown (cutoff_len is the worst case LLaMA-Factory pads to; --data measures the "
                  "data); the allowance is 1 GiB of CUDA context plus 10% for the allocator."]
    return "\n".join(lines) + "\n"


def padding_line(pad: dict[str, Any], seq: int) -> str:
    """The data's tokens as the padded batches run them, what packing would run, and the typical case's hours."""
    order = {"group_by_length": "length-grouped batches", "sequential": "batches in the data's order"}.get(
        pad.get("sampling"), "shuffled batches")
    line = (f"**Padding** (--data, {pad['rows']:,} rows in {order} of {pad['batch']}): the batches run "
            f"{pad['paid']:,} tokens for the {pad['used']:,} the rows hold ({pad['padded_share']:.0%} padding; the "
            f"mean row runs as {pad['typical_row']:,.0f} tokens, the plan's rows as {seq}). `packing: true` would "
            f"run {pad['packed_blocks']:,} blocks of {pad['cutoff'] + 1:,} tokens, {pad['packed_paid']:,} in all ("
            + (f"{pad['packing_saves']:.0%} fewer" if pad["packing_saves"] >= 0 else
               f"{-pad['packing_saves']:.0%} more: rows far shorter than cutoff_len leave each block's end padded")
            + "; `neat_packing` packs the same, each row attending only to itself).")
    if pad.get("typical_hours") is not None:
        line += (f" At the mean padded row the run takes about {pad['typical_hours']:.2f} h instead of the plan's "
                 f"worst case (time in proportion to the tokens run).")
    return line


def worst_case_line(plan: dict[str, Any]) -> str:
    """Where the plan's row length comes from and the peak at ``cutoff_len``, the worst case, beside it."""
    worst = plan["worst_case"]
    return (f"Rows of {plan['shape']['seq']} tokens, {plan['seq_source']}. At cutoff_len {worst['seq']:,}, the "
            f"worst case LLaMA-Factory pads to, the peak would be {gib(worst['peak_gib'])}: "
            f"{'fits' if worst['fits'] else 'does not fit'}.")


def span(values: float | list[float] | None, unit: str, digits: str = ".3g") -> str:
    """``6-8 h``, ``2.4 h``; ``-`` for nothing."""
    if not values:
        return "-"
    return "-".join(format(v, digits) for v in (values if isinstance(values, list) else [values])) + f" {unit}"


def report_amount(time: dict[str, Any]) -> str:
    """A report's own time as it gives it: hours, else minutes."""
    return span(time["hours"], "h", "g") if time.get("hours") else span(time.get("minutes"), "min", "g")


def report_time_line(time: dict[str, Any], seq: int) -> str:
    """The report's own time beside the plan's (per optimizer step, and for the report's steps); the plan's rows
    are ``seq`` tokens each."""
    line = f"The report's own time ({time['said']}): {report_amount(time)}"
    if time.get("steps"):
        line += f" for {time['steps']:,.0f} steps"
    if not time.get("seconds_per_step"):
        return line + "; it gives no step count to compare a step with."
    planned = time["planned_seconds_per_step"]
    line += (f", {span(time['seconds_per_step'], 's')} per optimizer step; planned {planned:.3g} s on {time['card']} "
             f"(planned / reported {span(time['ratio'], '', '.2f').strip()})")
    if time.get("planned_hours") is not None:
        line += f", {time['planned_hours']:.2f} h for the report's steps"
    if time.get("eval"):
        line += f". Its evaluation: {time['eval']}"
    if "matching_cards" in time:
        line += (f". Cards whose plan is within 0.67-1.5x of the report's step: "
                 f"{', '.join(time['matching_cards']) or 'none'}")
    return line + (f". The plan's rows are all {seq} tokens (cutoff_len, the report's longest row or --seq/--data); "
                   "rows shorter than that "
                   "make the report's steps faster, and its time includes evaluation and saving.")


def dollars(cost: float) -> str:
    """A cost as a header shows it: cents below $10, whole dollars above."""
    return f"${cost:,.2f}" if cost < 10 else f"${cost:,.0f}"


def header_line(plan: dict[str, Any]) -> str:
    """The one line a recipe header carries."""
    gpu = plan["gpu"]
    worst = plan.get("worst_case")
    line = (f"{plan['gpus']}x {gpu['name']}: {plan['memory']['peak_gib']:.1f} GiB peak per GPU at "
            f"{plan['shape']['batch']} x {plan['shape']['seq']} tokens"
            + (" (the report's longest row)" if worst else "") + f", {'fits' if plan['fits'] else 'does not fit'}")
    if worst:
        line += (f" ({worst['peak_gib']:.1f} GiB at the {worst['seq']:,}-token cutoff_len, "
                 f"{'fits' if worst['fits'] else 'does not fit'})")
    if plan["kind"] == "train" and plan["time"]["hours"] is not None:
        line += f"; {plan['time']['hours']:.1f} h"
        if plan["time"]["cost"] is not None:
            line += ", " + dollars(plan["time"]["cost"])
    report = plan.get("report_time") or {}
    if plan["kind"] == "train" and plan["time"]["hours"] is None and report.get("planned_hours") is not None:
        line += f"; {report['planned_hours']:.1f} h for the report's {report['steps']:,.0f} steps"
        if plan["time"]["price_per_gpu_hour"]:
            line += ", " + dollars(report["planned_hours"] * plan["gpus"] * plan["time"]["price_per_gpu_hour"])
    if report.get("hours") or report.get("minutes"):
        line += "; the report: " + report_amount(report)
    return line


def render_measured(measured: dict[str, Any]) -> str:
    """The measured steps beside the plan of the same run (``plan --measure``)."""
    shape = measured["shape"]
    planned_time = measured["planned_step_seconds"]
    rows = [["peak memory", f"{measured['planned_gib']:.2f} GiB", f"{measured['peak_gib']:.2f} GiB",
             f"{measured['memory_ratio']:.2f}x"],
            ["optimizer step", "-" if planned_time is None else f"{planned_time:.3g} s",
             f"{measured['step_seconds']:.3g} s",
             "-" if measured["time_ratio"] is None else f"{measured['time_ratio']:.2f}x"]]
    if measured.get("measured_mfu") is not None:
        rows.append(["MFU", f"{measured['planned_mfu']:.1%}", f"{measured['measured_mfu']:.1%}", "-"])
    lines = [f"## Measured on {measured['device']}", "",
             f"{measured['steps']} real steps, per-device batch {shape['batch']} x {shape['seq']} tokens"
             + (" (chosen + rejected)" if shape["dpo"] else "") + ", random weights, synthetic rows.", "",
             md_table(["", "planned", "measured", "planned / measured"], rows)]
    if measured["allocated_gib"] is not None:
        lines += ["", f"Peak allocated by tensors: {gib(measured['allocated_gib'])}."]
    if measured["notes"]:
        lines += ["", *(f"- {note}" for note in measured["notes"])]
    return "\n".join(lines) + "\n"


def render_measured_here(found: dict[str, Any]) -> str:
    """The plan of a run on this machine's device, no card named: its peak per GPU, the cards that hold it and the
    steps measured."""
    return (f"# Plan of {found['recipe']} on this machine's device\n\n{found['peak_gib']:.2f} GiB peak per GPU "
            f"planned; the cards that hold it: {', '.join(found['fits_cards']) or 'none'}.\n\n"
            + render_measured(found["measured"]))


def set_plan_line(text: str, line: str) -> str:
    """The recipe's text with its '# Plan' header line replaced, or added after the header's 'Report:' line."""
    lines = text.split("\n")
    header = [i for i, row in enumerate(lines) if row.startswith("#") and all(r.startswith("#") for r in lines[:i])]
    old = [i for i in header if lines[i].startswith("# Plan (")]
    if old:
        lines[old[0]] = line
    else:
        at = next((i for i in header if REPORT_LINE.match(lines[i])), None)
        if at is None:
            raise InputError("the header has no 'Report:' line to put the plan after")
        while at + 1 < len(lines) and lines[at + 1].startswith("#   "):
            at += 1
        lines.insert(at + 1, line)
    return "\n".join(lines)
