"""The planner's reading and arithmetic without a simulated step: the model a recipe trains, DeepSpeed's JSON, the
run a recipe describes (precision, shape, setup), the settings it does not model, the rows it counts, generation's
memory, the report's time beside the plan, and a prediction recipe's whole plan (its parameters counted on the
meta device, no step simulated), and the plan command in process on such a recipe: what it refuses, the card it
picks, the one line it prints with no card, the files it writes and the '# Plan' header line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from recipekit.commands.plan import card_list, main
from recipekit.errors import InputError
from recipekit.plan.gpus import Gpu
from recipekit.plan.memory import CUDA_CONTEXT, GIB, NF4_BYTES, Setup
from recipekit.plan.planner import (
    Run,
    against_report,
    deepspeed_setup,
    plan,
    plan_rows,
    predict_memory,
    producer_model,
    read_run,
    registered_rows,
    unmodelled,
)
from recipekit.plan.simulate import Shape, Simulation
from recipekit.recipes.reading import Recipe, load_recipe

# two layers of 64, 4 heads of 16 (2 key/value heads), 128 in the MLP, 256 words: 16,384 x 2 embedding and head
# + 2 x (q 4,096, k and v 2,048 each, o 4,096, MLP 3 x 8,192, two norms of 64) + the last norm = 106,816 parameters
TINY = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 256, "tie_word_embeddings": False}
TINY_PARAMS = 2 * 256 * 64 + 2 * (4096 + 2048 + 2048 + 4096 + 3 * 8192 + 2 * 64) + 64


def tiny_model(tmp_path: Path, **values: object) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir(exist_ok=True)
    if not (folder / "config.json").is_file():  # a test's own architecture, written first, is kept
        (folder / "config.json").write_text(json.dumps({**TINY, **values}), encoding="utf-8")
    return folder


def recipe(tmp_path: Path, classifier: bool = False, header: tuple[str, ...] = (), **values: object) -> Recipe:
    args = {"model_name_or_path": str(tiny_model(tmp_path)), "do_train": True, "finetuning_type": "lora",
            "dataset": "x", "cutoff_len": 64, "output_dir": "saves/x",
            **({} if classifier else {"stage": "sft", "template": "default"}), **values}
    return Recipe(tmp_path / "recipe.yaml", args, list(header), classifier=classifier)


def write_recipe(path: Path, **values: object) -> Path:
    path.write_text(yaml.safe_dump({"stage": "sft", "do_train": True, "finetuning_type": "lora", "dataset": "x",
                                    "template": "default", "output_dir": "saves/x", **values}), encoding="utf-8")
    return path


def test_a_model_another_recipe_writes_is_that_recipes_base_model(tmp_path: Path) -> None:
    """saves/dpo is made by the DPO recipe, which trains saves/sft, which the SFT recipe trains from the hub's
    base; a path no recipe writes is itself; a recipe that trains its own output stops after a few steps."""
    sft = write_recipe(tmp_path / "sft.yaml", model_name_or_path="Qwen/Qwen2.5-0.5B")
    dpo = write_recipe(tmp_path / "dpo.yaml", model_name_or_path="saves/sft")
    loop = write_recipe(tmp_path / "loop.yaml", model_name_or_path="saves/loop")
    made_by = {"saves/sft": sft, "saves/dpo": dpo, "saves/loop": loop}
    assert producer_model("saves/dpo/", made_by) == "Qwen/Qwen2.5-0.5B"
    assert producer_model("saves/sft", made_by) == "Qwen/Qwen2.5-0.5B"
    assert producer_model("Qwen/Qwen3-4B-Base", made_by) == "Qwen/Qwen3-4B-Base"
    assert producer_model("saves/loop", made_by) == "saves/loop"


def test_no_deepspeed_config_is_no_zero_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    assert deepspeed_setup(None, 64) == {"zero": 0} and deepspeed_setup("", 64) == {"zero": 0}
    with pytest.raises(InputError, match=r"no_such\.json: no such DeepSpeed config$"):
        deepspeed_setup(str(tmp_path / "no_such.json"), 64)


@pytest.mark.parametrize(("zero", "expected"), [
    ({"stage": 3, "reduce_bucket_size": "auto", "stage3_prefetch_bucket_size": "auto",
      "offload_optimizer": {"device": "cpu"}, "offload_param": {"device": "nvme"}},
     {"zero": 3, "offload_optimizer": True, "offload_params": True, "buffer_elements": 100 + 90}),
    ({"stage": 3, "reduce_bucket_size": 5e2, "offload_param": {"device": "none"}},
     {"zero": 3, "offload_optimizer": False, "offload_params": False, "buffer_elements": 500 + 90}),
    ({"stage": 3, "reduce_bucket_size": "7", "stage3_prefetch_bucket_size": 11},
     {"zero": 3, "offload_optimizer": False, "offload_params": False, "buffer_elements": 18}),
    ({"stage": 2, "stage3_prefetch_bucket_size": 1000, "offload_optimizer": {"device": "cpu"}},
     {"zero": 2, "offload_optimizer": True, "offload_params": False, "buffer_elements": 100}),
    ({"stage": 1}, {"zero": 1, "offload_optimizer": False, "offload_params": False, "buffer_elements": 100}),
    ({"stage": 0}, {"zero": 0, "offload_optimizer": False, "offload_params": False, "buffer_elements": 100}),
    ({"stage": 4}, {"zero": 0, "offload_optimizer": False, "offload_params": False, "buffer_elements": 100}),
    ({}, {"zero": 0, "offload_optimizer": False, "offload_params": False, "buffer_elements": 100}),
])
def test_a_deepspeed_config_as_the_trainer_fills_its_autos(tmp_path: Path, zero: dict, expected: dict) -> None:
    """hidden 10: "auto" reduce buckets are 10 x 10 elements, ZeRO-3's prefetch 0.9 of that; stages outside 1-3
    are no ZeRO; offload to the CPU or NVMe is offload."""
    path = tmp_path / "ds.json"
    path.write_text(json.dumps({"zero_optimization": zero} if zero else {}), encoding="utf-8")
    assert deepspeed_setup(str(path), 10) == expected


@pytest.mark.parametrize(("values", "half_available", "precision", "half"), [
    ({"bf16": True}, True, "bf16", True), ({"fp16": True}, True, "fp16", True),
    ({"pure_bf16": True}, False, "bf16", True), ({}, True, "half", True), ({}, False, "fp32", False),
    ({"bf16": True}, False, "bf16", True)])
def test_a_llamafactory_runs_precision(tmp_path: Path, values: dict, half_available: bool, precision: str,
                                       half: bool) -> None:
    """Without flags, half precision where the device has it (LLaMA-Factory loads the checkpoint's dtype)."""
    run, _ = read_run(recipe(tmp_path, **values), 1, {}, half_available=half_available)
    assert (run.precision, run.shape.bf16, run.setup.half) == (precision, half, half)
    assert run.setup.pure_bf16 is bool(values.get("pure_bf16"))


def test_a_classifier_without_flags_computes_in_fp32(tmp_path: Path) -> None:
    run, _ = read_run(recipe(tmp_path, classifier=True, labels="a,b,c"), 1, {})
    assert (run.precision, run.shape.bf16, run.shape.head_labels) == ("fp32", False, 3)


def test_the_shape_and_setup_a_recipe_writes(tmp_path: Path) -> None:
    ds = tmp_path / "z2.json"
    ds.write_text(json.dumps({"zero_optimization": {"stage": 2, "reduce_bucket_size": "auto"}}), encoding="utf-8")
    run, config = read_run(recipe(tmp_path, lora_rank=4, lora_target="q_proj,v_proj", lora_dropout=0.05,
                                  flash_attn="disabled", per_device_train_batch_size=3,
                                  gradient_accumulation_steps=5, num_train_epochs=1.5, max_steps=7,
                                  deepspeed=str(ds), dataset="a,b", dataset_dir="elsewhere", max_samples=9,
                                  quantization_bit=4, double_quantization=False, bf16=True), 4, {})
    assert config.hidden_size == 64
    assert run.shape == Shape(3, 64, "lora", lora_rank=4, lora_alpha=8, lora_target="q_proj,v_proj",
                              lora_dropout=0.05, gradient_checkpointing=True, dpo=False, head_labels=None,
                              bf16=True, attention="eager", fused_loss=False)
    assert run.setup == Setup(gpus=4, zero=2, offload_optimizer=False, offload_params=False, half=True,
                              quantization_bit=4, double_quantization=False, reference_model=False,
                              buffer_elements=64 * 64, pure_bf16=False)  # "auto": the model's hidden size squared
    assert (run.accumulation, run.epochs, run.max_steps, run.datasets, run.dataset_dir, run.max_samples) == (
        5, 1.5, 7, ("a", "b"), "elsewhere", 9)
    assert (run.predict, run.model) == (False, str(tmp_path / "tiny"))


def test_a_seq_given_replaces_cutoff_len_and_checkpointing_can_be_disabled(tmp_path: Path) -> None:
    run, _ = read_run(recipe(tmp_path, disable_gradient_checkpointing=True, lora_alpha=3, max_steps=0), 1, {},
                      seq=17)
    assert (run.shape.seq, run.shape.gradient_checkpointing, run.shape.lora_alpha, run.max_steps) == (17, False, 3,
                                                                                                      -1)
    assert run.shape.attention == "sdpa"


@pytest.mark.parametrize(("stage", "liger", "fused"), [("sft", True, True), ("pt", True, True), ("dpo", True, False),
                                                       ("sft", False, False)])
def test_ligers_fused_loss_is_planned_where_it_replaces_the_loss(tmp_path: Path, stage: str, liger: bool,
                                                                 fused: bool) -> None:
    run, _ = read_run(recipe(tmp_path, stage=stage, enable_liger_kernel=liger), 1, {})
    assert run.shape.fused_loss is fused and run.shape.dpo is (stage == "dpo")


def test_a_model_liger_does_not_patch_keeps_its_loss(tmp_path: Path) -> None:
    tiny_model(tmp_path, model_type="gpt2", architectures=["GPT2LMHeadModel"], n_embd=64, n_layer=2, n_head=4)
    written = recipe(tmp_path, enable_liger_kernel=True)
    run, config = read_run(written, 1, {})
    assert run.shape.fused_loss is False
    assert unmodelled(written, config) == []  # none of its kernels apply


def test_a_classifiers_head_and_checkpointing(tmp_path: Path) -> None:
    run, _ = read_run(recipe(tmp_path, classifier=True, labels=["x", "y"], gradient_checkpointing=True), 1, {})
    assert (run.shape.head_labels, run.shape.gradient_checkpointing, run.shape.fused_loss) == (2, True, False)
    assert run.shape.dpo is False


@pytest.mark.parametrize(("stage", "ref_model", "dpo", "reference"), [
    ("kto", None, True, False), ("dpo", "other/model", True, True), ("sft", "other/model", False, False)])
def test_a_separate_reference_model_is_held_only_in_a_reference_stage(tmp_path: Path, stage: str,
                                                                      ref_model: str | None, dpo: bool,
                                                                      reference: bool) -> None:
    values = {"ref_model": ref_model} if ref_model else {}
    run, _ = read_run(recipe(tmp_path, stage=stage, **values), 1, {})
    assert (run.shape.dpo, run.setup.reference_model) == (dpo, reference)


def test_a_method_or_classifier_the_planner_cannot_plan_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"recipe\.yaml: finetuning_type 'freeze': the planner knows full and lora$"):
        read_run(recipe(tmp_path, finetuning_type="freeze"), 1, {})
    with pytest.raises(InputError, match=r"recipe\.yaml: a classifier recipe needs labels to be planned$"):
        read_run(recipe(tmp_path, classifier=True), 1, {})


