"""Causal generator LMs for e2e training: offline aliases, identity, loading and LoRA targets.

Names resolve in ``benchmarks.llm.models`` (the offline alias ``smollm2-135m``, a local folder
or a hub id, as for question generation); this module loads the result with
``AutoModelForCausalLM`` for training and adds LoRA.

LoRA targets follow DALM (q_proj/v_proj) where an architecture has them; GPT-2 style models
fuse q/k/v in a Conv1D ``c_attn`` whose weight is stored transposed (fan_in_fan_out=True).
Unknown architectures fall back to peft's own table.
"""
from __future__ import annotations

from typing import Any

from benchmarks.errors import ConfigError
from benchmarks.llm.models import SMOLLM2_ALIASES, ResolvedGenerator

# model_type -> (target modules, fan_in_fan_out). q_proj/v_proj is DALM's choice for Llama.
LORA_TARGETS: dict[str, tuple[list[str], bool]] = {
    **{t: (["q_proj", "v_proj"], False) for t in (
        "llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi", "phi3_small",
        "opt", "gptj", "gpt_neo", "stablelm", "olmo", "olmo2", "granite", "smollm3")},
    "phi3": (["qkv_proj"], False),  # fused q/k/v as a plain Linear
    "gpt2": (["c_attn"], True),  # Conv1D: weight is (in, out)
    "gpt_bigcode": (["c_attn"], False),  # a plain Linear despite the GPT-2 name
    "gpt_neox": (["query_key_value"], False),
    "falcon": (["query_key_value"], False),
    "bloom": (["query_key_value"], False),
    "mpt": (["Wqkv"], False),
}


def load_tokenizer(resolved: ResolvedGenerator) -> Any:
    """The generator's tokenizer, pad = eos as DALM sets it (e2e-equivalent needs only this)."""
    import transformers
    from transformers import AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.load_path)
    except OSError as exc:
        raise _unloadable(resolved, exc) from exc
    if tokenizer.eos_token_id is None:
        raise ConfigError(f"generator {resolved.name!r}: its tokenizer has no EOS token to end answers with")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _unloadable(resolved: ResolvedGenerator, exc: OSError) -> RuntimeError:
    return RuntimeError(f"cannot load generator {resolved.name!r}: not an alias ({', '.join(SMOLLM2_ALIASES)}), "
                        f"not a local folder, and not downloadable or cached here ({str(exc).splitlines()[0]})")


def load_generator(resolved: ResolvedGenerator, device: str, dtype: str = "float32") -> tuple[Any, Any]:
    """(model in ``dtype`` on ``device``, tokenizer with pad = eos as DALM sets it)."""
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(resolved)
    try:
        model = AutoModelForCausalLM.from_pretrained(resolved.load_path, dtype=dtype)
    except OSError as exc:
        raise _unloadable(resolved, exc) from exc
    return model.to(device), tokenizer


def lora_targets(model_type: str) -> tuple[list[str], bool]:
    """(target modules, fan_in_fan_out) for an architecture's ``config.model_type``."""
    if model_type in LORA_TARGETS:
        targets, fan = LORA_TARGETS[model_type]
        return list(targets), fan
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TABLE

    if isinstance(PEFT_TABLE.get(model_type), list):
        return list(PEFT_TABLE[model_type]), False
    raise ConfigError(f"no known LoRA targets for generator architecture {model_type!r}: set "
                      f"generator_lora_targets (module names) or generator_lora: false")


def add_generator_lora(model: Any, r: int, alpha: int, dropout: float, targets: list[str] | None) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    if targets:
        # GPT-2's attention and MLP layers are all Conv1D: user-named targets need fan_in_fan_out too.
        fan = LORA_TARGETS.get(model.config.model_type, ([], False))[1]
    else:
        targets, fan = lora_targets(model.config.model_type)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none", target_modules=targets,
                        fan_in_fan_out=fan, task_type=TaskType.CAUSAL_LM)
    return get_peft_model(model, config)
