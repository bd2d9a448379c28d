"""bge-adapter: loss, optimiser step, adapters and their files, determinism, suite-level caching."""
import math
import pickle

import numpy as np
import pytest
import torch

from retrievers.adapter.models import LinearLayer, TwoLayerNN, apply_adapter, load_adapter, save_adapter
from benchmarks.training.losses import mnrl_loss
from retrievers.adapter.retriever import AdapterParams, train_adapter
from tiny_training import run_suite, suite_records, write_tiny_suite  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


def test_mnrl_loss_hand_worked():
    # cos(q_i, p_j): q0 = (2, 0) -> [1, 0]; q1 = (3, 3) -> [1/sqrt2, 1/sqrt2]. Scale 2:
    # row 0 logits [2, 0] -> log(1 + e^-2); row 1 logits [sqrt2, sqrt2] -> log 2.
    q = torch.tensor([[2.0, 0.0], [3.0, 3.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = (math.log(1 + math.exp(-2)) + math.log(2)) / 2
    assert mnrl_loss(q, p, scale=2.0).item() == pytest.approx(expected, rel=1e-6)
    # query -> passage only: swapping roles gives a different value (LlamaIndex is not symmetric)
    assert mnrl_loss(p, q, scale=2.0).item() != pytest.approx(expected, rel=1e-3)


def test_mask_removes_in_batch_copies_of_the_positive():
    # rows 0 and 1 share a passage, so p1 is no negative for q0 and p0 none for q1. Scale 1:
    # row 0 logits [1, -inf, 0] -> log(1 + e^-1); row 1 [-inf, 0.8, 0.6] -> log(1 + e^-0.2);
    # row 2 [0, 0, 1] -> log((2 + e) / e)
    q = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    mask = torch.tensor([[False, True, False], [True, False, False], [False, False, False]])
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-0.2)) + math.log((2 + math.e) / math.e)) / 3
    assert mnrl_loss(q, p, scale=1.0, mask=mask).item() == pytest.approx(expected, rel=1e-6)
    unmasked = mnrl_loss(q, p, scale=1.0).item()
    assert unmasked > expected  # the copy counted as a negative


def test_first_step_is_adamw_with_lr_and_decay():
    # No warmup, one step: Adam's first update is lr * g / (|g| + eps) = lr * sign(g), and AdamW
    # first shrinks W by (1 - lr * wd). With lr 1e-2 and wd 0.5 the identity diagonal becomes
    # 1 - 0.005 - 0.01 * sign(g_ii).
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(4, 3), dim=1)
    p = torch.nn.functional.normalize(torch.randn(4, 3), dim=1)
    params = AdapterParams(epochs=1, train_batch_size=4, lr=1e-2, weight_decay=0.5, warmup_ratio=0.0)
    w = torch.eye(3, requires_grad=True)
    mnrl_loss(q @ w.T, p).backward()
    expected = torch.eye(3) * (1 - 1e-2 * 0.5) - 1e-2 * torch.sign(w.grad)
    model, log = train_adapter(q, p, ["a", "b", "c", "d"], params, seed=0)
    assert log.steps == 1
    assert torch.allclose(model.linear.weight, expected, atol=1e-6)


def test_a_step_inside_warmup_has_learning_rate_zero():
    # warmup = int(ratio * steps); LlamaIndex's 0.1 gives its first step lr 0 once there are >= 10
    # steps. One step with ratio 1.0 is such a step: AdamW then changes nothing, decay included.
    q = torch.nn.functional.normalize(torch.randn(10, 3), dim=1)
    params = AdapterParams(epochs=1, train_batch_size=10, warmup_ratio=1.0, lr=0.1)
    model, log = train_adapter(q, q.flip(0), list("abcdefghij"), params, seed=0)
    assert log.steps == 1 and log.parts["total"][0] > 0
    assert torch.equal(model.linear.weight, torch.eye(3))
    moved, _ = train_adapter(q, q.flip(0), list("abcdefghij"), params.model_copy(update={"warmup_ratio": 0.0}), 0)
    assert not torch.equal(moved.linear.weight, torch.eye(3))


def test_identity_init_and_residual_start_reproduce_the_input():
    x = torch.randn(5, 4)
    assert torch.equal(LinearLayer(4, 4, bias=True)(x), x)
    two = TwoLayerNN(4, 8, 4, add_residual=True)
    assert torch.equal(two(x), x)  # alpha starts at 0: 0 * mlp(x) + x
    assert set(two.state_dict()) == {"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                                     "residual_weight"}


@pytest.mark.parametrize("model", [LinearLayer(3, 3, bias=True), TwoLayerNN(3, 5, 3, activation_fn_str="tanh")])
def test_save_load_roundtrip_in_llamaindex_format(tmp_path, model):
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param))
    save_adapter(model, tmp_path / "a")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["config.json", "pytorch_model.bin"]
    loaded = load_adapter(tmp_path / "a")
    assert type(loaded) is type(model)
    x = torch.randn(2, 3)
    assert torch.equal(loaded(x), model(x))


