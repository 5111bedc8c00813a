"""A deep stack from three shallow steps, on hand-made steps whose counts grow by chosen amounts per layer: which
configs are extended, each guard at its edge, and what the extended step holds (the whole steps against the
simulator are in test_stack.py)."""

from __future__ import annotations

from dataclasses import asdict, replace
from types import SimpleNamespace

import pytest
from transformers import AutoConfig

from recipekit.plan.simulate import Simulation
from recipekit.plan.stack import _kinds, _line, extrapolate, stackable, steepest, with_layers


def line(depth: int, total: int, per_layer: int, trainable: int = 10) -> Simulation:
    """A sample whose counts grow by hand-chosen amounts per layer."""
    kinds = {"PARAM": 100 * depth, "GRAD": 0, "ACT": 7 * depth, "Total": total}
    return Simulation(params=50 * depth, trainable=trainable * depth, largest_layer=9, quantizable=40 * depth,
                      peak=kinds, flops=1000 + 300 * depth, kernels=[[5, 6, 2 * depth + 1]],
                      phases={"forward": {**kinds, "Total": total - 1}, "backward": kinds})


def samples(**changes: object) -> list[Simulation]:
    return [replace(line(d, 1000 + 130 * d, 130), **changes) for d in (3, 4, 5)]


def test_a_line_is_extended_and_a_bend_or_a_shallow_peak_is_refused() -> None:
    shallow = samples()
    deep = extrapolate(shallow, 32, grad_bytes=2)
    assert deep is not None
    assert (deep.params, deep.trainable, deep.quantizable, deep.flops) == (1600, 320, 1280, 1000 + 300 * 32)
    assert deep.peak["Total"] == 1000 + 130 * 32 and deep.kernels == [[5, 6, 65]]
    bent = [*shallow[:2], replace(shallow[2], flops=shallow[2].flops + 1)]
    assert extrapolate(bent, 32, grad_bytes=2) is None
    # a peak growing 130 a layer where a layer's parameters and gradients alone are 100 + 2 x 20 = 140
    assert extrapolate([line(d, 1000 + 130 * d, 130, trainable=20) for d in (3, 4, 5)], 32, grad_bytes=2) is None
    assert asdict(shallow[0])["phases"]  # the samples keep their phases; the extended step does not claim them
    assert deep.phases == {}


def test_only_uniform_stacks_deeper_than_the_samples_are_worth_are_extended() -> None:
    def config(**values: object) -> SimpleNamespace:
        return SimpleNamespace(**{"model_type": "llama", "num_hidden_layers": 16, **values})

    for model_type in ("llama", "qwen2", "qwen3", "bert", "deberta-v2"):
        assert stackable(config(model_type=model_type))
    assert not stackable(config(model_type="mixtral")) and not stackable(config(num_hidden_layers=15))
    assert not stackable(config(num_hidden_layers=None)) and not stackable(SimpleNamespace(model_type="llama"))
    assert stackable(config(layer_types=["full_attention"] * 16)) and stackable(config(layer_types=None))
    assert not stackable(config(layer_types=["full_attention", "sliding_attention"] * 8))
    qwen3 = AutoConfig.for_model("qwen3", num_hidden_layers=36)  # the real config: one kind of layer listed
    assert stackable(qwen3) and set(qwen3.layer_types) == {"full_attention"}


def test_a_shallow_copy_has_its_layers_and_layer_kinds_cut_and_leaves_the_config_alone() -> None:
    qwen3 = AutoConfig.for_model("qwen3", num_hidden_layers=36)
    shallow = with_layers(qwen3, 4)
    assert (shallow.num_hidden_layers, shallow.layer_types) == (4, ["full_attention"] * 4)
    assert (qwen3.num_hidden_layers, len(qwen3.layer_types)) == (36, 36)
    plain = SimpleNamespace(num_hidden_layers=32, rope_scaling={"factor": 8.0})
    copied = with_layers(plain, 5)
    assert copied.num_hidden_layers == 5 and not hasattr(copied, "layer_types")
    assert copied.rope_scaling == plain.rope_scaling and copied.rope_scaling is not plain.rope_scaling
    assert with_layers(SimpleNamespace(num_hidden_layers=32, layer_types=None), 3).layer_types is None


def test_three_values_give_the_value_at_any_depth_only_on_a_line() -> None:
    assert _line([10, 13, 16], 3) == 10 and _line([10, 13, 16], 32) == 10 + 29 * 3
    assert _line([10, 8, 6], 8) == 0 and _line([7, 7, 7], 100) == 7
    assert _line([10, 13, 17], 32) is None and _line([10, 13, 15], 32) is None


def test_memory_kinds_are_extended_together_and_refused_when_one_goes_below_zero_or_a_sample_lacks_one() -> None:
    falling = [{"ACT": 1, "TEMP": 5}, {"ACT": 2, "TEMP": 4}, {"ACT": 3, "TEMP": 3}]
    assert _kinds(falling, 8) == {"ACT": 6, "TEMP": 0}  # zero is a count; below it is not
    assert _kinds(falling, 9) is None
    assert _kinds([{"ACT": 1}, {"ACT": 2}, {"ACT": 3, "TEMP": 0}], 8) is None
    assert _kinds([{"ACT": 1, "TEMP": 0}, {"ACT": 2}, {"ACT": 3}], 8) is None
    assert _kinds([{"ACT": 1}, {"ACT": 2}, {"ACT": 4}], 8) is None