def test_a_prediction_run_is_read_at_the_eval_batch_and_its_new_tokens(tmp_path: Path) -> None:
    run, _ = read_run(recipe(tmp_path, do_train=False, do_predict=True, per_device_eval_batch_size=6,
                             per_device_train_batch_size=2, max_new_tokens=40), 1, {})
    assert (run.predict, run.shape.batch, run.new_tokens) == (True, 6, 40)
    trained, _ = read_run(recipe(tmp_path, do_predict=True, per_device_eval_batch_size=6,
                                 per_device_train_batch_size=2), 1, {})
    assert (trained.predict, trained.shape.batch) == (False, 2)


def test_the_settings_the_plan_does_not_model_are_named_with_why(tmp_path: Path) -> None:
    written = recipe(tmp_path, packing=True, neat_packing=False, optim="sgd", quantization_bit=8,
                     eval_strategy="no", use_dora=True, enable_liger_kernel=True)
    _, config = read_run(written, 1, {})
    assert unmodelled(written, config) == [
        "packing: rows packed into cutoff_len blocks change the steps' count",
        "optim: optimizer states are planned as AdamW's",
        "quantization_bit: base weights other than 4-bit are planned in 16 bits",
        "use_dora: DoRA's weight-norm activations",
        "enable_liger_kernel: its RMSNorm, SwiGLU and rotary kernels (its fused cross-entropy is planned in the pt "
        "and sft stages)"]
    plain = recipe(tmp_path, packing=False, optim="adamw_torch_fused", quantization_bit=4)
    assert unmodelled(plain, config) == []


