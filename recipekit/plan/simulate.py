"""One training step of a real architecture on fake tensors: PyTorch's ``FakeTensorMode`` builds the model and
runs forward + backward without allocating, ``MemTracker`` records memory by kind at the peak and
``FlopCounterMode`` counts the FLOPs (gradient-checkpoint recomputation included). Results are cached per
architecture and shape.

MemTracker also keeps every module's own peak, updated at every operation for every module seen so far; only
the step's overall peak is needed here, so that per-module bookkeeping is skipped (a 36-layer LoRA model:
4.5 minutes with it)."""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import KW_ONLY, asdict, dataclass
from pathlib import Path
from typing import Any

from recipekit.plan.models import OUTPUT_LAYERS, build_model, largest_layer, quantizable
from recipekit.plan.stack import SAMPLES, extrapolate, stackable, steepest, with_layers
from recipekit.plan.step import Simulation

# the code a cached step comes from (the step, the models it builds, the layer stacking, LoRA's targets)
SIMULATOR_SOURCES = ("plan/simulate.py", "plan/step.py", "plan/models.py", "plan/stack.py", "recipes/arguments.py")


@functools.cache
def simulator_version() -> str:
    """A hash of ``SIMULATOR_SOURCES``, part of the cache key: any edit to that code is a new key."""
    package = Path(__file__).resolve().parents[1]
    return hashlib.sha256(b"".join((package / name).read_bytes() for name in SIMULATOR_SOURCES)).hexdigest()[:16]


@dataclass(frozen=True)
class Shape:
    """What one step runs: per-device batch x sequence length, the method and its settings."""

    batch: int
    seq: int
    method: str = "full"  # full | lora (QLoRA is lora with 4-bit base weights, accounted in memory.py)
    _: KW_ONLY  # the settings by name only
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_target: str = "all"
    lora_dropout: float = 0.0  # peft drops the adapter's input: a masked copy of it per adapted layer
    gradient_checkpointing: bool = True
    dpo: bool = False  # chosen + rejected in one batch, plus the reference forward
    head_labels: int | None = None  # a sequence classifier with this many labels
    bf16: bool = True
    attention: str = "sdpa"  # transformers' attn_implementation: eager holds each layer's score matrices
    fused_loss: bool = False  # the loss from the hidden states in chunks of logits (Liger's fused linear CE)


def cache_dir() -> Path:
    root = os.environ.get("LLM_RECIPES_CACHE") or Path.home() / ".cache" / "llm-recipes"
    return Path(root) / "plan"


