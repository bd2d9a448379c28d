"""e2e (DALM RAG-e2e): hand-worked losses, gradient paths, DALM quirk switches, tiny fit + retrieve."""
import json
import math
from pathlib import Path

import pytest
import torch

from benchmarks.context import RunContext
from benchmarks.training import training_pairs
from benchmarks.types import Doc, Split
from benchmarks.training.losses import symmetric_infonce
from retrievers.e2e.data import TextOptions, collate, encode_row, generator_prompt
from tiny_training import tiny_e2e_models, word_tokenizer
from retrievers.e2e.loss import e2e_loss, target_masks, token_log_probs

ln = math.log
L3 = ln(3.0)  # S = [[ln 3, 0], [0, ln 3]] gives softmax rows [3/4, 1/4] and [1/4, 3/4]


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # 2-thread OpenMP spin-waits on a busy 2-core box; results do not depend on it
    yield
    torch.set_num_threads(previous)


def test_token_log_probs_hand_worked():
    # position 0 predicts x1 = 1 with logits [0, ln 3] -> 3/4; position 1 predicts x2 = 1 with [ln 3, 0] -> 1/4
    logits = torch.tensor([[[0.0, L3], [L3, 0.0], [5.0, 5.0]]])
    lp = token_log_probs(logits, torch.tensor([[0, 1, 1]]))
    assert lp.tolist()[0] == pytest.approx([ln(0.75), ln(0.25)], abs=1e-6)


S2 = torch.tensor([[L3, 0.0], [0.0, L3]])
# rows of log P(x_t | x_<t) for targets t = 1..3 (columns 0..2); row 1's last position is padding
LP = torch.tensor([[ln(0.5), ln(0.5), ln(0.25)], [ln(0.8), ln(0.5), 0.0]])
ATTN = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
START = torch.tensor([2, 2])  # answers start at token 2: targets t = 2, 3 in row 0, t = 2 in row 1
R = ln(0.75)  # r_i = log softmax(S_i)[i] for both rows


def test_dalm_loss_hand_worked():
    parts = e2e_loss(S2, LP, ATTN, START, "dalm")
    assert parts.retriever.item() == pytest.approx(-ln(0.75), abs=1e-6)  # every row/column CE is -ln 3/4
    # answer tokens: ln .5, ln .25 (row 0) and ln .5 (row 1), each plus r: mean over 3 tokens
    gen = -((ln(0.5) + R) + (ln(0.25) + R) + (ln(0.5) + R)) / 3
    assert parts.generator.item() == pytest.approx(gen, abs=1e-6)
    assert parts.lm_nll.item() == pytest.approx(-(ln(0.5) + ln(0.25) + ln(0.5)) / 3, abs=1e-6)
    assert parts.total.item() == pytest.approx(-ln(0.75) + gen, abs=1e-6)


def test_dalm_loss_with_prompt_tokens_faithful():
    # DALM's mask: every non-pad target (5 of them); r still only on the 3 answer tokens
    parts = e2e_loss(S2, LP, ATTN, START, "dalm", lm_loss_on_prompt=True)
    gen = -(ln(0.5) + ln(0.5) + ln(0.25) + ln(0.8) + ln(0.5) + 3 * R) / 5
    assert parts.generator.item() == pytest.approx(gen, abs=1e-6)


def test_independent_has_no_retriever_term():
    parts = e2e_loss(S2, LP, ATTN, START, "independent")
    assert parts.generator.item() == pytest.approx(-(ln(0.5) + ln(0.25) + ln(0.5)) / 3, abs=1e-6)


# marginal rows (i, j) = query i with passage j, 2 targets each; target t = 2 is the answer token
MLP = torch.tensor([[ln(0.9), ln(0.5)], [ln(0.3), ln(0.1)], [ln(0.3), ln(0.2)], [ln(0.6), ln(0.4)]])
MATTN = torch.ones(4, 3, dtype=torch.long)
MSTART = torch.full((4,), 2)


