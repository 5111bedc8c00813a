"""``plan --measure``'s parts that need no device: the measured-against-planned ratios and MFU, the synthetic rows
and their registry, which recipes are refused, and the probes' results read against a hand-counted plan.

(Building the random model, starting the probe and its CUDA memory readings run only in the integration and GPU
tests.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipekit.errors import InputError
from recipekit.plan.gpus import Gpu
from recipekit.plan.measure import (
    WORDS,
    Measured,
    check_measurable,
    measure,
    summarize,
    synthetic_data,
    synthetic_row,
    synthetic_text,
    write_synthetic_data,
)
from recipekit.plan.memory import GIB, Memory, Setup
from recipekit.plan.planner import Run
from recipekit.plan.simulate import Shape, Simulation
from recipekit.recipes.reading import Recipe


def measured(**values: object) -> Measured:
    base = {"device": "cpu", "steps": 4, "step_seconds": 2.0, "peak_gib": 8.0, "planned_gib": 6.0,
            "planned_step_seconds": 3.0, "step_flops": 10**15, "peak_tflops": 250.0}
    return Measured(**{**base, **values})


def test_the_ratios_are_planned_over_measured_and_mfu_is_flops_over_the_peak_in_that_time() -> None:
    m = measured()
    assert (m.memory_ratio, m.time_ratio) == (0.75, 1.5)
    assert m.measured_mfu == pytest.approx(1e15 / (250e12 * 2.0))  # 2.0
    assert m.planned_mfu == pytest.approx(1e15 / (250e12 * 3.0))
    assert m.mfu(4.0) == pytest.approx(1.0) and m.mfu(None) is None
    shown = m.as_dict()
    assert shown["memory_ratio"] == 0.75 and shown["time_ratio"] == 1.5
    assert shown["planned_mfu"] == pytest.approx(4 / 3) and shown["measured_mfu"] == pytest.approx(2.0)
    assert (shown["device"], shown["steps"], shown["notes"], shown["shape"], shown["allocated_gib"]) == (
        "cpu", 4, [], {}, None)


def test_without_a_card_there_is_no_planned_time_and_no_mfu() -> None:
    m = measured(planned_step_seconds=None, peak_tflops=None)
    assert m.time_ratio is None and m.planned_mfu is None and m.measured_mfu is None and m.mfu(1.0) is None
    assert m.as_dict()["time_ratio"] is None


def test_the_synthetic_text_counts_its_words_round_the_vocabulary() -> None:
    assert WORDS == 400
    assert synthetic_text(3) == "w0 w1 w2"
    assert synthetic_text(3, 398) == "w398 w399 w0"
    assert synthetic_text(0, 5) == ""
    assert len(synthetic_text(WORDS * 4).split()) == 1600 and len(set(synthetic_text(WORDS * 4).split())) == WORDS


def words(start: int, count: int) -> str:
    return " ".join(f"w{i % 400}" for i in range(start, start + count))


def test_each_synthetic_row_is_longer_than_the_cutoff_in_each_of_its_texts() -> None:
    """cutoff + 8 words per text, each text starting one word later than the one before it and each row one word
    later than the last: a prompt and answer, a chosen and rejected pair, a classifier's text (pair) and label."""
    assert synthetic_row(3, 2, False, None, None) == {"instruction": words(3, 10), "input": "",
                                                      "output": words(4, 10)}
    assert synthetic_row(1, 4, True, None, None) == {"instruction": words(1, 12), "input": "",
                                                     "chosen": words(2, 12), "rejected": words(3, 12)}
    assert synthetic_row(4, 2, False, ["A", "B", "tie"], None) == {"instruction": "", "input": words(4, 10),
                                                                   "output": "B"}
    assert synthetic_row(2, 2, True, ["A", "B", "tie"], "### B") == {
        "instruction": "", "input": f"{words(2, 10)} ### B {words(3, 10)}", "output": "tie"}


