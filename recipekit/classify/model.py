"""The model a classifier recipe trains: ``AutoModelForSequenceClassification`` (an encoder's or a decoder's),
in 4 bits when asked, with peft LoRA (``TaskType.SEQ_CLS``) or all weights trainable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recipekit.errors import InputError, exception_line
from recipekit.recipes.arguments import lora_targets
from recipekit.recipes.classifier import ClassifierArguments

HEAD_MODULES = ("classifier", "score")  # the head's name in encoder and decoder classifiers


def load_tokenizer(args: ClassifierArguments) -> Any:
    """The base model's tokenizer; a decoder without a pad token pads with its end-of-text token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise InputError("the tokenizer has neither a pad nor an end-of-text token", args.model_name_or_path)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def quantization_config(args: ClassifierArguments, compute_dtype: Any) -> Any:
    """bitsandbytes 4-bit settings, refused with one line where bitsandbytes or a CUDA GPU is missing."""
    import importlib.util

    import torch

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise InputError("quantization_bit 4 needs bitsandbytes and a CUDA GPU; drop it to train LoRA in full "
                         "precision", args.model_name_or_path)
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=args.quantization_type,
                              bnb_4bit_use_double_quant=args.double_quantization,
                              bnb_4bit_compute_dtype=compute_dtype)


def new_modules(missing_keys: list[str]) -> list[str]:
    """The modules a checkpoint did not hold (the head, DeBERTa's pooler): each parameter's parent module."""
    return sorted({key.rsplit(".", 1)[0] for key in missing_keys if "." in key})


@contextmanager
def whole_load() -> Iterator[None]:
    """Load every weight whole on each rank and let DeepSpeed partition them when training starts: under ZeRO-3,
    transformers 5.6's partitioned load (``zero.Init``) left some checkpoint weights as uninitialised memory (NaN
    or 1e37 values, one load in three on 2 CPU ranks). Costs one full copy of the model in host memory per rank."""
    from transformers.integrations import deepspeed as hf_deepspeed

    ref = hf_deepspeed._hf_deepspeed_config_weak_ref
    config = ref() if ref is not None else None
    if config is None or not config.is_zero3():
        yield
        return
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed.set_hf_deepspeed_config(config)


def with_lora(model: Any, args: ClassifierArguments, trained_new: list[str]) -> Any:
    """peft LoRA for sequence classification; the head and every module the checkpoint lacked are trained whole."""
    from peft import LoraConfig, TaskType, get_peft_model

    head = sorted(set(HEAD_MODULES) | set(trained_new))
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=args.lora_rank, lora_alpha=args.lora_alpha,
                        lora_dropout=args.lora_dropout, target_modules=lora_targets(model, args.lora_target, head),
                        modules_to_save=head)
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise InputError(f"lora_target {args.lora_target!r}: {exc}", args.model_name_or_path) from None


def load_model(args: ClassifierArguments, labels: list[str], tokenizer: Any, training: Any) -> Any:
    """The classifier, its head sized to ``labels`` (id2label kept in its config), ready to train."""
    import torch
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {}
    # pragma: no mutate start (a 4-bit load needs a GPU and bitsandbytes: the GPU check's QLoRA classifier runs it)
    if args.quantization_bit:
        dtype = torch.bfloat16 if training.bf16 else torch.float16 if training.fp16 else torch.float32
        kwargs["quantization_config"] = quantization_config(args, dtype)
        kwargs["dtype"] = dtype
    # pragma: no mutate end
    try:
        with whole_load():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                args.model_name_or_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={label: i for i, label in enumerate(labels)}, pad_token_id=tokenizer.pad_token_id,
                output_loading_info=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot load a sequence classifier: {exception_line(exc)}",
                         args.model_name_or_path) from None
    new = new_modules(info["missing_keys"])
    if args.adapter_name_or_path:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, args.adapter_name_or_path, is_trainable=training.do_train)
    if args.finetuning_type == "full":
        return model
    if args.quantization_bit:  # pragma: no mutate (a GPU's 4-bit model, as above)
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, training.gradient_checkpointing)  # pragma: no mutate
    elif training.gradient_checkpointing:
        model.enable_input_require_grads()
    return with_lora(model, args, new)


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, all) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