def run_of(tmp_path: Path, datasets: tuple[str, ...], max_samples: int | None = None) -> Run:
    return Run("m", Shape(1, 8), Setup(), 1, 1.0, -1, datasets, str(tmp_path), max_samples)


def test_the_registered_rows_are_the_non_blank_lines_of_each_set_capped_at_max_samples(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"x": 1}\n\n{"x": 2}\n   \n{"x": 3}\n', encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"x": 1}\n{"x": 2}\n', encoding="utf-8")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "a": {"file_name": "a.jsonl"}, "b": {"file_name": "b.jsonl"}, "empty": {"file_name": "empty.jsonl"},
        "gone": {"file_name": "gone.jsonl"}, "hub": {"hf_hub_url": "x/y"}}), encoding="utf-8")
    assert registered_rows(run_of(tmp_path, ("a", "b"))) == 5
    assert registered_rows(run_of(tmp_path, ("a", "b"), max_samples=2)) == 4
    assert registered_rows(run_of(tmp_path, ("a",), max_samples=3)) == 3
    assert registered_rows(run_of(tmp_path, ("a", "gone"))) is None
    assert registered_rows(run_of(tmp_path, ("hub",))) is None
    assert registered_rows(run_of(tmp_path, ("unregistered",))) is None
    assert registered_rows(run_of(tmp_path, ("empty",))) is None


