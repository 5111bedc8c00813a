"""Edges of the simulated step's parts: LoRA's ``all`` targets on a model with a vision tower, Liger's chunk size at
its smallest, the chunked cross-entropy's chunks, its one-label mean, its float32 sum, its bf16 gradient, and the
refusal of a real CPU step for a model too large for one."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from recipekit.errors import InputError
from recipekit.plan.simulate import (
    FusedLinearCrossEntropy,
    Shape,
    liger_chunk,
    llamafactory_all_targets,
    real_fallback,
    to_fake,
)

LLAMA_LINEAR = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def tiny_llava() -> torch.nn.Module:
    """A LLaVA of one CLIP layer and one Llama layer on the meta device: the vision tower's linear layers are
    q/k/v/out_proj and fc1/fc2, the projector's linear_1/linear_2."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    config = LlavaConfig(
        text_config={"model_type": "llama", "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1},
        vision_config={"model_type": "clip_vision_model", "hidden_size": 16, "intermediate_size": 32,
                       "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 8, "patch_size": 4,
                       "projection_dim": 16})
    with torch.device("meta"):
        return LlavaForConditionalGeneration(config)


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_lora_all_leaves_the_vision_tower_and_projector_out_and_logs_nothing() -> None:
    """LLaMA-Factory's default freezes the vision tower: only the language model's linear layers are targets; its
    note of the modules found (INFO) is not emitted, and its logger's level is as before afterwards."""
    import llamafactory.model.model_utils.misc  # noqa: F401  (sets up LLaMA-Factory's logger)

    model = tiny_llava()
    finder = logging.getLogger("llamafactory.model.model_utils.misc")
    kept = Kept()
    finder.addHandler(kept)
    try:
        before = logging.getLogger("llamafactory").level
        assert llamafactory_all_targets(model) == LLAMA_LINEAR
        assert logging.getLogger("llamafactory").level == before
    finally:
        finder.removeHandler(kept)
    assert kept.messages == []


def test_liger_chunks_are_the_next_power_of_two_of_the_rows() -> None:
    """vocab = hidden: one row of logits per row of hidden states, rounded up to a power of two (1 -> 1, 2 -> 2,
    5 -> 8, 8 -> 8, 9 -> 16)."""
    assert [liger_chunk(tokens, 16, 16) for tokens in (1, 2, 5, 8, 9)] == [1, 2, 8, 8, 16]


