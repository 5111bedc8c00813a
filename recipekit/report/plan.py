"""Rendering a plan: memory per GPU by kind, fit, time and cost, and the changes tried when it does not fit."""

from __future__ import annotations

from typing import Any

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
    lines = [f"# Plan: {plan['recipe']}", "",
             f"{plan['model']} ({plan['params']:,} parameters"
             + (f", {plan['trainable']:,} trainable" if plan.get("trainable") is not None else "") + f"), {method}, "
             f"{zero}, {plan['gpus']} x {gpu['name']}; per-device batch {shape['batch']} x {shape['seq']} tokens"
             + (" (chosen + rejected)" if shape["dpo"] else "")
             + (", gradient checkpointing" if shape["gradient_checkpointing"] else "") + ".", "",
             f"**Peak per GPU {gib(memory['peak_gib'])} of {gpu['memory_gib']:g} GiB: {verdict}.**", "",
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
            lines.append(f"{plan['steps']:,} steps of {plan['global_batch']} rows ({plan['rows']:,} rows): "
                         f"{t['hours']:.2f} h, {t['gpu_hours']:.1f} GPU-hours{cost}.")
    if plan.get("time_note"):
        lines.append(plan["time_note"] + ".")
    if plan["options"]:
        lines += ["", "Changes tried (each simulated):", "",
                  md_table(["change", "peak per GPU", "fits"],
                           [[o["change"], gib(o["peak_gib"]), "yes" if o["fits"] else "no"] for o in plan["options"]])]
    lines += ["", "Model states follow DeepSpeed's estimators; activations are one simulated step on fake tensors at "
                  "the sequence length shown (cutoff_len is the worst case LLaMA-Factory pads to; --data measures the "
                  "data); the allowance is 1 GiB of CUDA context plus 10% for the allocator."]
    return "\n".join(lines) + "\n"


def header_line(plan: dict[str, Any]) -> str:
    """The one line a recipe header carries."""
    gpu = plan["gpu"]
    line = (f"{plan['gpus']}x {gpu['name']}: {plan['memory']['peak_gib']:.1f} GiB peak per GPU at "
            f"{plan['shape']['batch']} x {plan['shape']['seq']} tokens, {'fits' if plan['fits'] else 'does not fit'}")
    if plan["kind"] == "train" and plan["time"]["hours"] is not None:
        line += f"; {plan['time']['hours']:.1f} h"
        if plan["time"]["cost"] is not None:
            line += f", ${plan['time']['cost']:,.0f}"
    return line