class StatedFacts:
    def __init__(self, rows: dict) -> None:
        self.rows = rows


def test_the_rows_a_plan_counts_and_where_they_come_from(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"x": 1}\n{"x": 2}\n', encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"a": {"file_name": "a.jsonl"}}), encoding="utf-8")
    stated = StatedFacts({"train": 120_000, "said": "the paper's split"})
    assert plan_rows(run_of(tmp_path, ("a",)), 7, stated) == (7, "--rows")
    assert plan_rows(run_of(tmp_path, ("a",)), 0, None) == (2, f"the registered data in {tmp_path}/")  # none given
    assert plan_rows(run_of(tmp_path, ("a",)), None, stated) == (120_000, "the report's run: 120,000, the paper's "
                                                                          "split")
    assert plan_rows(run_of(tmp_path, ("a",), max_samples=5000), None, stated) == (
        5000, "the report's run: 120,000, the paper's split; max_samples keeps 5,000")
    assert plan_rows(run_of(tmp_path, ("a",), max_samples=120_000), None, stated)[1] == (
        "the report's run: 120,000, the paper's split")
    assert plan_rows(run_of(tmp_path, ("a",)), None, StatedFacts({})) == (2, f"the registered data in {tmp_path}/")
    assert plan_rows(run_of(tmp_path, ("a",)), None, None) == (2, f"the registered data in {tmp_path}/")
    assert plan_rows(run_of(tmp_path, ("none",)), None, None) == (None, None)


class Config:
    num_hidden_layers, num_attention_heads, hidden_size, vocab_size = 3, 8, 256, 1000


