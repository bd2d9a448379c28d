"""Peak memory and seconds of e2e training steps under DALM's recipe: the generator's full
[B, L, V] logits (as before impl_version 3), the output layer on the loss's tokens only (now),
and that with the generator's activation checkpointing (`generator_checkpointing: true`).

    python -m benchmarks.perf.e2e_step [--steps 3] [--batch 20] [--threads 2]

MiniLM-L6 + SmolLM2-135M, `recipe: dalm-e2e` (LoRA on both, 256 generator tokens), on the first
batches of llamaindex-10k uber (the arcee suite's train split). Answers are a stand-in, the
first 12 words of the gold passage (the real rows use SmolLM2's cached answers, which are about
as short): memory and time depend on their length, not their words. Each variant runs in its
own process, since peak RSS only grows; each step's loss is printed so the three can be seen to
compute the same thing (dropout draws alike: seeded, and checkpointing restores the random state
it recomputes under).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


VARIANTS = ("full", "selected", "checkpointed")


def one_variant(variant: str, steps: int, batch: int, threads: int) -> dict[str, object]:
    import torch

    from benchmarks.llm.models import resolve_generator
    from benchmarks.provenance import peak_rss_gib
    from benchmarks.runner import load_dataset
    from benchmarks.suites import load_suite
    from benchmarks.training import training_pairs
    from retrievers.e2e import train as e2e_train
    from retrievers.e2e.loss import token_log_probs
    from retrievers.e2e.retriever import E2ERetriever

    torch.set_num_threads(threads)
    if variant == "full":
        e2e_train.generator_token_log_probs = (  # type: ignore[assignment]
            lambda gen, ids, attn, needed: token_log_probs(gen(input_ids=ids, attention_mask=attn).logits, ids))
    entry = load_suite("arcee").datasets[0]
    split = load_dataset(entry.model_copy(update={"split": entry.train_split}), None).split
    row = E2ERetriever("e2e", {"model": "minilm-l6", "generator": "smollm2-135m", "recipe": "dalm-e2e",
                               "generator_checkpointing": variant == "checkpointed"})
    pairs = training_pairs(split, row.passage_text)[:steps * batch]
    rows = [e2e_train.Row(p.query, p.passage, " ".join(p.passage.split()[:12]), i) for i, p in enumerate(pairs)]
    rss_before = peak_rss_gib()
    torch.manual_seed(0)
    _, models = e2e_train.load_models(row.base.load_path, resolve_generator("smollm2-135m"), row.params, "cpu")
    models.retriever.train()  # as train_e2e: dropout on, and checkpointing only acts in training mode
    models.generator.train()
    trainable = [p for m in (models.retriever, models.generator) for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=row.params.lr)
    rss_loaded, seconds, losses = peak_rss_gib(), [], []
    for s in range(steps):
        t0 = time.perf_counter()
        loss = e2e_train.batch_loss(models, rows[s * batch:(s + 1) * batch], row.params, "cpu").total
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds.append(time.perf_counter() - t0)
        losses.append(float(loss))
    return {"variant": variant, "steps": steps, "batch": batch, "threads": threads,
            "step_s": [round(x, 2) for x in seconds], "losses": losses, "peak_rss_gib_before_models": round(rss_before, 2),
            "peak_rss_gib_models_loaded": round(rss_loaded, 2), "peak_rss_gib": round(peak_rss_gib(), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=20, help="DALM's e2e batch (the dalm-e2e recipe)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args(argv)
    if args.variant:
        print(json.dumps(one_variant(args.variant, args.steps, args.batch, args.threads)))
        return 0
    results = []
    for variant in VARIANTS:
        out = subprocess.run([sys.executable, "-m", "benchmarks.perf.e2e_step", "--variant", variant,
                              "--steps", str(args.steps), "--batch", str(args.batch), "--threads", str(args.threads)],
                             check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    full, sel, ckpt = results
    for r in results:
        print(f"{r['variant']:>8}: peak RSS {r['peak_rss_gib']:.2f} GiB (models loaded {r['peak_rss_gib_models_loaded']:.2f}),"
              f" step s {r['step_s']}, first loss {r['losses'][0]:.6f}")
    print(f"selected/full: peak RSS {sel['peak_rss_gib'] / full['peak_rss_gib']:.2f}x, "
          f"median step {sorted(sel['step_s'])[len(sel['step_s']) // 2] / sorted(full['step_s'])[len(full['step_s']) // 2]:.2f}x, "
          f"first-step loss difference {abs(sel['losses'][0] - full['losses'][0]):.2e}")
    print(f"checkpointed/selected: peak RSS {ckpt['peak_rss_gib'] / sel['peak_rss_gib']:.2f}x, "
          f"steps {ckpt['step_s']} vs {sel['step_s']}, losses equal: {ckpt['losses'] == sel['losses']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