def cache_key(config: Any, shape: Shape) -> str:
    import torch
    import transformers

    blob = json.dumps({"config": config.to_dict(), "shape": asdict(shape), "simulator": simulator_version(),
                       "torch": torch.__version__,
                       "transformers": transformers.__version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def llamafactory_all_targets(model: Any) -> list[str]:
    """``lora_target: all`` as LLaMA-Factory resolves it for a causal LM: its own module finder (every linear
    layer but the LM head), with its default ``freeze_vision_tower``; its note of what it found (printed on
    stdout) left out."""
    import logging

    from llamafactory.model.model_utils.misc import find_all_linear_modules

    log = logging.getLogger("llamafactory")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        return sorted(find_all_linear_modules(model, freeze_vision_tower=True))
    finally:
        log.setLevel(level)


def prepared(config: Any, shape: Shape) -> Any:
    """The model as the run trains it: dtype, gradient checkpointing, LoRA adapters (peft) on the targets."""
    import torch

    model = build_model(config, shape.head_labels, torch.bfloat16 if shape.bf16 else torch.float32, shape.attention)
    if shape.gradient_checkpointing:
        # LLaMA-Factory's default (use_reentrant_gc: true); a classifier trains under the HF Trainer's (false)
        reentrant = not shape.head_labels
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
        model.config.use_cache = False
    if shape.method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        from recipekit.recipes.arguments import lora_targets

        task = TaskType.SEQ_CLS if shape.head_labels else TaskType.CAUSAL_LM
        if shape.lora_target == "all" and not shape.head_labels:
            targets = llamafactory_all_targets(model)
        else:  # named targets, or the classifier trainer's "all" (recipekit/classify/model.py)
            targets = lora_targets(model, shape.lora_target, list(OUTPUT_LAYERS))
        model = get_peft_model(model, LoraConfig(task_type=task, r=shape.lora_rank, lora_alpha=shape.lora_alpha,
                                                 lora_dropout=shape.lora_dropout, target_modules=targets))
    if shape.gradient_checkpointing:
        model.enable_input_require_grads()  # reentrant checkpoints need an input that requires grad
    model.train()
    return model


def to_fake(model: Any) -> None:
    """Give a meta-device model fake CPU tensors of the same shapes, dtypes and trainability (peft cannot wrap
    layers inside ``FakeTensorMode`` itself: its device moves fail there)."""
    import torch

    made: dict[int, torch.nn.Parameter] = {}  # tied weights (embeddings and output head) stay one tensor
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None:
                if id(param) not in made:
                    fake = torch.empty(param.shape, dtype=param.dtype, device="cpu")
                    made[id(param)] = torch.nn.Parameter(fake, requires_grad=param.requires_grad)
                module._parameters[name] = made[id(param)]
        for name, buffer in list(module._buffers.items()):
            if buffer is not None:
                module._buffers[name] = torch.zeros(buffer.shape, dtype=buffer.dtype, device="cpu")
        for name, value in list(vars(module).items()):  # plain tensor attributes (rotary embeddings' copies)
            if isinstance(value, torch.Tensor) and value.is_meta:
                setattr(module, name, torch.zeros(value.shape, dtype=value.dtype, device="cpu"))


def sequence_logprobs(model: Any, ids: Any) -> tuple[Any, Any]:
    """Summed token log-probabilities of each row (what DPO compares) and the float32 logits they come from, as
    LLaMA-Factory computes them. The log-softmax of the shifted logits runs on a contiguous copy of them: the
    CPU and CUDA kernels both make one inside, where fake tensors and MemTracker do not see it."""
    import torch

    logits = model(input_ids=ids).logits.float()
    shifted = logits[:, :-1].contiguous()
    logp = torch.log_softmax(shifted, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return logp.sum(-1), logits


def forward(model: Any, shape: Shape, vocab: int, reference: Any = None) -> Any:
    """The loss of one micro-batch. DPO, as LLaMA-Factory runs it: the policy on chosen + rejected in one
    batch, then the reference's forward without gradients while the policy's activations and logits (kept for
    the logged metrics) are alive."""
    import torch

    rows = 2 * shape.batch if shape.dpo else shape.batch
    ids = torch.randint(0, vocab, (rows, shape.seq))
    if shape.head_labels:
        logits = model(input_ids=ids).logits.float()  # the loss outside: some heads pick labelled rows by value
        loss = torch.nn.functional.cross_entropy(logits, torch.randint(0, shape.head_labels, (rows,)))
    elif shape.dpo:
        policy, logits = sequence_logprobs(model, ids)
        with torch.no_grad():
            ref, _ = sequence_logprobs(reference, ids)
        margin = (policy - ref).view(2, shape.batch)
        loss = -torch.nn.functional.logsigmoid(0.1 * (margin[0] - margin[1])).mean()
    elif shape.fused_loss:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        hidden = base.get_decoder()(input_ids=ids).last_hidden_state
        labels = torch.nn.functional.pad(ids, (0, 1), value=IGNORE_INDEX)[:, 1:]  # transformers' shift
        head = base.get_output_embeddings().weight
        loss = FusedLinearCrossEntropy.apply(hidden.reshape(-1, hidden.shape[-1]), head, labels.reshape(-1))
    else:
        loss = model(input_ids=ids, labels=ids).loss
    return loss


IGNORE_INDEX = -100


def liger_chunk(tokens: int, hidden: int, vocab: int) -> int:
    """Rows of one chunk of logits in Liger's fused linear cross-entropy: a chunk of logits about as large as
    the hidden states (the next power of two of tokens / ceil(vocab / hidden))."""
    rows = -(-tokens // -(-vocab // hidden))
    return 1 << max(rows - 1, 0).bit_length()


def _fused_linear_cross_entropy() -> Any:
    import torch

    class Fused(torch.autograd.Function):
        """Liger's fused linear cross-entropy in plain PyTorch: the logits one chunk at a time, each chunk's
        softmax turned in place into its gradient, the input's and the head's gradients made in the forward
        (the backward only scales them), so that the whole logits never exist."""

        @staticmethod
        def forward(ctx: Any, hidden: Any, weight: Any, target: Any) -> Any:
            tokens = hidden.shape[0]
            chunk = liger_chunk(tokens, hidden.shape[1], weight.shape[0])
            valid = target != IGNORE_INDEX
            count = valid.sum().clamp(min=1)
            grad_input = torch.zeros_like(hidden)
            grad_weight = torch.zeros_like(weight) if weight.requires_grad else None
            loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
            for start in range(0, tokens, chunk):
                end = start + chunk
                rows, wanted, kept = hidden[start:end], target[start:end], valid[start:end]
                logits = rows @ weight.t()
                picked = wanted.clamp(min=0)[:, None]
                lse = torch.logsumexp(logits, dim=-1, keepdim=True)
                loss = loss + ((lse - logits.gather(1, picked)).squeeze(1).float() * kept).sum()
                logits.sub_(lse).exp_()  # the softmax, in place
                logits.scatter_add_(1, picked, torch.full_like(picked, -1, dtype=logits.dtype))
                logits.mul_((kept[:, None] / count).to(logits.dtype))  # the mean's gradient
                grad_input[start:start + chunk] = logits @ weight
                if grad_weight is not None:
                    grad_weight.addmm_(logits.t(), rows)
            ctx.save_for_backward(grad_input, grad_weight)
            return loss / count

        @staticmethod
        def backward(ctx: Any, grad_output: Any) -> Any:
            grad_input, grad_weight = ctx.saved_tensors
            grad_input.mul_(grad_output)
            if grad_weight is not None:
                grad_weight.mul_(grad_output)
            return grad_input, grad_weight, None

    return Fused


class FusedLinearCrossEntropy:
    """``apply(hidden, weight, target)``: the mean token cross-entropy of ``hidden @ weight.T`` (see
    ``_fused_linear_cross_entropy``), built at each use (once a step) so that importing this module needs no torch."""

    @staticmethod
    def apply(hidden: Any, weight: Any, target: Any) -> Any:
        return _fused_linear_cross_entropy().apply(hidden, weight, target)


def attention_flops(query: tuple[int, ...], key: tuple[int, ...], value: tuple[int, ...]) -> int:
    """Scaled-dot-product attention's forward: scores (Q K^T) and output (scores V) as two batched matmuls, over
    the query's heads (grouped-query keys are shared, not fewer FLOPs), whole score matrices, as PyTorch counts its
    GPU kernels (transformers passes a causal step an explicit mask under gradient checkpointing, so the op
    cannot tell a causal step from another)."""
    b, heads, s_q, d_q = query
    s_k, d_v = key[-2], value[-1]
    return 2 * b * heads * s_q * s_k * d_q + 2 * b * heads * s_q * s_k * d_v


def count_cpu_attention() -> None:
    """PyTorch's FLOP counter knows its GPU attention kernels but not the CPU one it runs here (it counts 0):
    register the same count for it. The backward is five
    such matmuls (scores recomputed, then the gradients of V, of the scores, of Q and of K): 2.5 forwards."""
    import torch
    from torch.utils.flop_counter import flop_registry, register_flop_formula

    aten = torch.ops.aten
    forward, backward = aten._scaled_dot_product_flash_attention_for_cpu, \
        aten._scaled_dot_product_flash_attention_for_cpu_backward
    if forward in flop_registry:
        return

    @register_flop_formula(forward)
    def _forward(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return attention_flops(query, key, value)

    @register_flop_formula(backward)
    def _backward(grad_out: Any, query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None,
                  **kwargs: Any) -> int:
        return attention_flops(query, key, value) * 5 // 2


def op_tally() -> Any:
    """A dispatch mode that keeps every operation the step runs (views and other aliases left out: they move
    no data) as its FLOPs (PyTorch's formulas, as ``FlopCounterMode`` counts them) and the bytes it reads and
    writes: what a roofline of the step needs, per kernel."""
    from collections import Counter

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
    from torch.utils.flop_counter import flop_registry

    def nbytes(values: Any) -> int:
        return sum(v.numel() * v.element_size() for v in tree_flatten(values)[0] if isinstance(v, torch.Tensor))

    class OpTally(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: Counter[tuple[int, int]] = Counter()

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            returns = func._schema.returns
            if returns and all(r.alias_info is not None and not r.alias_info.is_write for r in returns):
                return out  # a view
            formula = flop_registry.get(func._overloadpacket)
            flops = int(formula(*args, **kwargs, out_val=out)) if formula else 0
            self.ops[(flops, nbytes((args, kwargs)) + nbytes(out))] += 1
            return out

        @property
        def flops(self) -> int:
            return sum(flops * count for (flops, _), count in self.ops.items())

        def kernels(self) -> list[list[int]]:
            return [[flops, size, count] for (flops, size), count in sorted(self.ops.items())]

    return OpTally()


def peak_tracker() -> Any:
    """MemTracker keeping only the overall peak (its per-module peaks cost operations x modules)."""
    from copy import deepcopy

    from torch.distributed._tools.mem_tracker import _TOTAL_KEY, MemTracker

    class PeakTracker(MemTracker):
        def _update_peak_stats(self, peak_state: Any) -> None:
            for dev, snap in self._curr_mem_snap.items():
                if self._peak_mem.get(dev, 0) < snap[_TOTAL_KEY]:
                    self._peak_mem[dev] = snap[_TOTAL_KEY]
                    self._peak_mem_snap[dev] = deepcopy(snap)

        def phase_peak(self) -> dict[str, int]:
            """The kinds at the peak since the last call (or the start), and a new phase from now."""
            found = next(iter(self._peak_mem_snap.values()))
            found = {str(kind).rsplit(".", 1)[-1]: int(value) for kind, value in found.items()}
            self._peak_mem = dict.fromkeys(self._peak_mem, 0)
            return found

    return PeakTracker()


@contextlib.contextmanager
def python_script_functions(model: Any) -> Any:
    """The model's TorchScript functions (DeBERTa's relative positions) run as the Python they were scripted
    from: the TorchScript interpreter mixes real constants into fake tensors."""
    import torch

    modules = {sys.modules[type(m).__module__] for m in model.modules()}
    scripted = [(module, name, value) for module in modules for name, value in vars(module).items()
                if isinstance(value, torch.jit.ScriptFunction) and hasattr(value, "_torchdynamo_inline")]
    for module, name, value in scripted:
        setattr(module, name, value._torchdynamo_inline)
    try:
        yield
    finally:
        for module, name, value in scripted:
            setattr(module, name, value)


@contextlib.contextmanager
def prompt_gc(threshold: int = 50) -> Any:
    """Collect cyclic garbage before the step and soon during it, so that no garbage of earlier work is freed
    (or kept) at a point that depends on what ran before."""
    previous = gc.get_threshold()
    gc.collect()
    gc.set_threshold(threshold, previous[1], previous[2])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


class _NoHook:
    def remove(self) -> None:
        pass


def frozen_without_hooks(tracker: Any, model: Any) -> None:
    """MemTracker hooks every parameter's gradient and torch refuses a hook on a frozen one (LoRA's base
    weights): mark those as already hooked so it skips them; they never get a gradient to track."""
    for param in model.parameters():
        if not param.requires_grad:
            tracker._param_to_grad_hook_handles[param] = (_NoHook(), _NoHook())


@contextlib.contextmanager
def transformers_errors_only() -> Iterator[None]:
    """transformers' own log at ERROR while the step runs: its deprecation notes about the model code it runs
    (``use_return_dict is deprecated``) say nothing about the user's recipe."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def run_step(config: Any, shape: Shape, fake: bool = True) -> Simulation:
    """Build and step the model (on fake tensors, or real CPU tensors to check the fake ones). A full model is
    built inside ``FakeTensorMode``; a LoRA model on the meta device first (peft), then given fake tensors. DPO's
    reference is a second, frozen copy (MemTracker follows one call per module; on a GPU the reference is the
    same weights with the adapters off, or ``ref_model``: memory.py counts weights, not this copy)."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    start = time.perf_counter()
    count_cpu_attention()
    torch.manual_seed(0)
    via_meta = fake and shape.method == "lora"
    with torch.device("meta") if via_meta else contextlib.nullcontext():
        model = prepared(config, shape) if via_meta else None
    with FakeTensorMode() if fake else contextlib.nullcontext():
        if via_meta:
            to_fake(model)
        else:
            model = prepared(config, shape)
        reference = None
        if shape.dpo:
            reference = build_model(config, None, next(model.parameters()).dtype,
                                    shape.attention).requires_grad_(False).eval()
        base = model.get_base_model() if shape.method == "lora" else model
        params = sum(p.numel() for name, p in base.named_parameters() if "lora_" not in name)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        tracker, counter = peak_tracker(), op_tally()
        for module in (model, reference):
            if module is not None:
                frozen_without_hooks(tracker, module)
                tracker.track_external(module)
        with python_script_functions(model), prompt_gc(), tracker, counter, warnings.catch_warnings(), \
                transformers_errors_only():
            # MemTracker's per-module backward snapshots skip a module no longer alive when its gradient hook
            # fires (encoders' pooler, dropped outputs) and warn; the overall peak used here does not depend on them
            warnings.filterwarnings("ignore", message="Module is None. Skipping")
            loss = forward(model, shape, config.vocab_size, reference)
            phases = {"forward": tracker.phase_peak()}
            with bottom_layer_phase(model, config, tracker, phases):
                loss.backward()
            phases["bottom" if "backward" in phases else "backward"] = tracker.phase_peak()
    if reference is not None:  # the copy's weights are not the run's: memory.py counts the reference's weights
        copy = sum(p.numel() * p.element_size() for p in reference.parameters())
        for kinds in phases.values():
            kinds["PARAM"] -= copy
            kinds["Total"] -= copy
    peak = max(phases.values(), key=lambda kinds: kinds["Total"])
    return Simulation(params, trainable, largest_layer(base), quantizable(base), dict(peak), counter.flops,
                      time.perf_counter() - start, counter.kernels(), phases)


@contextlib.contextmanager
def bottom_layer_phase(model: Any, config: Any, tracker: Any, phases: dict[str, dict[str, int]]) -> Any:
    """Close the backward's first phase (``phases["backward"]``) when the second layer's gradients are all in,
    so that the first layer's backward (every other layer's gradients alive) is a phase of its own; nothing when
    that layer has no trainable parameters."""
    import torch

    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)
              and len(m) == getattr(config, "num_hidden_layers", -1)]
    trainable = [p for p in stacks[0][1].parameters() if p.requires_grad] if stacks and len(stacks[0]) > 1 else []
    pending = {id(p) for p in trainable}

    def arrived(param: Any) -> None:
        pending.discard(id(param))
        if not pending and "backward" not in phases:
            phases["backward"] = tracker.phase_peak()

    handles = [p.register_post_accumulate_grad_hook(arrived) for p in trainable]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


REAL_STEP_LIMIT = 1_500_000_000  # parameters a real CPU step may hold (about 6 GB in fp32, 3 in bf16)


def real_fallback(config: Any, shape: Shape, error: Exception) -> Simulation:
    """The same step on real CPU tensors, for a small model whose code fake tensors cannot run."""
    import torch

    from recipekit.errors import InputError, exception_line

    with torch.device("meta"):
        params = sum(p.numel() for p in build_model(config, shape.head_labels, torch.bfloat16).parameters())
    if params > REAL_STEP_LIMIT:
        raise InputError(f"{config.model_type}: the fake step failed ({exception_line(error)[:120]}) "
                         f"and {params:,} parameters are too many for a real CPU step")
    return run_step(config, shape, fake=False)


def stacked(config: Any, shape: Shape) -> Simulation | None:
    """The step of a deep uniform stack from steps of a few of its layers (``recipekit.plan.stack``), or None
    where that would not be exact."""
    if not stackable(config):
        return None
    grad_bytes = 2 if shape.bf16 else 4
    samples: list[Simulation] = []
    for layers in SAMPLES:
        samples.append(run_step(with_layers(config, layers), shape))
        if len(samples) == 2 and not steepest(samples, grad_bytes):
            return None  # known after two: the third would be wasted
    return extrapolate(samples, config.num_hidden_layers, grad_bytes)


def simulate(config: Any, shape: Shape) -> Simulation:
    """``run_step`` on fake tensors, cached by architecture, shape and library versions."""
    path = cache_dir() / f"{cache_key(config, shape)}.json"
    if path.is_file():
        return Simulation(**json.loads(path.read_text(encoding="utf-8")))
    what = f"{shape.method}{' DPO' if shape.dpo else ''}, {shape.batch} x {shape.seq} tokens"
    print(f"plan: simulating one training step of {config.model_type} ({what}); cached after the first time",
          file=sys.stderr, flush=True)
    try:
        result = stacked(config, shape) or run_step(config, shape)
    except RuntimeError as exc:  # code fake tensors cannot run (data-dependent shapes, TorchScript)
        result = real_fallback(config, shape, exc)
    with contextlib.suppress(OSError):  # a read-only cache only costs time
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(result)), encoding="utf-8")
    return result