def phased(trainable: int, param: int, forward: dict[str, int], backward_total: int) -> Simulation:
    return Simulation(params=0, trainable=trainable, largest_layer=1, quantizable=0,
                      phases={"forward": forward, "backward": {"PARAM": param, "Total": backward_total}})


def test_the_peak_must_grow_by_a_layers_parameters_plus_the_larger_of_its_gradients_and_saved_activations() -> None:
    """Per layer: parameters 100, gradients 20 trainable x grad_bytes, saved activations ACT 30 + TEMP 20 (the
    first sample has no TEMP: it counts as 0)."""
    first = phased(10, 300, {"ACT": 90, "Total": 1000}, 900)

    def grown(forward: int, backward: int, temp: int = 20) -> Simulation:
        return phased(30, 400, {"ACT": 120, "TEMP": temp, "Total": 1000 + forward}, 900 + backward)

    third = phased(0, 0, {"Total": 0}, 0)  # only the first two samples are read
    # grad_bytes 2: gradients 40 < activations 50, so the peak must grow by 150
    assert steepest([first, grown(150, 0), third], grad_bytes=2)
    assert steepest([first, grown(0, 150), third], grad_bytes=2)
    assert not steepest([first, grown(149, 149), third], grad_bytes=2)
    # TEMP 19: activations 49, so by 149 (a missing TEMP read as anything but 0 moves the edge)
    assert steepest([first, grown(149, 0, temp=19)], grad_bytes=2)
    assert not steepest([first, grown(148, 0, temp=19)], grad_bytes=2)
    # the second without TEMP (the first with 20): activations 30 - 20 = 10; no gradients (grad_bytes 0): by 110
    had = phased(10, 300, {"ACT": 90, "TEMP": 20, "Total": 1000}, 900)
    assert steepest([had, phased(30, 400, {"ACT": 120, "Total": 1110}, 900)], grad_bytes=0)
    assert not steepest([had, phased(30, 400, {"ACT": 120, "Total": 1109}, 900)], grad_bytes=0)
    # grad_bytes 4: gradients 80 > activations 50, so by 180
    assert steepest([first, grown(0, 180)], grad_bytes=4)
    assert not steepest([first, grown(179, 179)], grad_bytes=4)


def test_each_refusal_of_the_extension_and_what_the_deep_step_keeps() -> None:
    assert extrapolate(samples(), 32, grad_bytes=2) is not None
    mixed = samples()
    mixed[1] = replace(mixed[1], largest_layer=10)
    assert extrapolate(mixed, 32, grad_bytes=2) is None
    missing = samples()
    missing[2] = replace(missing[2], phases={"backward": missing[2].phases["backward"]})
    assert extrapolate(missing, 32, grad_bytes=2) is None
    # a count falling 10 a layer: 0 at 6 layers is kept, below 0 at 7 is refused
    falling = [replace(s, quantizable=60 - 10 * d) for s, d in zip(samples(), (3, 4, 5), strict=True)]
    assert extrapolate(falling, 6, grad_bytes=2).quantizable == 0  # type: ignore[union-attr]
    assert extrapolate(falling, 7, grad_bytes=2) is None
    # a kernel the first sample lacks counts 0 there; one that falls to 0 leaves the list; the list is sorted
    listed = {3: [[9, 1, 6], [5, 6, 7]], 4: [[9, 1, 4], [5, 6, 9], [1, 2, 2]], 5: [[9, 1, 2], [5, 6, 11], [1, 2, 4]]}
    kernels = [replace(s, kernels=listed[d]) for s, d in zip(samples(), (3, 4, 5), strict=True)]
    deep = extrapolate(kernels, 6, grad_bytes=2)
    assert deep is not None and deep.kernels == [[1, 2, 6], [5, 6, 13]]  # (9, 1): 6 - 3 x 2 = 0
    # a negative kernel count at depth is refused
    assert extrapolate(kernels, 7, grad_bytes=2) is None
    # the peak is the phase whose line is higher at the depth: here the forward (5 above the backward)
    higher = [replace(s, phases={"forward": {**s.phases["forward"], "Total": s.phases["backward"]["Total"] + 5},
                                 "backward": s.phases["backward"]}) for s in samples()]
    deep = extrapolate(higher, 32, grad_bytes=2)
    assert deep is not None
    assert deep.peak == {"PARAM": 3200, "GRAD": 0, "ACT": 224, "Total": 1000 + 130 * 32 + 5}
    timed = [replace(s, seconds=seconds) for s, seconds in zip(samples(), (1.0, 2.0, 4.5), strict=True)]
    assert extrapolate(timed, 32, grad_bytes=2).seconds == pytest.approx(7.5)  # type: ignore[union-attr]
