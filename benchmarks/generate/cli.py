"""``harness.py generate``: questions (and answers) for data that has none.

    python harness.py generate --from-pdf ../shared/data/10k-pdfs --out tenk-smollm2 --sample 80
    python harness.py generate --answers-for llamaindex-10k --split uber --out tenk-answers --sample 20
    python harness.py generate --from-pdf a.pdf --out mine --backend openai --model gpt-4o-mini

A killed or interrupted run resumes when the same command is run again: every model reply is
cached as soon as it arrives (see cache.py), and the dataset is only written at the end.
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from benchmarks.errors import HarnessError
from benchmarks.llm.backends import BACKENDS
from benchmarks.llm.models import SMOLLM2
from benchmarks.openai_client import redact


def add_generate_parser(subparsers: Any, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``generate`` subcommand; ``common_parent`` brings the shared options (--quiet)."""
    p = subparsers.add_parser(
        "generate", parents=[common_parent],
        help="generate questions (and answers) from PDFs or for a dataset",
        description="Make a retrieval dataset with an LLM: --from-pdf extracts text (pypdf), cuts it into "
        "word windows and asks for N questions per chunk (LlamaIndex generate_qa_embedding_pairs parsing); "
        "--answers-for adds answers to a dataset's (question, passage) pairs (DALM CSV columns). Replies "
        "are cached per item, so re-running an interrupted command resumes it.",
        epilog="Environment: OPENAI_API_KEY (or --api-key-env), OPENAI_BASE_URL, HARNESS_GEN_MODEL for the "
        "openai backend; HARNESS_CACHE_DIR for cached replies, page texts and the converted local model.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-pdf", nargs="+", metavar="PDF_OR_DIR", help="PDF files and/or folders of PDFs")
    src.add_argument("--answers-for", metavar="DATASET",
                     help="dataset card name or path; writes its pairs with answers as a CSV")
    p.add_argument("--out", required=True, metavar="NAME", help="name of the new dataset (and its card)")
    p.add_argument("--split", metavar="NAME",
                   help="--from-pdf: put every PDF in this one split (default: one split per PDF, named "
                   "after the file); --answers-for: only this split (default: all)")
    g = p.add_argument_group("chunks and questions (--from-pdf)")
    g.add_argument("--chunk-words", type=int, default=300, help="words per chunk (default: %(default)s)")
    g.add_argument("--chunk-overlap", type=int, default=20,
                   help="words shared by neighbouring chunks (default: %(default)s)")
    g.add_argument("--questions-per-chunk", type=int, default=2, metavar="N", help="default: %(default)s")
    g.add_argument("--sample", type=int, metavar="K",
                   help="generate for K chunks spread evenly over all of them (the others stay in the corpus "
                   "as distractors); --answers-for: K pairs per split. Default: all")
    g.add_argument("--corpus", choices=["all", "sampled"], default="all",
                   help="chunks in the corpus: all (default) or only those sent to the generator "
                   "(as LlamaIndex does)")
    g.add_argument("--answers", action="store_true", help="also answer each question; writes a DALM CSV too")
    g.add_argument("--question-filter", choices=["none", "dalm"], default="none",
                   help="dalm: drop questions under 5 words, starting with '<', or containing question/"
                   "answer/instruction, as DALM qa-gen does (default: none; LlamaIndex keeps every line)")
    m = p.add_argument_group("generator")
    m.add_argument("--backend", choices=sorted(BACKENDS), default="local",
                   help="local: transformers on this machine; openai: any OpenAI-compatible chat endpoint")
    m.add_argument("--model", help=f"local: '{SMOLLM2}' (default: the offline SmolLM2-135M-Instruct), a "
                   "folder or a hub id; openai: the model name (default: $HARNESS_GEN_MODEL)")
    m.add_argument("--base-url", help="openai: endpoint base URL (default: $OPENAI_BASE_URL, else OpenAI's)")
    m.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai: variable holding the key")
    m.add_argument("--max-new-tokens", type=int, default=128,
                   help="cap on a question reply (default: %(default)s)")
    m.add_argument("--answer-max-new-tokens", type=int, default=96, help="default: %(default)s")
    m.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    m.add_argument("--top-p", type=float, default=1.0)
    m.add_argument("--seed", type=int, default=0, help="sampling seed, mixed per item (default: %(default)s)")
    m.add_argument("--threads", type=int, help="local: torch CPU threads (1 is fastest on a busy 2-core box)")
    m.add_argument("--question-prompt", type=Path, metavar="FILE", help="template with {context} and {n} "
                   "(LlamaIndex's {context_str}/{num_questions_per_chunk} work too)")
    m.add_argument("--answer-prompt", type=Path, metavar="FILE",
                   help="template with {context} and {question}")
    m.add_argument("--max-wait-s", type=float, default=300.0, metavar="S",
                   help="openai: give up on a reply after S seconds, retries included; a server that "
                   "does not answer stops the run (default: %(default)s)")
    m.add_argument("--on-failure", choices=["continue", "fail"], default="continue",
                   help="after 3 failed tries: skip the item (default, as LlamaIndex) or stop")
    m.add_argument("--allow-partial", action="store_true",
                   help="write the dataset even if some items failed (default: write nothing and exit 1; "
                   "a stage in which every item failed never writes)")
    o = p.add_argument_group("output")
    o.add_argument("--data-dir", type=Path, help="default: the first data-path folder (<repo>/data)")
    o.add_argument("--card-dir", type=Path,
                   help="default: DATA_DIR/cards (outside git); 'datasets' to put the card in the repo")
    o.add_argument("--overwrite", action="store_true",
                   help="replace an existing generated dataset of that name")
    # Recorded so the card can say exactly how to regenerate the data (see command_line).
    skip = {"help", "data_dir", "card_dir", "overwrite", *(a.dest for a in common_parent._actions)}
    p.set_defaults(generate_flags=[(a.option_strings[-1], a.dest, a.default) for a in p._actions
                                   if a.option_strings and a.dest not in skip])
    return p


def command_line(args: argparse.Namespace, data_dir: str, card_dir: Path) -> str:
    """The command that regenerates this dataset, rebuilt from the parsed options.

    Rebuilt rather than copied from sys.argv so it is right however the CLI was called (a
    script, ``main(argv)``, a test). It ends with --data-dir/--card-dir/--overwrite so that,
    as a card's get_command, it refills a missing data folder next to the existing card.
    """
    parts = ["python", "harness.py", "generate"]
    for flag, dest, default in args.generate_flags:
        value = getattr(args, dest)
        if value is None or value is False or value == default:
            continue
        parts.append(flag)
        if isinstance(value, list):
            parts += [str(v) for v in value]
        elif value is not True:
            parts.append(str(value))
    parts += ["--data-dir", data_dir, "--card-dir", str(card_dir), "--overwrite"]
    # Cards and records quote this line: a --base-url with credentials must not carry them there.
    return redact(" ".join(p if p == "{data_dir}" else shlex.quote(p) for p in parts))


def _check_numbers(args: argparse.Namespace) -> None:
    if args.max_wait_s <= 0:
        raise HarnessError(f"--max-wait-s must be > 0, got {args.max_wait_s:g}")
    for flag in ("questions_per_chunk", "max_new_tokens", "answer_max_new_tokens", "sample", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise HarnessError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")


def cmd_generate(args: argparse.Namespace) -> int:
    """Run ``generate``; HarnessError/DataError carry the message for the user."""
    from benchmarks.generate import commands

    _check_numbers(args)
    return commands.from_pdf(args) if args.from_pdf else commands.answers_for(args)