def test_marginal_loss_hand_worked():
    # row 0: 3/4 * .5 + 1/4 * .1 = .4; row 1: 1/4 * .2 + 3/4 * .4 = .35; 2 answer tokens on gold rows
    parts = e2e_loss(S2, MLP, MATTN, MSTART, "marginal")
    assert parts.generator.item() == pytest.approx((-ln(0.4) - ln(0.35)) / 2, abs=1e-6)
    with_prompt = e2e_loss(S2, MLP, MATTN, MSTART, "marginal", lm_loss_on_prompt=True)
    # plus the gold sequences' prompt tokens (ln .9, ln .6), over 4 tokens
    assert with_prompt.generator.item() == pytest.approx((-ln(0.4) - ln(0.35) - ln(0.9) - ln(0.6)) / 4, abs=1e-6)


def test_variants_agree_when_retrieval_is_certain():
    certain = torch.tensor([[0.0, -math.inf], [-math.inf, 0.0]])  # all mass on the gold passage: r = 0
    gold = MLP[[0, 3]]
    expected = -(ln(0.5) + ln(0.4)) / 2
    for variant, lp in (("marginal", MLP), ("dalm", gold), ("independent", gold)):
        start = MSTART if variant == "marginal" else MSTART[:2]
        attn = MATTN if variant == "marginal" else MATTN[:2]
        assert e2e_loss(certain, lp, attn, start, variant).generator.item() == pytest.approx(expected, abs=1e-6)


def test_retriever_gradient_paths():
    def grad_wrt_scores(variant, lp):
        s = S2.clone().requires_grad_(True)
        attn, start = (MATTN, MSTART) if variant == "marginal" else (MATTN[:2], MSTART[:2])
        gen = e2e_loss(s, lp, attn, start, variant).generator
        if not gen.requires_grad:  # not connected to S at all
            return None
        return torch.autograd.grad(gen, s)[0]

    gold, other = MLP[[0, 3]], MLP[[1, 2]]
    # DALM: the generator term reaches S, but through r only: its gradient ignores what the LM predicts
    g1, g2 = grad_wrt_scores("dalm", gold), grad_wrt_scores("dalm", other)
    assert g1.abs().sum() > 0 and torch.allclose(g1, g2)
    # one answer token per row: L_gen = -(lp.. + r_0 + r_1)/2 with r_0 = S_00 - logsumexp(S_0.),
    # so dL_gen/dS_00 = -(1 - softmax(S_0)_0)/2 = -(1 - 3/4)/2 = -1/8
    assert g1[0, 0].item() == pytest.approx(-0.125, abs=1e-6)
    # marginal: the gradient depends on the generator's likelihoods
    m1 = grad_wrt_scores("marginal", MLP)
    m2 = grad_wrt_scores("marginal", MLP.flip(0))
    assert m1.abs().sum() > 0 and not torch.allclose(m1, m2)
    # independent: no path from the generator loss to the retriever
    assert grad_wrt_scores("independent", gold) is None


def test_retriever_part_is_contrastives_loss():
    q = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2], [0.3, 1.0], [1.0, 1.0]]), dim=-1)
    p = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 1.0]]), dim=-1)
    mask = torch.tensor([[False, False, True], [False, False, False], [True, False, False]])
    from benchmarks.training.losses import in_batch_scores

    s = in_batch_scores(q, p, 100.0, mask)
    lp = torch.zeros(3, 2)
    parts = e2e_loss(s, lp, torch.ones(3, 3, dtype=torch.long), torch.full((3,), 2), "dalm")
    assert parts.retriever.item() == pytest.approx(symmetric_infonce(q, p, 100.0, mask).item(), rel=1e-6)


# ---- tokens and the quirk switches, with a word-level tokenizer (one token per word or '#')

def words(tok, ids):
    return tok.convert_ids_to_tokens(ids)


def test_prefixes_single_by_default_double_when_faithful():
    assert generator_prompt("q", "p", False) == "#query# q #passage# p #answer# "
    assert generator_prompt("q", "p", True) == "#query# #query# q #passage# #passage# p #answer# "


@pytest.mark.parametrize("bos", [False, True])
def test_answer_start_fixed_and_faithful(bos):
    tok = word_tokenizer(bos)
    fixed = encode_row(tok, "what is the capital", "paris is the capital", "paris city", TextOptions(max_len=64))
    toks = words(tok, fixed.ids)
    assert toks[fixed.answer_start:] == ["paris", "city", "</s>"]  # answer + EOS, nothing of the prompt
    assert toks[fixed.answer_start - 3:fixed.answer_start] == ["#", "answer", "#"]
    faithful = encode_row(tok, "what is the capital", "paris is the capital", "paris city",
                          TextOptions(max_len=64, faithful_answer_start=True))
    assert faithful.ids == fixed.ids
    # DALM's n_i also counts the EOS its tokenizer appends to "... #answer# ": one token late
    assert faithful.answer_start == fixed.answer_start + 1


