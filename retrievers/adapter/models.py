"""Query adapters on frozen embeddings, in LlamaIndex's adapter folder format.

Same modules, parameter names and initialisation as ``llama_index.embeddings.adapter.utils``:

- ``LinearLayer(in, out, bias)``: ``linear`` = nn.Linear, weight initialised to the identity
  (only meaningful when square), bias to zeros. State dict: ``linear.weight`` [+ ``linear.bias``].
- ``TwoLayerNN(in, hidden, out, bias, activation_fn_str, add_residual)``: Linear(in->hidden,
  bias=True) -> activation -> Linear(hidden->out, bias=True), default PyTorch init; with
  ``add_residual`` the output is ``residual_weight * mlp(x) + x`` with a scalar initialised to 0.
  ``bias`` is accepted and ignored, as in LlamaIndex. ``residual_weight`` is always a parameter
  (also without residual), so state dicts match LlamaIndex's key for key.

Folder format: ``config.json`` (the constructor's keyword arguments) + ``pytorch_model.bin``
(``torch.save`` of the state dict). A folder written here loads with LlamaIndex's
``LinearLayer.load`` / ``AdapterEmbeddingModel`` and the other way round. Loading never
unpickles arbitrary objects: ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CONFIG = "config.json"
WEIGHTS = "pytorch_model.bin"

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "leaky_relu": F.leaky_relu,
}


class LinearLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features, self.bias = in_features, out_features, bias
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        with torch.no_grad():  # identity start: the untrained adapter is the base model
            self.linear.weight.copy_(torch.eye(out_features, in_features))
            if bias:
                self.linear.bias.zero_()

    def forward(self, embed: Tensor) -> Tensor:
        return self.linear(embed)

    def get_config_dict(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features, "bias": self.bias}


class TwoLayerNN(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, out_features: int, bias: bool = False,
                 activation_fn_str: str = "relu", add_residual: bool = False) -> None:
        super().__init__()
        if activation_fn_str not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation_fn_str!r}; known: {', '.join(ACTIVATIONS)}")
        self.in_features, self.hidden_features, self.out_features = in_features, hidden_features, out_features
        self.bias, self.activation_fn_str, self.add_residual = bias, activation_fn_str, add_residual
        self.linear1 = nn.Linear(in_features, hidden_features, bias=True)
        self.linear2 = nn.Linear(hidden_features, out_features, bias=True)
        self.residual_weight = nn.Parameter(torch.zeros(1))

    def forward(self, embed: Tensor) -> Tensor:
        out = self.linear2(ACTIVATIONS[self.activation_fn_str](self.linear1(embed)))
        if self.add_residual:
            out = self.residual_weight * out + embed
        return out

    def get_config_dict(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "hidden_features": self.hidden_features,
                "out_features": self.out_features, "bias": self.bias,
                "activation_fn_str": self.activation_fn_str, "add_residual": self.add_residual}


Adapter = LinearLayer | TwoLayerNN


def build_adapter(dim: int, kind: str = "linear", bias: bool = False, hidden_features: int | None = None,
                  activation: str = "relu", add_residual: bool = False) -> Adapter:
    if kind == "linear":
        return LinearLayer(dim, dim, bias=bias)
    if kind == "two_layer":
        return TwoLayerNN(dim, hidden_features or dim, dim, bias=bias, activation_fn_str=activation,
                          add_residual=add_residual)
    raise ValueError(f"unknown adapter kind {kind!r}: linear | two_layer")


def save_adapter(model: Adapter, folder: Path | str) -> None:
    """Write LlamaIndex's folder format: config.json + pytorch_model.bin (state dict only)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG).write_text(json.dumps(model.get_config_dict()), encoding="utf-8")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, folder / WEIGHTS)


def load_adapter(folder: Path | str) -> Adapter:
    """Load a folder written by us or by LlamaIndex; the class follows from config.json's keys."""
    folder = Path(folder)
    config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    cls: type[Adapter] = TwoLayerNN if "hidden_features" in config else LinearLayer
    allowed = set(cls.__init__.__code__.co_varnames[1:cls.__init__.__code__.co_argcount])
    unknown = set(config) - allowed
    if unknown:
        raise ValueError(f"{folder / CONFIG}: unknown adapter config keys {sorted(unknown)}")
    model = cls(**config)
    state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


@torch.no_grad()
def apply_adapter(model: Adapter, vectors: Any, normalize: bool = True) -> Any:
    """Transform query vectors (numpy float32 [n, d]); optionally L2-renormalise.

    LlamaIndex does not renormalise but ranks by cosine; the harness ranks by inner product
    over unit passages, so renormalising the query gives the same ranking as cosine.
    """
    import numpy as np

    out = model(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)))
    if normalize:
        out = F.normalize(out, p=2, dim=-1)
    return out.numpy().astype(np.float32, copy=False)
