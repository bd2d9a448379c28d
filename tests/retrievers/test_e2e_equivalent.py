"""e2e-equivalent trains the retriever as e2e does, without the generator: same seed, rows,
batches, schedule and optimizer give the same retriever weights, unless one of the two named
couplings (a clip over both models, the random stream under retriever dropout) is switched on."""
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from benchmarks.context import RunContext
from tiny_training import QUESTIONS, TOPICS, tiny_e2e_models, tiny_split

pytestmark = pytest.mark.usefixtures("one_thread")

# Answers of different lengths, so the answer weights A_i / sum m differ between rows.
ANSWERS = {pid: " ".join(TOPICS[pid].split()[:2 + 2 * k]) for k, pid in enumerate(QUESTIONS)}


def qa():
    split = tiny_split()
    return replace(split, answers={q: ANSWERS[next(iter(r))] for q, r in split.qrels.items()})


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return {d: tiny_e2e_models(tmp_path_factory.mktemp(f"models-{d}"), dropout=d) for d in (0.0, 0.1)}


def trained(kind, models, tmp_path, dropout=0.0, **extra):
    from safetensors.torch import load_file

    from retrievers import RETRIEVERS

    st, llama = models[dropout]
    params = {"model": st, "generator": llama, "answers": "split", "max_train_examples": None, "train_batch_size": 4,
              "epochs": 2, "query_max_len": 16, "passage_max_len": 32, "generator_max_len": 40, "lr": 5e-3,
              "warmup_steps": 1, "lora": False, **extra}
    ctx = RunContext(cache_dir=tmp_path / kind, device="cpu", progress=False, seed=3)
    info = RETRIEVERS.get(kind)(kind, params).fit(qa(), ctx)
    return load_file(str(Path(info["artifact_path"]) / "retriever" / "model.safetensors")), info


def same(a, b):
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6, rtol=1e-5) for k in a)


def test_same_retriever_weights_as_e2e(models, tmp_path):
    e2e, e2e_info = trained("e2e", models, tmp_path)  # generator LoRA with dropout 0.05: it draws randoms
    eq, eq_info = trained("e2e-equivalent", models, tmp_path)
    assert eq_info["optimizer_steps"] == e2e_info["optimizer_steps"] == 6
    assert same(e2e, eq)
    assert eq_info["losses"]["retriever"]["curve"] == pytest.approx(e2e_info["losses"]["retriever"]["curve"], abs=1e-5)
    # ... and the answer-weighted term matters: without it (e2e's "independent") the retriever differs
    plain, _ = trained("e2e", models, tmp_path / "independent", loss="independent")
    assert not same(plain, eq)


def test_same_with_lora_and_dalm_text(models, tmp_path):
    dalm = {"lora": True, "lora_dropout": 0.0, "faithful_double_prefix": True, "faithful_answer_start": True,
            "lm_loss_on_prompt": True, "generator_truncation": "right", "mask_same_passage": False,
            "grad_accum_steps": 2}
    e2e, _ = trained("e2e", models, tmp_path, **dalm)
    eq, _ = trained("e2e-equivalent", models, tmp_path, **dalm)
    assert same(e2e, eq)


def test_a_clip_over_both_models_couples_them(models, tmp_path):
    e2e, _ = trained("e2e", models, tmp_path, max_grad_norm=0.05)
    eq, _ = trained("e2e-equivalent", models, tmp_path, max_grad_norm=0.05)
    assert not same(e2e, eq)


def test_retriever_dropout_couples_them_through_the_random_stream(models, tmp_path):
    # The generator's LoRA init and dropout draw from the global stream between retriever forwards.
    e2e, _ = trained("e2e", models, tmp_path, dropout=0.1)
    eq, _ = trained("e2e-equivalent", models, tmp_path, dropout=0.1)
    assert not same(e2e, eq)


def test_recipe_and_record(models, tmp_path):
    _, info = trained("e2e-equivalent", models, tmp_path, recipe="dalm-e2e", train_batch_size=4, warmup_steps=1,
                      generator_max_len=40)
    assert info["recipe"]["name"] == "dalm-e2e" and "generator_lora" not in info["recipe"]["params"]
    assert info["recipe"]["overridden"]["train_batch_size"] == {"recipe": 20, "row": 4}
    assert info["hyper"]["lm_loss_on_prompt"] is True and "generator" not in info
    assert info["answer_tokens_counted_by"]["model_id"] == models[0.0][1]