def test_generation_memory_by_hand() -> None:
    """Weights at 2 bytes (NF4 with its constants at 4 bits); keys and values of every layer's key/value heads at
    prompt + new tokens; four copies of one position's logits in 2 bytes; the CUDA context and 10% on top."""
    run = Run("m", Shape(2, 10), Setup(), 1, 1.0, -1, (), "", None, predict=True, new_tokens=6)
    parts = predict_memory(run, Config(), 1000).parts
    assert parts["weights"] == 2000 and parts["kv cache"] == 2 * 3 * 8 * 32 * (2 * 16) * 2
    assert parts["activations"] == 4 * 2 * 1000 * 2
    assert parts["allowance"] == CUDA_CONTEXT + 0.1 * (2000 + 2 * 3 * 8 * 32 * 32 * 2 + 16000)
    config = Config()
    config.head_dim, config.num_key_value_heads = 64, 2
    quantised = Run("m", Shape(1, 4), Setup(quantization_bit=4, double_quantization=False), 1, 1.0, -1, (), "", None)
    parts = predict_memory(quantised, config, 1000).parts
    assert parts["weights"] == pytest.approx(1000 * NF4_BYTES[False]) and NF4_BYTES[False] == 0.5 + 4 / 64
    assert parts["kv cache"] == 2 * 3 * 2 * 64 * 4 * 2


# a card of 100 TFLOP/s (bf16) with no memory bandwidth given: a step of one kernel of 9e13 FLOPs takes
# 9e13 / (100e12 x 0.9) = 1 s per micro-step
CARD = Gpu("Card 100", 80.0, 100.0, 100.0)
SIM = Simulation(params=0, trainable=0, largest_layer=0, quantizable=0, kernels=[[9e13, 0, 1]])


def test_the_reports_time_beside_the_plan_and_the_cards_whose_plans_match_it() -> None:
    """The report: 4 hours of 7,200 steps, 2 s each; the plan of 2 micro-steps on each card: 2 s on the 100
    TFLOP/s card, 3 s at 66.7 (within 0.67-1.5x), 1.33 s at 150 (0.667x: outside) and 4 s at 50."""
    run = Run("m", Shape(1, 8), Setup(), 2, 1.0, -1, (), "", None)
    cards = {"fast": Gpu("F", 80.0, 150.0, 150.0), "same": CARD, "slower": Gpu("S", 80.0, 200 / 3, 200 / 3),
             "slow": Gpu("L", 80.0, 50.0, 50.0)}
    time = {"said": "section 4", "hours": 4, "steps": 7200, "eval": "excluded"}
    found = against_report(time, SIM, run, CARD, 2.5, cards)
    assert found == {"said": "section 4", "hours": [4.0], "minutes": None, "steps": 7200.0, "eval": "excluded",
                     "seconds_per_step": [2.0], "planned_seconds_per_step": 2.5, "card": "Card 100",
                     "ratio": [1.25], "planned_hours": 7200 * 2.5 / 3600, "matching_cards": ["same", "slower"]}


def test_a_reported_range_is_compared_at_both_ends_and_every_card_must_fit_both() -> None:
    """8 to 12 hours of 7,200 steps: 4 to 6 s a step; a card's plan (6 micro-steps) must be at least 0.67x the
    slowest and at most 1.5x the fastest: 6 s is (1.5x of 4 s: the goal's end included); 8 s is 1.33x of 6 s but
    2x of 4 s; 3 s is 0.75x of 4 s but 0.5x of 6 s."""
    run = Run("m", Shape(1, 8), Setup(), 6, 1.0, -1, (), "", None)
    cards = {"same": CARD, "slower": Gpu("S", 80.0, 75.0, 75.0), "faster": Gpu("F", 80.0, 200.0, 200.0)}
    found = against_report({"said": "s", "hours": [8, 12], "steps": 7200}, SIM, run, CARD, 6.0, cards)
    assert found["seconds_per_step"] == [4.0, 6.0] and found["ratio"] == [1.0, 1.5]
    assert found["matching_cards"] == ["same"]
    assert "matching_cards" not in against_report({"said": "s", "hours": 1, "steps": 10}, SIM, run, CARD, 1.0, {})