def test_the_synthetic_data_is_registered_as_measure(tmp_path: Path) -> None:
    plain, pairs = tmp_path / "new" / "plain", tmp_path / "pairs"
    synthetic_data(plain, 3, 2, False)
    lines = (plain / "measure.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [synthetic_row(i, 2, False, None, None) for i in range(3)]
    assert json.loads((plain / "dataset_info.json").read_text(encoding="utf-8")) == {
        "measure": {"file_name": "measure.jsonl"}}
    synthetic_data(pairs, 2, 1, True)
    assert json.loads((pairs / "dataset_info.json").read_text(encoding="utf-8")) == {"measure": {
        "file_name": "measure.jsonl", "ranking": True,
        "columns": {"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"}}}
    assert json.loads((pairs / "measure.jsonl").read_text(encoding="utf-8").splitlines()[1])["rejected"] == words(3, 9)


def recipe(tmp_path: Path, classifier: bool = False, **values: object) -> Recipe:
    base = {"model_name_or_path": "m", "do_train": True, "finetuning_type": "lora", "dataset": "x",
            "output_dir": "saves/x", "cutoff_len": 16}
    return Recipe(tmp_path / "recipe.yaml", {**base, **values}, classifier=classifier)


@pytest.mark.parametrize(("stage", "paired"), [("sft", False), ("dpo", True), ("rm", True)])
def test_the_measured_rows_take_the_stages_shape(tmp_path: Path, stage: str, paired: bool) -> None:
    write_synthetic_data(recipe(tmp_path, stage=stage), tmp_path / "data", 2, 4)
    row = json.loads((tmp_path / "data" / "measure.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert row == synthetic_row(0, 4, paired, None, None)
    assert ("ranking" in json.loads((tmp_path / "data" / "dataset_info.json").read_text(encoding="utf-8"))[
        "measure"]) is paired


def test_a_classifiers_measured_rows_carry_its_labels_and_its_text_pair(tmp_path: Path) -> None:
    classifier = recipe(tmp_path, classifier=True, finetuning_type="full", labels="A,B,tie",
                        text_pair_separator="### Response A")
    write_synthetic_data(classifier, tmp_path / "data", 4, 3)
    rows = [json.loads(line) for line in (tmp_path / "data" / "measure.jsonl").read_text(encoding="utf-8")
            .splitlines()]
    assert [row["output"] for row in rows] == ["A", "B", "tie", "A"]
    assert rows[1]["input"] == f"{words(1, 11)} ### Response A {words(2, 11)}"


@pytest.mark.parametrize(("values", "classifier", "said"), [
    ({"stage": "ppo"}, False, "stage ppo, do_train True"),
    ({"stage": "rm"}, False, "stage rm, do_train True"),
    ({"stage": "sft", "do_train": False}, False, "stage sft, do_train False"),
    ({"do_train": False}, True, "a classifier, do_train False"),
])
def test_measure_refuses_a_stage_it_cannot_train_or_a_recipe_that_does_not_train(
        tmp_path: Path, values: dict, classifier: bool, said: str) -> None:
    with pytest.raises(InputError) as raised:
        check_measurable(recipe(tmp_path, classifier, **values))
    assert str(raised.value) == (f"{tmp_path / 'recipe.yaml'}: --measure trains: stage sft or dpo, or a classifier, "
                                 f"with do_train (this recipe: {said})")


@pytest.mark.parametrize(("values", "classifier"), [({"stage": "sft"}, False), ({"stage": "dpo"}, False),
                                                    ({}, True)])
def test_measure_takes_sft_dpo_and_a_training_classifier(tmp_path: Path, values: dict, classifier: bool) -> None:
    assert check_measurable(recipe(tmp_path, classifier, **values)) is None


def test_fewer_than_two_steps_are_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^--measure-steps must be at least 2 \(the first step is not timed\)$"):
        measure(recipe(tmp_path, stage="sft"), 1, 1, tmp_path / "log", {}, {})
    assert not (tmp_path / "log").exists()


# A card of 300 TFLOP/s in bf16 (150 in fp16) and 1,000 GB/s; a step of one compute-bound kernel over 4-bit
# weights with checkpointing: each micro-step F / (300e12 x 0.9) plus three dequantisations of the weights.
CARD = Gpu("Test 80GB", 80.0, 300.0, 150.0, memory_gb_s=1000.0)
F, QUANTISED = 2.7e12, 10**9
NF4 = 0.5 + 1 / 64 + 4 / (64 * 256)
MICRO = F / (300e12 * 0.9) + 3 * QUANTISED * (NF4 + 2) / (1000e9 * 1.53)


def small_run() -> tuple[Run, Simulation, Memory]:
    shape = Shape(2, 16, "lora", gradient_checkpointing=True)
    run = Run("m", shape, Setup(quantization_bit=4), 3, 1.0, -1, ("x",), "data", None)
    sim = Simulation(params=0, trainable=0, largest_layer=0, quantizable=QUANTISED, flops=F // 1,
                     kernels=[[F, 0, 1]])
    return run, sim, Memory({"weights": 3.0 * GIB, "activations": 1.5 * GIB, "allowance": 1.25 * GIB})


def test_a_cuda_probe_is_read_against_the_cards_plan_of_the_run() -> None:
    """The card found by its chip's name in the device's (``test``) at the memory nearest the device's; the
    larger rank's reserved peak plus its context; the median of the steps after each rank's first; "half" run in
    the card's bf16; three micro-steps, each with its recomputed dequantisation."""
    run, sim, memory = small_run()
    ranks = [{"device": "ACME Test-80", "device_total": 79 * GIB, "reserved_peak": 4 * GIB, "context": GIB // 2,
              "allocated_peak": 2 * GIB, "step_seconds": [9.0, 1.0, 2.0]},
             {"device": "ACME Test-80", "device_total": 79 * GIB, "reserved_peak": 5 * GIB, "context": GIB // 4,
              "allocated_peak": 3 * GIB, "step_seconds": [8.0, 4.0]}]
    cards = {"test-40g": Gpu("Test 40GB", 40.0, 1.0, 1.0), "test-80g": CARD}
    found = summarize(ranks, run, sim, memory, cards, 3, ["said before"])
    assert found.device == "ACME Test-80 (Test 80GB)" and found.steps == 3
    assert (found.peak_gib, found.allocated_gib, found.step_seconds) == (5.25, 3.0, 2.0)
    assert found.planned_gib == 5.75
    assert found.planned_step_seconds == pytest.approx(3 * MICRO)
    assert (found.step_flops, found.peak_tflops) == (3 * F, 300.0)
    assert found.notes == ["said before"]
    assert found.shape["batch"] == 2 and found.shape["gradient_checkpointing"] is True


def test_a_cuda_probe_on_a_card_the_table_lacks_has_no_planned_time() -> None:
    run, sim, memory = small_run()
    ranks = [{"device": "Other 24GB", "device_total": 24 * GIB, "reserved_peak": GIB, "context": 0,
              "allocated_peak": GIB, "step_seconds": [3.0]}]
    found = summarize(ranks, run, sim, memory, {"test-80g": CARD}, 2, [])
    assert found.device == "Other 24GB" and found.planned_step_seconds is None and found.peak_tflops is None
    assert found.step_seconds == 3.0  # one step only: that one is the time
    assert found.notes == ["Other 24GB is not in the cards table: no planned time"]
    assert found.planned_gib == 5.75


def test_a_cpu_probe_is_its_resident_growth_against_the_plan_without_the_cuda_allowance() -> None:
    run, sim, memory = small_run()
    ranks = [{"device": "cpu", "rss_before": GIB, "rss_peak": 5 * GIB, "step_seconds": [7.0, 2.0, 3.0, 10.0]},
             {"device": "cpu", "rss_before": 3 * GIB, "rss_peak": 6 * GIB, "step_seconds": [7.0, 1.0]}]
    found = summarize(ranks, run, sim, memory, {"test-80g": CARD}, 4, [])
    assert (found.device, found.peak_gib, found.planned_gib, found.allocated_gib) == ("cpu", 4.0, 4.5, None)
    assert found.step_seconds == 2.5 and found.planned_step_seconds is None and found.peak_tflops is None
    assert found.notes == ["CPU: resident memory over the process's own before the run (freed tensors given back); "
                           "planned without the CUDA allowance; no card for this CPU, so no planned time"]
