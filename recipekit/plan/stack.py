"""A deep stack of identical layers from three shallow copies of it: every count of one training step (parameters,
FLOPs, each kind of operation, the memory of each kind at the peak) grows by the same amount with each layer, so
steps of 3, 4 and 5 layers give the step of any depth, at a fraction of the simulation's time (Llama-3.1-8B's 32
layers: 12 layers simulated).

Two guards keep it exact. The three steps must lie on one line in every count (else the stack is not uniform).
And the peak must already be the steepest one the step can have: a time in the step whose memory grows faster
with depth than the peak seen (gradients of every layer in the backward, where the shallow peak is the logits at
the end of the forward) would overtake it in a deep stack. No layer holds more at once than its parameters plus
the larger of its gradients and the activations it keeps for the backward, so a peak growing by that much per
layer cannot be overtaken. Otherwise the caller simulates the whole stack."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from recipekit.plan.step import Simulation

UNIFORM = {"llama", "qwen2", "qwen3", "bert", "deberta-v2"}  # decoder/encoder stacks of one layer kind
SAMPLES = (3, 4, 5)
DEEPEST_SAMPLED = 15  # fewer layers than this are simulated whole (the samples would cost as much)


def stackable(config: Any) -> bool:
    """Whether ``config``'s layers are all one kind and deep enough for the samples to save time."""
    layers = getattr(config, "num_hidden_layers", 0) or 0
    kinds = set(getattr(config, "layer_types", None) or [])
    return config.model_type in UNIFORM and layers > DEEPEST_SAMPLED and len(kinds) <= 1


def with_layers(config: Any, layers: int) -> Any:
    """A copy of ``config`` with ``layers`` layers."""
    shallow = copy.deepcopy(config)
    shallow.num_hidden_layers = layers
    if getattr(shallow, "layer_types", None):
        shallow.layer_types = shallow.layer_types[:layers]
    return shallow


def _line(values: list[int], depth: int) -> int | None:
    """The value at ``depth`` of three values at depths SAMPLES, or None when they are not on one line."""
    first, second, third = values
    if third - second != second - first:
        return None
    return first + (depth - SAMPLES[0]) * (second - first)


def _kinds(samples: list[dict[str, int]], depth: int) -> dict[str, int] | None:
    """Memory kinds at ``depth`` from the same kinds at SAMPLES, or None when one is not on a line."""
    if any(set(kinds) != set(samples[0]) for kinds in samples):
        return None
    found = {kind: _line([kinds[kind] for kinds in samples], depth) for kind in samples[0]}
    return None if any(value is None or value < 0 for value in found.values()) else found  # type: ignore[misc]


def steepest(samples: list[Simulation], grad_bytes: int) -> bool:
    """Whether a phase's peak in the first two samples grows by the most one layer can hold at once."""
    first, second = (s.phases for s in samples[:2])
    params = second["backward"]["PARAM"] - first["backward"]["PARAM"]
    grads = (samples[1].trainable - samples[0].trainable) * grad_bytes
    saved = sum(second["forward"].get(k, 0) - first["forward"].get(k, 0) for k in ("ACT", "TEMP"))
    grown = max(second[phase]["Total"] - first[phase]["Total"] for phase in first)
    return grown >= params + max(grads, saved)


def extrapolate(samples: list[Simulation], depth: int, grad_bytes: int) -> Simulation | None:
    """The step of ``depth`` layers from the steps of SAMPLES layers (``grad_bytes``: bytes of one gradient
    element), or None when a guard fails (the docstring of this module). The forward's peak and the backward's
    are followed apart: the deeper stack's peak is the larger of the two."""
    if len({s.largest_layer for s in samples}) != 1 or any(set(s.phases) != set(samples[0].phases) for s in samples):
        return None
    scalars = {name: _line([getattr(s, name) for s in samples], depth)
               for name in ("params", "trainable", "quantizable", "flops")}
    counts = [{(f, b): c for f, b, c in s.kernels} for s in samples]
    kernels = {key: _line([c.get(key, 0) for c in counts], depth) for key in set().union(*counts)}
    phases = {phase: _kinds([s.phases[phase] for s in samples], depth) for phase in samples[0].phases}
    if any(v is None or v < 0 for v in [*scalars.values(), *kernels.values()]) or None in phases.values():
        return None
    if not steepest(samples, grad_bytes):
        return None
    peak = max(phases.values(), key=lambda kinds: kinds["Total"])  # type: ignore[index]
    # the phases are the shallow steps' lines: the peak, not each phase, is what a deep stack is sure to match
    return replace(samples[-1], **scalars, peak=dict(peak), phases={},  # type: ignore[arg-type]
                   kernels=[[f, b, c] for (f, b), c in sorted(kernels.items()) if c],
                   seconds=sum(s.seconds for s in samples))