def test_masks_follow_the_switches():
    tok = word_tokenizer()
    rows = [encode_row(tok, "what is the capital", "paris is the capital", "paris city", TextOptions(max_len=64)),
            encode_row(tok, "where do penguins live", "they live on ice", "antarctica", TextOptions(max_len=64))]
    batch = collate(tok, rows, "cpu")
    # The tokenizer has no pad token, so the shorter row is right-padded with EOS (as DALM sets pad = eos).
    assert tok.pad_token_id is None and tok.eos_token_id == 2
    n_short = len(rows[1].ids)
    assert batch["input_ids"][1, n_short:].tolist() == [2] * (len(rows[0].ids) - n_short) and n_short < len(rows[0].ids)
    assert batch["attention_mask"][1].tolist() == [1] * n_short + [0] * (len(rows[0].ids) - n_short)
    answer_only, answer = target_masks(batch["attention_mask"], batch["answer_start"], False)
    assert answer_only.sum(1).tolist() == [3, 2]  # "paris city </s>", "antarctica </s>"
    assert torch.equal(answer_only, answer)
    with_prompt, answer2 = target_masks(batch["attention_mask"], batch["answer_start"], True)
    assert with_prompt.sum(1).tolist() == [len(rows[0].ids) - 1, len(rows[1].ids) - 1]  # every real target
    assert torch.equal(answer2, answer)
    late = target_masks(batch["attention_mask"], batch["answer_start"] + 1, False)[0]
    assert late.sum(1).tolist() == [2, 1]  # the faithful n_i drops the first answer token


def test_truncation_keeps_the_answer_unless_right():
    tok = word_tokenizer()
    passage = " ".join(["red blue"] * 20)
    kept = encode_row(tok, "what is red", passage, "blue red", TextOptions(max_len=20))
    toks = words(tok, kept.ids)
    assert len(kept.ids) <= 20 and kept.passage_cut and toks[-3:] == ["blue", "red", "</s>"]
    assert toks[kept.answer_start:] == ["blue", "red", "</s>"]
    right = encode_row(tok, "what is red", passage, "blue red", TextOptions(max_len=20, truncation="right"))
    assert len(right.ids) == 20 and "</s>" not in words(tok, right.ids)  # DALM: the answer went first
    assert right.answer_start >= 20  # so no target is an answer token
    capped = encode_row(tok, "what", "red", "red blue red blue", TextOptions(max_len=64, answer_max_tokens=2))
    assert words(tok, capped.ids)[capped.answer_start:] == ["red", "blue", "</s>"]


def test_lora_targets_per_architecture():
    from transformers import GPT2Config, GPT2LMHeadModel

    from benchmarks.errors import ConfigError
    from retrievers.e2e.generator import add_generator_lora, lora_targets

    assert lora_targets("llama") == (["q_proj", "v_proj"], False)
    assert lora_targets("gpt2") == (["c_attn"], True)
    assert lora_targets("gpt_neox") == (["query_key_value"], False)
    with pytest.raises(ConfigError):
        lora_targets("no-such-arch")
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=32, n_embd=16, n_layer=2, n_head=2))
    peft_model = add_generator_lora(gpt2, 4, 8, 0.0, None)
    lora_layers = [m for n, m in peft_model.named_modules() if n.endswith("c_attn") and hasattr(m, "lora_A")]
    assert len(lora_layers) == 2 and all(m.fan_in_fan_out for m in lora_layers)
    out = peft_model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert out.shape == (1, 3, 50)