class Payload:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_loading_refuses_pickled_objects(tmp_path):
    save_adapter(LinearLayer(2, 2), tmp_path)
    torch.save({"linear.weight": torch.eye(2), "x": Payload()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(pickle.UnpicklingError):
        load_adapter(tmp_path)


def test_apply_adapter_renormalises_only_when_asked():
    layer = LinearLayer(2, 2)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 2.0]]))
    v = np.array([[0.6, 0.8]], np.float32)
    assert np.allclose(apply_adapter(layer, v, normalize=False), [[1.2, 1.6]])
    assert np.allclose(apply_adapter(layer, v, normalize=True), [[0.6, 0.8]])


def test_training_is_deterministic_and_seed_matters_when_shuffling():
    torch.manual_seed(1)
    q = torch.nn.functional.normalize(torch.randn(40, 8), dim=1)
    p = torch.nn.functional.normalize(q + 0.3 * torch.randn(40, 8), dim=1)
    groups = [str(i // 2) for i in range(40)]
    for params in (AdapterParams(epochs=3, bias=True, lr=1e-2),
                   AdapterParams(adapter="two_layer", hidden_features=16, add_residual=True, epochs=2, shuffle=True)):
        a, log_a = train_adapter(q, p, groups, params, seed=7)
        b, log_b = train_adapter(q, p, groups, params, seed=7)
        assert log_a.parts["total"] == log_b.parts["total"]
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    c, _ = train_adapter(q, p, groups, params, seed=8)  # shuffled two-layer: new init and order
    assert not torch.equal(c.linear1.weight, a.linear1.weight)


def test_decay_to_identity_pulls_w_toward_i_not_zero():
    # AdamW shrinks W by (1 - lr_t * wd) per step, lr_t = 0.01 * (1, .8, .6, .4, .2) (linear decay),
    # wd = 50: the product is .5 * .6 * .7 * .8 * .9 = 0.1512. Adam's own moves add at most
    # sum(lr_t) = 0.03. Decaying W - I instead leaves the diagonal within 0.03 of 1.
    q = torch.nn.functional.normalize(torch.randn(6, 3), dim=1)
    plain = AdapterParams(epochs=5, train_batch_size=6, lr=0.01, weight_decay=50.0, warmup_ratio=0.0)
    a, _ = train_adapter(q, q, list("abcdef"), plain, seed=0)
    b, _ = train_adapter(q, q, list("abcdef"), plain.model_copy(update={"decay_to_identity": True}), seed=0)
    assert (a.linear.weight.diagonal() - 0.1512).abs().max() < 0.031
    assert (b.linear.weight.diagonal() - 1).abs().max() < 0.031
    with pytest.raises(ValueError):
        AdapterParams(adapter="two_layer", decay_to_identity=True)


def test_suite_identity_adapter_matches_base_and_reruns_are_cached(tmp_path, monkeypatch):
    rows = ["{name: base, use: bge, params: {model: minilm-l6}}",
            "{name: ident, use: bge-adapter, params: {model: minilm-l6, epochs: 0}}",
            "{name: adapter, use: bge-adapter, params: {model: minilm-l6, epochs: 2, lr: 0.001}}"]
    name, first = suite_records(tmp_path, monkeypatch, rows)
    assert first["ident"]["metrics"] == first["base"]["metrics"]  # identity init = base model
    train = first["adapter"]["training"]
    assert train["reused"] is False and train["optimizer_steps"] == 4
    assert len(train["losses"]["total"]["epoch_means"]) == 2
    assert {"data_sha256", "hyper", "seed", "artifact_sha256", "losses", "wall_s"} <= set(train)
    assert first["adapter"]["retriever"]["artifacts"]["adapter"] == train["artifact_sha256"]

    code, second = run_suite(tmp_path, name, "r2", "--retriever", "adapter")
    again = second["adapter"]["training"]
    assert again["reused"] is True and again["artifact_sha256"] == train["artifact_sha256"]
    assert second["adapter"]["metrics"] == first["adapter"]["metrics"]

    code, third = run_suite(tmp_path, name, "r3", "--retriever", "adapter", "--retrain")
    forced = third["adapter"]["training"]
    assert forced["reused"] is False and forced["artifact_sha256"] == train["artifact_sha256"]  # deterministic
    assert third["adapter"]["metrics"] == first["adapter"]["metrics"]
