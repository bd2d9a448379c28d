"""The training kit (benchmarks/training/): one loop (accumulation, step cap, loss-log shape), the
in-batch losses with extra negatives, and recipes. Hand-worked values on tiny tensors."""
import math

import pytest
import torch
import torch.nn.functional as F

from benchmarks.training.loop import LossLog, loss_log, total_steps, train_loop
from benchmarks.training.losses import in_batch_scores, info_nce, mnrl_loss, symmetric_infonce

pytestmark = pytest.mark.usefixtures("one_thread")


def ce(logits, target):
    return -logits[target] + math.log(sum(math.exp(v) for v in logits))


def test_extra_negatives_join_the_query_side_only():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    n = torch.tensor([[0.8, 0.6]])
    s = [[1.0, 0.6, 0.8], [0.0, 0.8, 0.6]]  # q · [p; n]
    rows = (ce(s[0], 0) + ce(s[1], 1)) / 2
    cols = (ce([1.0, 0.0], 0) + ce([0.6, 0.8], 1)) / 2  # passages score the 2 queries, not n
    got = symmetric_infonce(q, p, scale=1.0, negatives=n).item()
    assert got == pytest.approx((rows + cols) / 2, rel=1e-6)
    plain = symmetric_infonce(q, p, scale=1.0).item()
    assert plain == pytest.approx((ce(s[0][:2], 0) + ce(s[1][:2], 1)) / 4 + cols / 2, rel=1e-6)
    # a masked negative leaves the softmax: the same as no negative for that query
    drop = torch.tensor([[True], [True]])
    assert symmetric_infonce(q, p, 1.0, negatives=n, negatives_mask=drop).item() == pytest.approx(plain, rel=1e-6)


def test_mnrl_with_negatives_is_cosine_cross_entropy():
    q, p, n = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 3.0]]), torch.tensor([[1.0, 1.0]])
    got = mnrl_loss(q, p, scale=1.0, negatives=n).item()
    assert got == pytest.approx(ce([0.0, 2 ** -0.5], 0), rel=1e-6)


def test_in_batch_mask_and_negative_mask_combine():
    q = F.normalize(torch.randn(3, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    mask = torch.tensor([[False, True, False], [True, False, False], [False, False, False]])
    s = in_batch_scores(q, q, 2.0, mask, negatives=q[:1], negatives_mask=torch.tensor([[True], [False], [False]]))
    assert s.shape == (3, 4) and torch.isinf(s[0, 1]) and torch.isinf(s[0, 3]) and not torch.isinf(s[1, 3])
    assert info_nce(s, symmetric=False).item() == pytest.approx(F.cross_entropy(s, torch.arange(3)).item())


def test_steps_with_accumulation_and_a_cap():
    assert total_steps(7, 3, 2) == 6  # 3 micro-batches per epoch
    assert total_steps(7, 3, 2, grad_accum_steps=2) == 4  # 2 optimizer steps per epoch
    assert total_steps(7, 3, 2, grad_accum_steps=2, max_steps=3) == 3


def test_accumulated_micro_batches_give_the_full_batch_gradient():
    """Two micro-batches of a mean loss, accumulated, take the same step as one batch of both."""
    data = torch.tensor([[1.0], [2.0], [3.0], [4.0]])

    def run(batch, accum):
        w = torch.nn.Parameter(torch.tensor([0.5]))
        opt = torch.optim.SGD([w], lr=0.1)
        log = train_loop([w], lambda rows: {"total": ((data[rows] * w - 1) ** 2).mean(), "w": w.sum()},
                         n_rows=4, batch_size=batch, epochs=1, optimizer=opt, warmup_steps=0, max_grad_norm=None,
                         shuffle_generator=None, progress=False, desc="t", grad_accum_steps=accum)
        return w.item(), log

    # one step of lr 0.1 with the schedule's factor 1 at step 0: w -= 0.1 * mean(2 x (x w - 1))
    expected = 0.5 - 0.1 * sum(2 * x * (x * 0.5 - 1) for x in (1, 2, 3, 4)) / 4
    w_full, full = run(4, 1)
    w_acc, acc = run(2, 2)
    assert w_full == pytest.approx(expected) and w_acc == pytest.approx(expected)
    assert acc.steps == full.steps == 1
    assert acc.parts["total"][0] == pytest.approx(full.parts["total"][0])  # mean over micro-batches
    assert acc.summary()["grad_accum_steps"] == 2 and acc.summary()["micro_batch_size"] == 2


def test_one_loss_log_shape():
    log = LossLog(steps=2, parts={"total": [2.0, 1.0], "retriever": [1.5, 0.5]},
                  epochs={"total": [1.5], "retriever": [1.0]}, settings={"precision": "fp32"})
    got = log.summary()
    assert got["optimizer_steps"] == 2 and got["precision"] == "fp32"
    assert got["losses"]["total"] == {"first": 2.0, "final": 1.0, "epoch_means": [1.5], "curve_window_steps": 1,
                                      "curve": [2.0, 1.0]}
    flat = loss_log([3.0, 1.0, 2.0, 2.0], steps_per_epoch=2).summary()
    assert flat["losses"]["total"]["epoch_means"] == [2.0, 2.0] and flat["optimizer_steps"] == 4
    long = loss_log([float(i) for i in range(120)], steps_per_epoch=120).summary()["losses"]["total"]
    assert long["curve_window_steps"] == 3 and long["curve"][:2] == [1.0, 4.0] and len(long["curve"]) == 40


def test_a_bad_recipe_is_named_at_its_suite_line(tmp_path, monkeypatch):
    from benchmarks.errors import HarnessError
    from benchmarks.plan import plan
    from benchmarks.runner import RunOptions
    from tiny_training import write_tiny_suite

    name = write_tiny_suite(tmp_path, monkeypatch, ["{name: ok, use: contrastive, params: {recipe: full-fine-tune}}",
                                                    "{name: bad, use: contrastive, params: {recipe: dalm}}"])
    with pytest.raises(HarnessError) as caught:
        plan([name], RunOptions())
    text = str(caught.value)
    assert "trainsuite.yaml:10" in text and "params.recipe: unknown recipe 'dalm'" in text
    assert "row ok" not in text  # the good recipe row is not a problem


def test_whether_a_row_trains_comes_from_its_params(tmp_path, monkeypatch):
    """The planner asks each built row (trains()), so a dataset without train_split is a problem for
    LlamaIndex's adapter rows but not for an adapter evaluated from a given folder."""
    from benchmarks.errors import HarnessError
    from benchmarks.plan import plan
    from benchmarks.runner import RunOptions
    from retrievers import RETRIEVERS
    from tiny_training import write_tiny_suite

    assert RETRIEVERS.get("llamaindex")("li", {"adapter": True}).trains()
    assert not RETRIEVERS.get("llamaindex")("li", {}).trains()
    assert not RETRIEVERS.get("bge-adapter")("a", {"adapter_path": str(tmp_path)}).trains()
    rows = ["{name: given, use: bge-adapter, params: {adapter_path: " + str(tmp_path) + "}}",
            "{name: li, use: llamaindex, params: {adapter: true}}"]
    name = write_tiny_suite(tmp_path, monkeypatch, rows)
    suite = tmp_path / "suites" / f"{name}.yaml"
    suite.write_text(suite.read_text().replace(", train_split: all", ""))
    with pytest.raises(HarnessError, match=r"row\(s\) li train, but") as caught:
        plan([name], RunOptions())
    assert "given" not in str(caught.value)
