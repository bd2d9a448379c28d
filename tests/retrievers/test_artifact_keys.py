"""Trained-artifact keys: every parameter is in the key unless it is declared eval_only, by one
mechanism shared by all trainers (adapter, contrastive, e2e, LlamaIndex's adapter engine).

Each test captures the spec that ``fit`` hands the artifact cache, so it checks the key really
used, not a helper beside it."""
from __future__ import annotations

import pytest

from benchmarks.artifacts import artifact_key, eval_only, training_hyper
from benchmarks.context import RunContext
from benchmarks.types import Doc, Split
from retrievers import RETRIEVERS
from retrievers.base import Params
from tiny_training import spec_capture

SPLIT = Split(
    corpus={"d1": Doc("cats purr when content"), "d2": Doc("dogs bark at strangers")},
    queries={"q1": "why do cats purr", "q2": "when do dogs bark"},
    qrels={"q1": {"d1": 1}, "q2": {"d2": 1}},
    answers={"q1": "when content", "q2": "at strangers"},
)
TRAINERS = [("bge-adapter", {}), ("contrastive", {}), ("e2e", {"answers": "split", "generator": "LOCAL"}),
            ("llamaindex", {"adapter": True})]


@pytest.fixture
def spec_of(monkeypatch, tmp_path):
    """spec_of(cls, params) -> the spec the retriever's fit() asks the artifact cache for."""


    generator = tmp_path / "generator"  # a local generator folder: resolved by hashing, not converted
    generator.mkdir()
    (generator / "config.json").write_text("{}")

    def run(cls, params):
        if params.get("generator") == "LOCAL":
            params = {**params, "generator": str(generator)}
        return spec_capture(monkeypatch, lambda: cls("row", params).fit(
            SPLIT, RunContext(cache_dir=tmp_path, progress=False, device="cpu")))

    return run


def with_extra_fields(cls):
    """The trainer with one new training knob and one new evaluation-only knob."""

    class ExtraParams(cls.Params):  # type: ignore[name-defined, misc]
        new_knob: int = 0
        new_eval_knob: int = eval_only(0)

    return type(f"Extra{cls.__name__}", (cls,), {"Params": ExtraParams})


@pytest.mark.parametrize("name, base", TRAINERS, ids=[t[0] for t in TRAINERS])
def test_a_new_parameter_changes_the_key_unless_it_is_eval_only(spec_of, name, base):
    cls = with_extra_fields(RETRIEVERS.get(name))
    plain = spec_of(cls, base)
    assert plain["hyper"]["new_knob"] == 0 and "new_eval_knob" not in plain["hyper"]
    assert artifact_key(spec_of(cls, {**base, "new_knob": 1})) != artifact_key(plain)
    assert artifact_key(spec_of(cls, {**base, "new_eval_knob": 1})) == artifact_key(plain)
    assert artifact_key(spec_of(cls, base)) == artifact_key(plain)  # and the key is stable


@pytest.mark.parametrize("name, base, field, value", [
    ("bge-adapter", {}, "epochs", 2), ("bge-adapter", {}, "scale", 10.0),
    ("contrastive", {}, "lr", 3e-4), ("contrastive", {}, "train_threads", 2),
    ("e2e", {"answers": "split", "generator": "LOCAL"}, "generator_max_len", 64), ("e2e", {"answers": "split", "generator": "LOCAL"}, "loss", "marginal"),
    ("llamaindex", {"adapter": True}, "embed_batch_size", 3), ("llamaindex", {"adapter": True}, "epochs", 2),
])
def test_existing_training_parameters_are_in_the_key(spec_of, name, base, field, value):
    cls = RETRIEVERS.get(name)
    assert artifact_key(spec_of(cls, {**base, field: value})) != artifact_key(spec_of(cls, base))


@pytest.mark.parametrize("name, base, field, value", [
    ("bge-adapter", {}, "normalize_queries", False), ("contrastive", {}, "eval_prefixes", True),
    ("contrastive", {}, "batch_size", 7), ("e2e", {"answers": "split", "generator": "LOCAL"}, "max_seq_length", 64),
    ("llamaindex", {"adapter": True}, "device", "cpu"),
])
def test_eval_only_parameters_reuse_the_artifact(spec_of, name, base, field, value):
    cls = RETRIEVERS.get(name)
    assert artifact_key(spec_of(cls, {**base, field: value})) == artifact_key(spec_of(cls, base))


def test_training_hyper_keeps_all_but_eval_only_and_applies_overrides():
    class P(Params):
        a: int = 1
        b: list[str] = ["x"]
        c: float = eval_only(0.5)

    assert training_hyper(P()) == {"a": 1, "b": ["x"]}
    assert training_hyper(P(a=2), b="resolved") == {"a": 2, "b": "resolved"}


def test_a_recipe_keys_as_its_expansion_written_out(spec_of):
    cls = RETRIEVERS.get("contrastive")
    # llamaindex-10k's committed minilm-l6-contrastive row is the full-fine-tune recipe, written out
    committed = spec_of(cls, {"model": "minilm-l6", "lora": False, "train_prefixes": False, "passage_max_len": 256})
    assert artifact_key(spec_of(cls, {"model": "minilm-l6", "recipe": "full-fine-tune"})) == artifact_key(committed)
    dalm = spec_of(cls, {"recipe": "dalm-retriever-only"})["hyper"]
    assert (dalm["epochs"], dalm["train_batch_size"], dalm["lora"], dalm["mask_same_passage"]) == (3, 150, True, False)
    # a param next to the recipe overrides it, and is in the key
    short = spec_of(cls, {"recipe": "dalm-retriever-only", "epochs": 1})["hyper"]
    assert short == {**dalm, "epochs": 1}


def test_recipes_are_named_and_recorded():
    from retrievers.base import ParamsError

    row = RETRIEVERS.get("contrastive")("c", {"recipe": "dalm-retriever-only", "epochs": 1})
    assert row.recipe["name"] == "dalm-retriever-only" and row.recipe["overridden"] == {"epochs": {"recipe": 3, "row": 1}}
    assert row.recipe["params"]["epochs"] == 1 and row.card().params["recipe"] == "dalm-retriever-only"
    assert "recipe" not in RETRIEVERS.get("contrastive")("c", {}).card().params
    with pytest.raises(ParamsError, match="unknown recipe 'dalm-e2'; did you mean 'dalm-e2e'") as caught:
        RETRIEVERS.get("e2e")("e", {"recipe": "dalm-e2"})
    assert caught.value.problems[0][0] == ("recipe",) and "recipe" in caught.value.valid
    with pytest.raises(ParamsError, match="unknown recipe 'dalm-e2e'"):  # a recipe of another family
        RETRIEVERS.get("contrastive")("c", {"recipe": "dalm-e2e"})
    with pytest.raises(ParamsError, match="recipe: unknown param"):  # a trainer-less retriever takes none
        RETRIEVERS.get("bm25")("b", {"recipe": "dalm-e2e"})