def test_output_layer_on_the_loss_tokens_only_gives_the_full_logits_loss():
    """generator_token_log_probs == token_log_probs(full logits) on the masked tokens, gradients
    too, for Llama and GPT-2 (peft-wrapped); a model whose logits are not its output layer's
    (here: a head that disagrees) takes the full path."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    from retrievers.e2e.generator import add_generator_lora
    from retrievers.e2e.loss import generator_token_log_probs

    torch.manual_seed(0)
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32))
    no_dropout = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}  # the two paths draw alike, but compare exactly
    gpt2 = add_generator_lora(GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=32, n_embd=16, n_layer=2,
                                                         n_head=2, **no_dropout)), 4, 8, 0.0, None)
    ids = torch.randint(3, 40, (3, 9))
    attn = torch.ones_like(ids)
    attn[1, 6:] = 0  # a right-padded row
    needed, _ = target_masks(attn, torch.tensor([4, 2, 7]), lm_loss_on_prompt=False)
    for model in (llama, gpt2):
        def loss_and_grads(fast):
            model.zero_grad()
            lp = (generator_token_log_probs(model, ids, attn, needed.bool()) if fast
                  else token_log_probs(model(input_ids=ids, attention_mask=attn).logits, ids))
            loss = -(needed * lp).sum()
            loss.backward()
            return needed * lp, [p.grad.clone() for p in model.parameters() if p.grad is not None]
        (full, g_full), (fast, g_fast) = loss_and_grads(False), loss_and_grads(True)
        assert fast.abs().sum() > 0 and torch.allclose(fast, full, atol=1e-6)
        assert len(g_fast) == len(g_full) and all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_fast, g_full))
        assert (generator_token_log_probs(model, ids, attn, needed.bool())[needed == 0] == 0).all()
    forwards = []
    llama.model.register_forward_hook(lambda *args: forwards.append(1))
    llama.config.final_logit_softcapping = 30.0  # as Gemma's: its logits are not the output layer's
    full = token_log_probs(llama(input_ids=ids, attention_mask=attn).logits, ids)
    forwards.clear()
    assert torch.allclose(generator_token_log_probs(llama, ids, attn, needed.bool()), full)
    assert len(forwards) == 1  # decided from the config: no trial forward
    llama.config.final_logit_softcapping = None
    wrong_head = torch.nn.Linear(16, 40)
    llama.get_output_embeddings = lambda: wrong_head  # type: ignore[method-assign]
    assert torch.allclose(generator_token_log_probs(llama, ids, attn, needed.bool()), full)


# ---- tiny models end to end

TOPICS = {"d0": "paris is the capital city of france", "d1": "penguins live on ice in antarctica",
          "d2": "the capital of france is paris", "d3": "red and blue"}
QA = [("q0", "what is the capital of france", "d0", "paris"), ("q1", "where do penguins live", "d1", "antarctica"),
      ("q2", "what city is the capital", "d2", "paris"), ("q3", "what is red", "d3", "red and blue"),
      ("q4", "where is paris", "d0", "france"), ("q5", "penguins live where", "d1", "on ice")]


def qa_split(with_answers=True):
    return Split(corpus={d: Doc(t) for d, t in TOPICS.items()}, queries={q: t for q, t, _, _ in QA},
                 qrels={q: {d: 1} for q, _, d, _ in QA}, answers={q: a for q, _, _, a in QA} if with_answers else None)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A random 2-layer BERT (sentence-transformers folder) and a random 2-layer Llama generator."""
    return tiny_e2e_models(tmp_path_factory.mktemp("e2e-models"))


def tiny_params(tiny_models, **extra):
    st, llama = tiny_models
    return {"model": st, "generator": llama, "answers": "split", "train_batch_size": 3, "max_train_examples": None,
            "query_max_len": 16, "passage_max_len": 32, "generator_max_len": 40, "lr": 5e-3, **extra}


def test_generator_term_reaches_the_retriever(tiny_models):
    from retrievers.e2e.retriever import E2EParams
    from retrievers.e2e.train import Row, load_models, batch_loss
    from benchmarks.llm.models import resolve_generator

    rows = [Row(q, TOPICS[d], a, i) for i, (_, q, d, a) in enumerate(QA[:3])]
    for variant, reaches in (("dalm", True), ("marginal", True), ("independent", False)):
        params = E2EParams(**tiny_params(tiny_models, loss=variant))
        _, m = load_models(params.model, resolve_generator(params.generator), params, "cpu")
        parts = batch_loss(m, rows, params, "cpu")
        parts.generator.backward()  # the generator term alone
        grads = [p.grad for n, p in m.retriever.named_parameters() if "lora_" in n]
        assert grads and all(g is not None for g in grads) == reaches
        if reaches:
            assert sum(g.abs().sum().item() for g in grads) > 0
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.generator.parameters())


