"""Label log-likelihoods from a causal LM: one pass over the prompt, then every label's tokens from its cache.

The label tokens are the answer exactly as LLaMA-Factory's template encodes it for training (so a model
fine-tuned on ``"3: Business"`` is asked for the very tokens it learned). The template's end-of-answer
tokens (``<|eot_id|>``, ``<|im_end|>``, eos) are scored only when needed to tell labels apart: when one
label's tokens are a prefix of another's ("auto"), or always/never on request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recipekit.errors import InputError

END_TOKEN_MODES = ("auto", "always", "never")


@dataclass(frozen=True)
class Candidates:
    """The labels and the token ids scored for each (label tokens, plus the end tokens if ``with_end``)."""

    labels: list[str]
    token_ids: list[list[int]]
    end_ids: list[int]
    with_end: bool


def check_model_path(model: str, flag: str = "--model") -> None:
    """Before any loading: ``model`` must be a local folder, or a hub id (``ORG/NAME``) that the hub or the local
    Hugging Face cache can answer; else one InputError naming the path (transformers would say only OSError)."""
    from pathlib import Path

    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    from recipekit.data.readers import hub_reachable

    local = Path(model).expanduser()
    if local.is_dir():
        return
    if local.exists():
        raise InputError(f"{flag} {model}: a file, not a model folder")
    try:
        validate_repo_id(model)
    except HFValidationError:
        raise InputError(f"{flag} {model}: neither a local folder (no such folder) nor a hub id (ORG/NAME)") from None
    if not isinstance(try_to_load_from_cache(model, "config.json"), str) and not hub_reachable():
        raise InputError(f"{flag} {model}: neither a local folder (no such folder) nor a reachable hub id (the hub "
                         "does not answer and the Hugging Face cache has no copy)")


def answer_ids(template: Any, tokenizer: Any, content: str) -> list[int]:
    """Token ids of ``content`` as the assistant's answer, as LLaMA-Factory's template encodes it for SFT."""
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": content}]
    _, response = template.encode_oneturn(tokenizer, messages)
    return list(response) + ([tokenizer.eos_token_id] if template.efficient_eos else [])


def _common_suffix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _prefix_clash(sequences: list[list[int]]) -> bool:
    """True when one sequence equals or starts another (then the end tokens are needed)."""
    return any(i != j and b[: len(a)] == a for i, a in enumerate(sequences) for j, b in enumerate(sequences))


def label_candidates(template: Any, tokenizer: Any, labels: list[str], end_tokens: str = "auto") -> Candidates:
    """Token ids to score for each label; InputError when two labels cannot be told apart."""
    if end_tokens not in END_TOKEN_MODES:
        raise InputError(f"end tokens must be one of {END_TOKEN_MODES}, got {end_tokens!r}")
    full = [answer_ids(template, tokenizer, label) for label in labels]
    empty = answer_ids(template, tokenizer, "")
    # the end tokens: what the empty answer and every label's answer end with, each label keeping a token of its own
    # (a label's text may merge with what the template writes before it, never with these)
    cut = min(min(_common_suffix(empty, ids), len(ids) - 1) for ids in full)
    end = empty[len(empty) - cut:]
    bodies = [ids[: len(ids) - cut] for ids in full]
    with_end = end_tokens == "always" or (end_tokens == "auto" and _prefix_clash(bodies))
    chosen = full if with_end else bodies
    for i, ids in enumerate(chosen):
        for j in range(i):
            if chosen[j] == ids:
                raise InputError(f"labels {labels[j]!r} and {labels[i]!r} encode to the same tokens {ids}")
    if not with_end and _prefix_clash(chosen):
        raise InputError("with --end-tokens never, a label's tokens start another label's; use auto or always")
    return Candidates(list(labels), chosen, end, with_end)


def _left_padded(prompts: list[list[int]], pad_id: int, device: Any) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device)


def common_prefix(candidates: list[list[int]]) -> int:
    """How many leading tokens all candidates share, leaving each at least one token of its own."""
    n = 0
    while n < min(len(c) for c in candidates) - 1 and all(c[n] == candidates[0][n] for c in candidates):
        n += 1
    return n


def score_batch(model: Any, prompts: list[list[int]], candidates: list[list[int]], pad_id: int) -> np.ndarray:
    """Summed log-probabilities ``[len(prompts), len(candidates)]`` of each candidate after each prompt.

    Tokens every candidate starts with (a template's empty thought, say) join the prompts. One forward
    pass over the left-padded prompts then gives those shared tokens and every candidate's next token;
    the remaining tokens of the multi-token candidates run in one more pass over (prompt, candidate)
    pairs that reuse the prompts' key/value cache, repeated once per candidate.
    """
    import torch

    device = next(model.parameters()).device
    shared = common_prefix(candidates)
    if shared:
        prompts = [prompt + candidates[0][:shared] for prompt in prompts]
        candidates = [cand[shared:] for cand in candidates]
    ids, mask, positions = _left_padded(prompts, pad_id, device)
    longer = [k for k, cand in enumerate(candidates) if len(cand) > 1]
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=bool(longer),
                    logits_to_keep=shared + 1)  # only the positions scored: the head over every position is waste
        logp = out.logits.float().log_softmax(-1)
        first = torch.tensor([cand[0] for cand in candidates], device=device)
        scores = logp[:, -1, :].index_select(1, first).double()
        if shared:
            targets = ids[:, -shared:]  # the shared tokens, each predicted from the position before it
            scores += logp[:, :-1, :].gather(-1, targets[..., None]).squeeze(-1).sum(-1, keepdim=True).double()
        if longer:
            batch, k = len(prompts), len(longer)
            steps = max(len(candidates[c]) for c in longer) - 1
            inputs = torch.full((k, steps), pad_id, dtype=torch.long)
            targets = torch.zeros((k, steps), dtype=torch.long)
            cont_mask = torch.zeros((k, steps), dtype=torch.long)
            for row, c in enumerate(longer):
                tokens = candidates[c]
                inputs[row, : len(tokens) - 1] = torch.tensor(tokens[:-1])
                targets[row, : len(tokens) - 1] = torch.tensor(tokens[1:])
                cont_mask[row, : len(tokens) - 1] = 1
            cache = out.past_key_values
            cache.batch_repeat_interleave(k)
            lengths = mask.sum(-1).repeat_interleave(k)
            cont_positions = lengths[:, None] + torch.arange(steps, device=device)[None, :]
            attention = torch.cat([mask.repeat_interleave(k, 0), cont_mask.to(device).repeat(batch, 1)], dim=1)
            logits = model(input_ids=inputs.to(device).repeat(batch, 1), attention_mask=attention,
                           position_ids=cont_positions, past_key_values=cache).logits
            token_logp = logits.float().log_softmax(-1).gather(-1, targets.to(device).repeat(batch, 1)[..., None])
            rest = (token_logp.squeeze(-1) * cont_mask.to(device).repeat(batch, 1)).sum(-1).view(batch, k).double()
            scores[:, longer] += rest
    return scores.cpu().numpy()


def score_prompts(model: Any, prompts: list[list[int]], candidates: list[list[int]], pad_id: int,
                  batch_size: int, progress: bool) -> np.ndarray:
    """``score_batch`` over all prompts, longest first in batches of ``batch_size``, in input order."""
    from tqdm import tqdm

    order = sorted(range(len(prompts)), key=lambda i: (-len(prompts[i]), i))
    scores = np.zeros((len(prompts), len(candidates)))
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="scoring labels", unit="batch", disable=not progress):
        chunk = order[start:start + batch_size]
        scores[chunk] = score_batch(model, [prompts[i] for i in chunk], candidates, pad_id)
    return scores


def normalise(logprobs: np.ndarray) -> np.ndarray:
    """Label probabilities: a softmax over each row's summed log-probabilities."""
    from scipy.special import softmax

    return softmax(logprobs, axis=-1)
