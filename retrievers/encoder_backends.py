"""Faster CPU runtimes for sentence-transformers encoders: ONNX Runtime and OpenVINO, fp32 or int8.

Why not sentence-transformers' own ``backend="onnx"|"openvino"``: it goes through optimum-onnx /
optimum-intel, and no release of those accepts the transformers this project pins (optimum-onnx
needs transformers < 4.58, optimum-intel >= 2.0 < 5.6). So the transformer body is exported here
with ``torch.onnx`` and run with onnxruntime / openvino directly; tokenisation, pooling and
normalisation stay the loaded SentenceTransformer's own modules, so only the body's arithmetic
changes. int8: onnxruntime's dynamic quantisation (int8 weights, activations quantised per batch)
and NNCF's data-free int8 weight compression for OpenVINO; neither needs calibration data.

Exports are cached under ``<cache>/encoders/`` keyed by the model's identity, the backend and the
versions of the exporter and quantiser, written to a temporary folder and renamed into place, and
never into the model's own folder (which may be a read-only installed package).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any

from benchmarks.artifacts import canonical_json
from benchmarks.errors import ConfigError
from benchmarks.messages import did_you_mean, quote

BACKENDS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")
EXPORT_VERSION = "1"  # bump when the export or quantisation recipe changes
# backend -> (setup.cfg extra, importable modules it needs, distributions whose versions key the export)
_NEEDS = {
    "onnx": ("onnx", ("onnx", "onnxruntime"), ("torch", "onnx")),
    "onnx-int8": ("onnx", ("onnx", "onnxruntime"), ("torch", "onnx", "onnxruntime")),
    "openvino": ("openvino", ("onnx", "openvino"), ("torch", "onnx", "openvino")),
    "openvino-int8": ("openvino", ("onnx", "openvino", "nncf"), ("torch", "onnx", "openvino", "nncf")),
}
_PIP = {"onnx": "onnx onnxruntime", "openvino": "onnx openvino nncf"}


class BackendUnavailable(ConfigError):
    """A backend whose packages are not installed here."""


def check_backend(backend: str) -> None:
    """Unknown backend or missing packages: a ConfigError that says what to write or install."""
    if backend not in BACKENDS:
        hint = did_you_mean(backend, BACKENDS, n=1, show=repr, known=False)
        raise ConfigError(f"unknown encoder backend {quote(backend)}; valid: {', '.join(BACKENDS)}"
                          + (f" ({hint})" if hint else ""))
    if backend == "torch":
        return
    extra, modules, _ = _NEEDS[backend]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendUnavailable(
            f"encoder backend {quote(backend)} needs {', '.join(missing)}, not installed here: "
            f"pip install 'retrieval-harness[{extra}]' (or: pip install {_PIP[extra]})")


def fingerprint_fields(backend: str) -> dict[str, Any]:
    """What a backend adds to the embedding fingerprint: nothing for torch (existing keys stay)."""
    return {} if backend == "torch" else {"backend": backend, "backend_impl": EXPORT_VERSION}


def export_dir(cache_dir: Path, identity: dict[str, Any], backend: str) -> Path:
    """Where this model's export for ``backend`` lives; the key includes the tool versions, so an
    upgraded quantiser re-exports instead of reusing another release's int8 weights."""
    versions = {d: importlib.metadata.version(d) for d in _NEEDS[backend][2]}
    key = {**identity, "backend": backend, "export": EXPORT_VERSION, "versions": versions}
    digest = hashlib.sha256(canonical_json(key).encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(identity.get("model_id") or "model"))[-60:]
    return Path(cache_dir) / "encoders" / f"{stem}-{backend}-{digest}"


def _features(model: Any, texts: list[str]) -> dict[str, Any]:
    # sentence-transformers 6 renamed tokenize() to preprocess(); 5.x has only tokenize()
    return (model.preprocess if hasattr(model, "preprocess") else model.tokenize)(texts)


def _input_names(model: Any) -> list[str]:
    features = _features(model, ["a"])
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features]


def _export_onnx(model: Any, path: Path, names: list[str]) -> None:
    import torch

    body = model[0].auto_model

    class Body(torch.nn.Module):  # positional inputs in ``names`` order, one output
        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(self, *inputs: Any) -> Any:
            return self.body(**dict(zip(names, inputs)), return_dict=True).last_hidden_state

    example = _features(model, ["an example sentence", "a second, longer example sentence here"])
    args = tuple(example[n] for n in names)
    axes = {n: {0: "batch", 1: "seq"} for n in names}
    # The tracer warns that a few shape tests in transformers' masking code become constants; they
    # are constant for every input here (a mask is always passed, as long as the ids), and the
    # exported graph is checked against torch on ragged batches (tests/retrievers/test_encoder_backends.py).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Body().eval(), args, str(path), input_names=names, output_names=["hidden"],
                          dynamic_axes={**axes, "hidden": {0: "batch", 1: "seq"}}, opset_version=17,
                          dynamo=False)


def _build(model: Any, backend: str, folder: Path, names: list[str]) -> None:
    fp32 = folder / "model.onnx"
    _export_onnx(model, fp32, names)
    if backend == "onnx-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # MatMuls only, per output channel: quantising the embedding Gather too cost
        # far more accuracy (min cosine to fp32 0.90 on a probe) for little speed.
        quantize_dynamic(str(fp32), str(folder / "model_int8.onnx"), weight_type=QuantType.QInt8,
                         per_channel=True, op_types_to_quantize=["MatMul"])
        fp32.unlink()
    elif backend.startswith("openvino"):
        import openvino as ov

        ov_model = ov.convert_model(str(fp32))
        if backend == "openvino-int8":
            import nncf

            ov_model = nncf.compress_weights(ov_model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        ov.save_model(ov_model, str(folder / "model.xml"), compress_to_fp16=False)
        fp32.unlink()


def ensure_export(model: Any, backend: str, folder: Path) -> Path:
    """The export folder, built once (atomically: a killed export leaves only a temp folder)."""
    if not (folder / "done").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            _build(model, backend, tmp, _input_names(model))
            (tmp / "done").write_text(canonical_json({"inputs": _input_names(model)}) + "\n")
            if folder.exists():  # a concurrent export won; keep it
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return folder


def _session(backend: str, folder: Path) -> Any:
    """A callable feeds -> numpy hidden states, for the exported body."""
    if backend.startswith("onnx"):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        name = "model_int8.onnx" if backend == "onnx-int8" else "model.onnx"
        sess = ort.InferenceSession(str(folder / name), opts, providers=["CPUExecutionProvider"])
        return lambda feeds: sess.run(None, feeds)[0]
    import openvino as ov

    # f32 explicitly: on CPUs with bf16 units OpenVINO may otherwise pick bf16 on its own.
    compiled = ov.Core().compile_model(str(folder / "model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return lambda feeds: compiled(feeds)[0]


def accelerate(model: Any, backend: str, folder: Path) -> Any:
    """Swap the body of a loaded SentenceTransformer for the exported one; the tokenizer, pooling
    and normalisation modules stay as loaded. Returns the same model object."""
    import numpy as np
    import torch

    check_backend(backend)
    ensure_export(model, backend, folder)
    run = _session(backend, folder)
    names = _input_names(model)
    first = model[0]
    out_name = getattr(first, "module_output_name", "token_embeddings")

    def forward(self: Any, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        feeds = {n: features[n].cpu().numpy().astype(np.int64) for n in names}
        features[out_name] = torch.from_numpy(np.ascontiguousarray(run(feeds), dtype=np.float32))
        return features

    first.forward = types.MethodType(forward, first)
    return model