def test_a_report_without_a_step_count_has_only_its_own_words(tmp_path: Path) -> None:
    run = Run("m", Shape(1, 8), Setup(), 1, 1.0, -1, (), "", None)
    found = against_report({"said": "s", "minutes": 30}, SIM, run, CARD, 1.0, {"same": CARD})
    assert found == {"said": "s", "hours": None, "minutes": [30.0], "steps": None, "eval": None,
                     "seconds_per_step": None, "planned_seconds_per_step": 1.0, "card": "Card 100"}
    rate = against_report({"said": "s", "steps_per_second": 0.5}, SIM, run, CARD, 1.0, None)
    assert rate["ratio"] == [0.5] and "planned_hours" not in rate and "matching_cards" not in rate


def test_a_prediction_recipes_plan_counts_its_weights_cache_and_logits(tmp_path: Path) -> None:
    """No step is simulated: the weights counted on the meta device, the cache at cutoff_len + 16 new tokens of a
    batch of 2, no time; a copy of a recipe whose header names no chain here is planned all the same."""
    predict = tmp_path / "predict.yaml"
    predict.write_text("# Report: recipes/reproduce/not_here.yaml\n" + yaml.safe_dump({
        "model_name_or_path": str(tiny_model(tmp_path)), "stage": "sft", "do_predict": True,
        "finetuning_type": "lora", "eval_dataset": "x", "template": "default", "cutoff_len": 64,
        "output_dir": "saves/x", "per_device_eval_batch_size": 2, "max_new_tokens": 16}), encoding="utf-8")
    held = TINY_PARAMS * 2 + 2 * 2 * 2 * 16 * (2 * 80) * 2 + 4 * 2 * 256 * 2
    peak = (CUDA_CONTEXT + 1.1 * held) / GIB
    roomy = plan(load_recipe(predict), Gpu("Roomy", peak / 0.94, 1.0, 1.0), 1, {})
    assert (roomy["kind"], roomy["params"], roomy["time"]) == ("predict", TINY_PARAMS, None)
    assert roomy["time_note"] == "generation is bound by memory bandwidth, not FLOPs: no time estimate"
    assert roomy["memory"]["peak_gib"] == pytest.approx(peak)
    assert roomy["memory"]["model_states_gib"] == pytest.approx(TINY_PARAMS * 2 / GIB)
    assert roomy["memory"]["host_gib"] == 0.0
    assert (roomy["fits"], roomy["tight"], roomy["options"]) == (True, False, [])
    assert (roomy["gpus"], roomy["shape"]["batch"], roomy["shape"]["seq"], roomy["unmodelled"]) == (1, 2, 64, [])
    tight = plan(load_recipe(predict), Gpu("Tight", peak / 0.96, 1.0, 1.0), 1, {})
    assert (tight["fits"], tight["tight"]) == (True, True)
    exact = plan(load_recipe(predict), Gpu("Exact", peak, 1.0, 1.0), 3, {})
    assert (exact["fits"], exact["tight"], exact["gpus"]) == (True, True, 3)
    short = plan(load_recipe(predict), Gpu("Short", peak * 0.99, 1.0, 1.0), 1, {})
    assert (short["fits"], short["tight"], short["options"]) == (False, False, [])  # no changes for generation


def predict_recipe(tmp_path: Path, header: str = "", **values: object) -> Path:
    model = tmp_path / "tiny"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text(json.dumps(TINY), encoding="utf-8")
    path = tmp_path / "predict.yaml"
    path.write_text(header + yaml.safe_dump({
        "model_name_or_path": str(model), "stage": "sft", "do_predict": True, "finetuning_type": "lora",
        "eval_dataset": "x", "template": "default", "cutoff_len": 64, "output_dir": "saves/x",
        "per_device_eval_batch_size": 2, "max_new_tokens": 16, **values}), encoding="utf-8")
    return path