class MatmulShapes(TorchDispatchMode):
    """The name and output shape of every matrix product run under it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, tuple[int, ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        if func._overloadpacket.__name__ in ("mm", "addmm_"):
            self.seen.append((func._overloadpacket.__name__, tuple(out.shape)))
        return out


def test_the_logits_come_in_chunks_and_a_frozen_head_gets_no_gradient() -> None:
    """37 tokens of 16 against 100 words: chunks of 8 rows (ceil(37 / ceil(100 / 16)) = 6, rounded up), the last of
    5; each chunk's logits (rows x 100), its input gradient (rows x 16) and, for a trainable head, the head's
    gradient added up (100 x 16); a frozen head: no head gradient made."""
    torch.manual_seed(0)
    hidden = torch.randn(37, 16)
    target = torch.randint(0, 100, (37,))
    chunks = [8, 8, 8, 8, 5]
    for trainable in (True, False):
        weight = torch.randn(100, 16, requires_grad=trainable)
        with MatmulShapes() as shapes:
            FusedLinearCrossEntropy.apply(hidden, weight, target)
        expected = [[("mm", (rows, 100)), ("mm", (rows, 16))] + ([("addmm_", (100, 16))] if trainable else [])
                    for rows in chunks]
        assert shapes.seen == [entry for chunk in expected for entry in chunk], trainable


def test_one_labelled_token_is_the_whole_mean_and_word_zero_is_a_label() -> None:
    """Three of four labels ignored: the loss and gradients are PyTorch's cross-entropy of the one token left, whose
    label is word 0."""
    torch.manual_seed(1)
    hidden = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([-100, 0, -100, -100])
    fused = FusedLinearCrossEntropy.apply(hidden, weight, target)
    fused.backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    expected = torch.nn.functional.cross_entropy(hidden @ weight.t(), target)
    expected.backward()
    assert float(fused.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)  # summed in float32
    assert torch.allclose(grads[0], hidden.grad) and torch.allclose(grads[1], weight.grad)
    assert grads[0][[0, 2, 3]].abs().sum() == 0  # the ignored tokens get no gradient


def test_the_loss_is_summed_in_float32_on_the_inputs_device_whatever_torchs_defaults() -> None:
    """bf16 inputs with torch's default dtype float64 still give a float32 loss; CPU inputs under a meta default
    device still give a real CPU loss: ln 8 per token for a head of zeros over 8 words (bf16's ln 8, 2.078125)."""
    hidden = torch.ones(3, 4, dtype=torch.bfloat16)
    weight = torch.zeros(8, 4, dtype=torch.bfloat16)
    target = torch.tensor([0, 3, 7])
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        loss = FusedLinearCrossEntropy.apply(hidden, weight, target)
    finally:
        torch.set_default_dtype(previous)
    assert loss.dtype == torch.float32 and float(loss) == 2.078125 == pytest.approx(math.log(8), abs=2e-3)
    with torch.device("meta"):
        loss = FusedLinearCrossEntropy.apply(hidden.float(), weight.float(), target)
    assert loss.device == torch.device("cpu") and float(loss) == pytest.approx(math.log(8), rel=1e-6)


def test_a_bf16_gradient_is_scaled_by_the_mean_in_bf16() -> None:
    """A head of zeros over 8 words: each softmax is 1/8, so each labelled word's logit gradient is 1/8 - 1 =
    -0.875 before the mean. The mean over 3 tokens scales by 1/3 in bf16 (171/512): -0.875 x 171/512 = -1197/4096,
    which bf16 (8 significant bits, steps of 8/4096 here) holds as -1200/4096; the other words get 1/8 x 171/512 =
    171/4096, exact. One-hot hidden states make the head's gradient those numbers themselves."""
    hidden = torch.eye(3, dtype=torch.bfloat16)
    weight = torch.zeros(8, 3, dtype=torch.bfloat16, requires_grad=True)
    target = torch.tensor([0, 1, 2])
    FusedLinearCrossEntropy.apply(hidden, weight, target).backward()
    expected = torch.full((8, 3), 171 / 4096, dtype=torch.float64)
    for token in range(3):
        expected[token, token] = -1200 / 4096
    assert weight.grad.dtype == torch.bfloat16
    assert weight.grad.double().tolist() == expected.tolist()


def test_a_model_too_large_for_a_real_step_is_refused_with_the_first_line_of_the_fake_steps_error() -> None:
    """One Llama layer of 64 with 12,000,000 words, untied: 2 x 12,000,000 x 64 + 36,992 + 64 = 1,536,037,056
    parameters, above 1.5 billion; the fake step's error in one line (its type, its message's first line), cut at 120
    characters."""
    from transformers import AutoConfig

    config = AutoConfig.for_model("llama", vocab_size=12_000_000, hidden_size=64, intermediate_size=128,
                                  num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                                  tie_word_embeddings=False)
    first = "0123456789" * 13  # 130 characters
    with pytest.raises(InputError) as raised:
        real_fallback(config, Shape(1, 8), RuntimeError(f"\n  {first}\nthe second line"))
    shown = f"RuntimeError: {first}"[:120]
    assert str(raised.value) == (f"llama: the fake step failed ({shown}) and 1,536,037,056 parameters are too "
                                 "many for a real CPU step")


class Meta(torch.nn.Module):
    """A module with every kind of tensor ``to_fake`` meets: a tied weight, a frozen one, a missing bias, a
    buffer, a plain meta tensor attribute and a plain CPU one."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(5, 3, dtype=torch.bfloat16)
        self.head = torch.nn.Linear(3, 5, bias=False, dtype=torch.bfloat16)
        self.head.weight = self.embed.weight
        self.frozen = torch.nn.Linear(3, 2, dtype=torch.float16)
        self.frozen.requires_grad_(False)
        self.frozen.register_parameter("bias", None)
        self.register_buffer("steps", torch.ones(4, dtype=torch.int64))
        self.cos = torch.ones(2, 6, dtype=torch.float16)


def test_to_fake_gives_each_meta_tensor_a_cpu_tensor_of_its_shape_dtype_and_trainability() -> None:
    with torch.device("meta"):
        model = Meta()
    cpu_attribute = torch.full((2,), 7.0)
    model.kept = cpu_attribute
    with torch.device("meta"):  # whatever the default device, the copies are on the CPU
        to_fake(model)
    assert model.embed.weight.device.type == "cpu" and model.embed.weight.shape == (5, 3)
    assert model.embed.weight.dtype == torch.bfloat16 and model.embed.weight.requires_grad
    assert model.head.weight is model.embed.weight  # still one tensor
    assert isinstance(model.frozen.weight, torch.nn.Parameter)
    assert model.frozen.weight.shape == (2, 3) and model.frozen.weight.dtype == torch.float16
    assert not model.frozen.weight.requires_grad and model.frozen.bias is None
    assert [name for name, _ in model.named_parameters()] == ["embed.weight", "frozen.weight"]
    assert model.steps.device.type == "cpu" and model.steps.dtype == torch.int64 and model.steps.tolist() == [0] * 4
    assert "steps" in model._buffers
    assert model.cos.device.type == "cpu" and model.cos.dtype == torch.float16 and model.cos.shape == (2, 6)
    assert model.cos.sum().item() == 0
    assert model.kept is cpu_attribute


def test_to_fake_under_fake_tensor_mode_makes_fake_tensors_a_step_can_run() -> None:
    from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

    with torch.device("meta"):
        model = Meta()
    with FakeTensorMode():
        to_fake(model)
        assert all(isinstance(p, FakeTensor) and p.device.type == "cpu" for p in model.parameters())
        assert isinstance(model.steps, FakeTensor) and isinstance(model.cos, FakeTensor)
        out = model.head(model.embed(torch.tensor([[1, 2]])))
        out.float().sum().backward()
        assert model.embed.weight.grad.shape == (5, 3)


@pytest.mark.parametrize("bf16", [True, False])
def test_a_deep_stack_of_tiny_layers_is_extended_exactly_in_either_precision(monkeypatch: pytest.MonkeyPatch,
                                                                           bf16: bool) -> None:
    """Gradients of 2 bytes (bf16) or 4 (fp32) each: the guard that the peak grows by a whole layer's weights and
    gradients holds for the stack's own precision, and the extended step is the whole one."""
    from transformers import AutoConfig

    from recipekit.plan.simulate import run_step, stacked

    monkeypatch.setattr("recipekit.plan.stack.DEEPEST_SAMPLED", 7)
    config = AutoConfig.for_model("llama", vocab_size=256, hidden_size=64, intermediate_size=192,
                                  num_hidden_layers=8, num_attention_heads=4, num_key_value_heads=2,
                                  max_position_embeddings=256, tie_word_embeddings=False,
                                  architectures=["LlamaForCausalLM"])
    shape = Shape(1, 16, bf16=bf16)
    found = stacked(config, shape)
    whole = run_step(config, shape)
    assert found is not None
    assert (found.params, found.trainable, found.peak, found.flops) == (whole.params, whole.trainable, whole.peak,
                                                                       whole.flops)
