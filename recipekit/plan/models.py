"""The architecture a recipe trains: its ``config.json`` from a local folder, the Hugging Face cache, or the copy
shipped in the package under ``recipekit/plan/configs/<hub id>/`` (architecture numbers only, no weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipekit.errors import InputError

SHIPPED = Path(__file__).resolve().parent / "configs"
OUTPUT_LAYERS = ("lm_head", "score", "classifier")  # a causal LM's, a decoder classifier's, an encoder's head


def config_path(model: str) -> Path:
    """Where ``model``'s config.json is: the folder itself, the hub cache, or the shipped copy."""
    local = Path(model)
    if (local / "config.json").is_file():
        return local / "config.json"
    if not local.exists() and model.count("/") == 1:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "config.json")
            if isinstance(cached, str):
                return Path(cached)
        except Exception:  # a malformed id or cache: fall through to the shipped copy
            pass
    if local.is_dir():
        raise InputError(f"no config.json in the local folder {model!r}")
    shipped = SHIPPED / model / "config.json"
    if shipped.is_file():  # an absolute path joins as itself, whose config.json was looked for first
        return shipped
    if local.is_absolute() or model.startswith(("./", "../", "~")) or model.count("/") > 1:
        raise InputError(f"no config.json for {model!r}: no such local folder")
    raise InputError(f"no config.json for {model!r}: not a local folder, not in the Hugging Face cache, and not "
                     f"shipped as recipekit/plan/configs/{model}/config.json")


def load_config(model: str) -> Any:
    """The transformers config of ``model`` (no weights read)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(config_path(model).parent))


def build_model(config: Any, head_labels: int | None, dtype: Any, attention: str = "sdpa") -> Any:
    """The model class a run builds: a causal LM, or a sequence classifier with ``head_labels`` outputs, with
    ``attention`` "eager" (each layer's score matrices held) or transformers' default (sdpa where the model has
    it, which holds none). The caller's config is left as it was (transformers writes the attention into it)."""
    import copy

    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config = copy.deepcopy(config)
    chosen = {"attn_implementation": "eager"} if attention == "eager" else {}
    if head_labels:
        config.num_labels = head_labels
        if getattr(config, "pad_token_id", None) is None:
            config.pad_token_id = 0
        return AutoModelForSequenceClassification.from_config(config, dtype=dtype, **chosen)
    architectures = getattr(config, "architectures", None)
    if architectures and not set(architectures) & set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()):
        raise InputError(f"{config.model_type} is not a causal LM: plan it with a classifier recipe")
    return AutoModelForCausalLM.from_config(config, dtype=dtype, **chosen)


def is_encoder(config: Any) -> bool:
    """An encoder (BERT, DeBERTa): transformers has a masked-LM head for its architecture."""
    from transformers import MODEL_FOR_MASKED_LM_MAPPING

    return type(config) in MODEL_FOR_MASKED_LM_MAPPING


def largest_layer(model: Any) -> int:
    """The most parameters one module holds itself (DeepSpeed's ``model_to_params`` rule)."""
    return max((sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules()), default=0)


def quantizable(model: Any) -> int:
    """Parameters of the linear layers bitsandbytes quantises (every ``nn.Linear`` but the output head)."""
    import torch

    return sum(m.weight.numel() for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] not in OUTPUT_LAYERS)