def test_an_export_recipe_is_refused_naming_the_adapter_to_plan(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "export.yaml"
    export.write_text(yaml.safe_dump({"model_name_or_path": "Qwen/Qwen2.5-0.5B", "adapter_name_or_path": "saves/a",
                                      "template": "qwen", "finetuning_type": "lora", "export_dir": "out/m"}),
                      encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main([str(export), "--gpu", "t4"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (f"error: {export}: an export recipe trains nothing: plan the recipe that "
                                       "trains its adapter (saves/a)\n")


def test_measure_refuses_a_recipe_that_does_not_train_before_planning(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    recipe = predict_recipe(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main([str(recipe), "--gpu", "t4", "--measure", "--out", str(tmp_path / "out")])
    assert exited.value.code == 2
    assert "--measure trains: stage sft or dpo, or a classifier, with do_train (this recipe: stage sft, do_train " \
           "False)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_with_no_card_known_the_peak_and_the_cards_that_hold_it_are_one_line(tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture[str]
                                                                             ) -> None:
    """No --gpu, no 'Hardware:' line and no CUDA here: one line, nothing written."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine's GPU would be the card")
    recipe = predict_recipe(tmp_path)
    found = main([str(recipe), "--out", str(tmp_path / "out")])
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{recipe}: 1.0 GiB peak per GPU on 1 GPU; it fits ")
    assert line.endswith("; no card is named (--gpu, the header's 'Hardware:') and this machine has none: name one "
                         "with --gpu for time, cost and plan files")
    assert found["gpus"] == 1 and "t4" in found["fits_cards"] and not (tmp_path / "out").exists()


def test_the_card_list_line_says_when_no_card_holds_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    result = {"recipe": "r.yaml", "gpus": 2, "memory": {"peak_gib": 50.0}}
    cards = {"small": Gpu("S", 24.0, 1.0, 1.0), "big": Gpu("B", 80.0, 1.0, 1.0), "mid": Gpu("M", 48.0, 1.0, 1.0)}
    assert card_list(result, cards)["fits_cards"] == ["big"]
    assert capsys.readouterr().out.startswith("r.yaml: 50.0 GiB peak per GPU on 2 GPUs; it fits big; no card")
    assert card_list({**result, "gpus": 1, "memory": {"peak_gib": 90.0}}, cards)["fits_cards"] == []
    assert capsys.readouterr().out.startswith("r.yaml: 90.0 GiB peak per GPU on 1 GPU; it fits none of the cards "
                                              "(give --gpu CARD for the changes); no card")


def test_the_headers_card_is_planned_on_said_and_its_plan_written_into_the_header(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = predict_recipe(tmp_path, "# A prediction.\n#\n# Report: none\n# Hardware: 1x A100 80GB\n")
    out = tmp_path / "out"
    result = main([str(recipe), "--out", str(out), "--write-header"])
    printed = capsys.readouterr().out
    assert printed.startswith("planned on a100-80g: the recipe's header names 1x A100 80GB (name another with "
                              "--gpu)\n")
    assert json.loads((out / "plan.json").read_text(encoding="utf-8"))["params"] == result["params"]
    assert (out / "plan.md").is_file() and f"wrote {out / 'plan.json'}, {out / 'plan.md'}" in printed
    header = recipe.read_text(encoding="utf-8").splitlines()
    assert header[3] == "# Plan (report on 1x A100 SXM4 80GB: 1.0 GiB peak per GPU at 2 x 64 tokens, fits)."
    assert header[4] == "# Hardware: 1x A100 80GB"
    assert f"wrote to {recipe}: {header[3]}" in printed


def test_the_reports_hardware_without_a_named_card_is_planned_on_a_t4_and_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--report-hardware: the report's count of GPUs it does not name, on the smallest common card."""
    recipe = predict_recipe(tmp_path, "# A prediction.\n# Report: none\n# Hardware: 2 x GPU\n")
    main([str(recipe), "--report-hardware", "--gpus", "5", "--out", str(tmp_path / "out"), "--write-header"])
    assert not capsys.readouterr().out.startswith("planned on")
    plan_line = next(line for line in recipe.read_text(encoding="utf-8").splitlines() if line.startswith("# Plan"))
    assert plan_line == "# Plan (the report names no GPU; planned on 2x T4 16GB: 1.0 GiB peak per GPU at 2 x 64 " \
                        "tokens, fits)."
    assert json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))["gpus"] == 2


def test_a_cards_memory_alone_is_a_card_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--gpu-mem without --gpu: the plan on a card of that memory, its files written (not the one-line list)."""
    main([str(predict_recipe(tmp_path)), "--gpu-mem", "0.5", "--out", str(tmp_path / "out")])
    written = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    assert (written["gpu"]["memory_gib"], written["fits"]) == (0.5, False)
    assert "Peak per GPU 1.0 GiB of 0.5 GiB" in capsys.readouterr().out