def test_tiny_fit_then_retrieve_and_reuse(tiny_models, tmp_path):
    from retrievers.e2e.retriever import E2ERetriever

    ctx = RunContext(cache_dir=tmp_path, device="cpu", progress=False)
    params = tiny_params(tiny_models, epochs=2, grad_accum_steps=2, warmup_steps=0)
    retriever = E2ERetriever("e2e", params)
    info = retriever.fit(qa_split(), ctx)
    assert info["examples"] == 6 and info["answers"]["from_split"] == 6 and not info["reused"]
    # 6 rows / batch 3 = 2 micro-batches per epoch = 1 optimizer step per epoch (accumulation 2)
    assert info["optimizer_steps"] == 2
    losses = info["losses"]
    assert len(losses["retriever"]["epoch_means"]) == 2 and losses["generator"]["final"] is not None
    assert losses["total"]["first"] == pytest.approx(losses["retriever"]["first"] + losses["generator"]["first"])
    art = Path(info["artifact_path"])
    assert (art / "retriever" / "modules.json").is_file() and (art / "generator" / "adapter_config.json").is_file()
    peft_config = json.loads((art / "generator" / "adapter_config.json").read_text())
    assert peft_config["base_model_name_or_path"] == params["generator"]  # the id given, not a load path
    assert not (art / "generator" / "README.md").exists()
    assert info["generator"]["base"]["weights_sha256"] and info["generator"]["trained_sha256"]
    assert info["retriever_trained_weights_sha256"] != info["retriever_base"]["weights_sha256"]
    run = retriever.retrieve(qa_split().corpus, qa_split().queries, 2, ctx)
    assert set(run) == {q for q, *_ in QA} and all(len(docs) == 2 for docs in run.values())
    card = retriever.card()
    assert {"checkpoint", "generator_base", "generator_checkpoint"} <= set(card.artifacts)
    again = E2ERetriever("e2e", params)
    info2 = again.fit(qa_split(), ctx)
    assert info2["reused"] and info2["artifact_sha256"] == info["artifact_sha256"]
    assert again.retrieve(qa_split().corpus, qa_split().queries, 2, ctx) == run


def test_missing_answers_are_generated_and_cached(tiny_models, tmp_path, monkeypatch):
    import benchmarks.llm.backends as backends
    from retrievers.e2e.retriever import E2ERetriever

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    calls = []

    class Fake:
        identity = {"backend": "fake", "model": "echo"}

        def chat(self, messages, sampling, seed, stop=None):
            calls.append(messages[-1]["content"])
            return "the answer\n\nextra commentary"

    monkeypatch.setattr(backends, "make_backend", lambda name, options: Fake())
    split = qa_split()
    split.answers = {"q0": "paris", "q1": "  "}  # q1's blank answer counts as missing
    retriever = E2ERetriever("e2e", tiny_params(tiny_models, answers="auto", max_train_examples=4))
    chosen = training_pairs(split)[:4]
    answers, info = retriever._answers(chosen, split, RunContext(cache_dir=tmp_path, progress=False))
    assert answers["q0"] == "paris" and answers["q1"] == "the answer"  # first paragraph kept
    assert info["from_split"] == 1 and info["generated"] == 3 and len(calls) == 3
    answers2, info2 = retriever._answers(chosen, split, RunContext(cache_dir=tmp_path, progress=False))
    assert answers2 == answers and info2["from_cache"] == 3 and len(calls) == 3
    only_split = E2ERetriever("e2e", tiny_params(tiny_models, answers="split"))
    assert only_split._answers(chosen, split, RunContext(cache_dir=tmp_path))[1]["missing"] == 3


@pytest.mark.slow
def test_real_smollm2_and_minilm_one_step():
    """Real weights: SmolLM2-135M (packaged GGUF) + MiniLM-L6, one batch, both loss parts finite."""
    from retrievers.e2e.retriever import E2EParams
    from retrievers.e2e.train import Row, batch_loss, load_models
    from benchmarks.llm.models import resolve_generator
    from retrievers.model_resolution import resolve_model

    params = E2EParams()
    gen = resolve_generator(params.generator)
    _, m = load_models(resolve_model("minilm-l6").load_path, gen, params, "cpu")
    rows = [Row(q, TOPICS[d], a, i) for i, (_, q, d, a) in enumerate(QA[:3])]
    parts = batch_loss(m, rows, params, "cpu")
    parts.total.backward()
    assert all(math.isfinite(v) for v in (float(v) for v in parts.parts().values())) and 0 < parts.lm_nll.item() < 20
    # SmolLM2's BPE: "#answer# " alone ends in a space token, and DALM counts an EOS too: 2 late
    fixed = encode_row(m.gtok, "what is red", "red and blue", "red", TextOptions())
    faithful = encode_row(m.gtok, "what is red", "red and blue", "red", TextOptions(faithful_answer_start=True))
    assert faithful.answer_start - fixed.answer_start == 2
    assert m.gtok.convert_ids_to_tokens(fixed.ids[fixed.answer_start:]) == ["Ġred", "<|im_end|>"]


def test_precision_choice():
    from benchmarks.errors import ConfigError
    from retrievers.e2e.train import precision_for

    assert precision_for("auto", "cpu") == "fp32" and precision_for("bf16", "cpu") == "bf16"
    with pytest.raises(ConfigError):
        precision_for("fp16", "cpu")


def test_all_faithful_switches_change_the_loss(tiny_models):
    from retrievers.e2e.retriever import E2EParams
    from retrievers.e2e.train import Row, batch_loss, load_models
    from benchmarks.llm.models import resolve_generator

    rows = [Row(q, TOPICS[d], a, i) for i, (_, q, d, a) in enumerate(QA[:3])]
    values = []
    for faithful in (False, True):
        params = E2EParams(**tiny_params(tiny_models, faithful_double_prefix=faithful, faithful_answer_start=faithful,
                                         lm_loss_on_prompt=faithful, generator_truncation="right" if faithful else "passage"))
        torch.manual_seed(0)
        _, m = load_models(params.model, resolve_generator(params.generator), params, "cpu")
        with torch.no_grad():
            values.append({k: float(v) for k, v in batch_loss(m, rows, params, "cpu").parts().items()})
    assert values[0]["retriever"] == pytest.approx(values[1]["retriever"])  # same retriever, same batch
    assert values[0]["generator"] != pytest.approx(values[1]["generator"])


def test_peft_metadata_is_made_portable(tmp_path):
    from retrievers.e2e.train import portable_peft_files

    (tmp_path / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "/home/me/.cache/retrieval-harness/models/smollm2", "r": 8,
         "target_modules": ["v_proj", "q_proj"]}))
    (tmp_path / "README.md").write_text("base_model: /home/me/.cache/retrieval-harness/models/smollm2\n")
    portable_peft_files(tmp_path, "HuggingFaceTB/SmolLM2-135M-Instruct")
    text = (tmp_path / "adapter_config.json").read_text()
    assert json.loads(text) == {"base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "r": 8,
                                "target_modules": ["q_proj", "v_proj"]}
    assert "/home/me" not in text and not (tmp_path / "README.md").exists()
    portable_peft_files(tmp_path / "missing", "x")  # a full fine-tune folder has no peft files: nothing to do


def test_generator_checkpointing_gives_the_same_gradients(tiny_models):
    """Activation checkpointing on the generator (a memory switch, kept out of the artifact key)
    gives bit-identical losses and gradients, dropout included (LoRA dropout, BERT dropout 0.1)."""
    from benchmarks.llm.models import resolve_generator
    from retrievers.e2e.retriever import E2ERetriever
    from retrievers.e2e.train import Row, batch_loss, load_models

    params = E2ERetriever("e2e", tiny_params(tiny_models, lora_dropout=0.1)).params
    rows = [Row(q, TOPICS[d], a, i) for i, (_, q, d, a) in enumerate(QA[:4])]
    out = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        p = params.model_copy(update={"generator_checkpointing": checkpointing})
        _, m = load_models(tiny_models[0], resolve_generator(tiny_models[1]), p, "cpu")
        m.retriever.train()
        m.generator.train()
        assert bool(getattr(m.generator, "is_gradient_checkpointing", False)) is checkpointing
        torch.manual_seed(1)
        loss = batch_loss(m, rows, p, "cpu").total
        loss.backward()
        grads = [x.grad.clone() for model in (m.retriever, m.generator) for x in model.parameters()
                 if x.grad is not None]
        out.append((loss.detach(), grads))
    (loss_a, grads_a), (loss_b, grads_b) = out
    assert torch.equal(loss_a, loss_b) and len(grads_a) == len(grads_b) > 0
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))
    assert "generator_checkpointing" not in E2ERetriever("e2e", tiny_params(tiny_models)).hyper()
