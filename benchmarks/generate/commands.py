"""What ``generate`` does once its options are parsed: --from-pdf and --answers-for.

Order matters for resumability: destinations are checked first (no model time is spent on a run
that cannot write), every reply is cached as it arrives, and the output files are written only
at the end, each atomically, so an interrupted run leaves nothing half-written behind.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.datapath import sha256_file
from benchmarks.generate import outputs
from benchmarks.generate.cli import command_line
from benchmarks.generate.pdf import Chunk, chunk_words, extract_pages, find_pdfs, pypdf_version, split_name
from benchmarks.llm.backends import Backend, BackendOptions, Sampling, make_backend
from benchmarks.llm.prompts import Prompt, load_prompt
from benchmarks.llm.qa import generate_answers, generate_questions
from benchmarks.stats import evenly_spaced

log = logging.getLogger("harness.generate")


def _backend(args: argparse.Namespace) -> Backend:
    return make_backend(args.backend, BackendOptions(model=args.model, base_url=args.base_url,
                                                     api_key_env=args.api_key_env, threads=args.threads,
                                                     max_wait_s=args.max_wait_s))


def _failure_gate(stats: dict[str, Any], allow_partial: bool) -> str | None:
    """Why nothing may be written (a stage with every item failed; any failure without
    --allow-partial), or None. Replies are cached, so re-running retries only the failures."""
    failed = sum(s["failed"] for s in stats.values())
    if not failed:
        return None
    counts = "; ".join(f"{kind}: {s['ok']} ok, {s['failed']} failed" for kind, s in stats.items())
    if any(s["failed"] and not s["ok"] for s in stats.values()):
        return (f"every item failed ({counts}); no dataset or card was written. See the warnings above, "
                f"then run the same command again")
    if not allow_partial:
        return (f"{failed} item(s) failed ({counts}); no dataset or card was written. Run the same command "
                f"again to retry them (finished replies are cached), or add --allow-partial to write the "
                f"dataset without them")
    return None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _prompt_record(prompt: Prompt) -> dict[str, Any]:
    return {"sha256": prompt.sha256, "system": prompt.system, "template": prompt.template}


def _generator_record(backend: Backend, jobs: dict[str, Any], stats: dict[str, Any],
                      prompts: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.provenance import environment

    record = {"identity": backend.identity, "jobs": jobs, "stats": stats, "prompts": prompts,
              "environment": environment()}
    served = getattr(backend, "served_models", None)
    if served:
        record["served_models"] = sorted(served)
    return record


def _load_chunks(args: argparse.Namespace) -> tuple[list[Chunk], dict[str, str], list[dict[str, Any]]]:
    """All chunks of all PDFs, the split of each chunk, and a record per source file."""
    chunks: list[Chunk] = []
    split_of: dict[str, str] = {}
    sources: list[dict[str, Any]] = []
    for pdf in find_pdfs(args.from_pdf):
        pages = extract_pages(pdf)
        pdf_chunks = chunk_words(pages, args.chunk_words, args.chunk_overlap, prefix=f"{split_name(pdf)}-")
        chunks += pdf_chunks
        split_of.update({c.id: args.split or split_name(pdf) for c in pdf_chunks})
        sources.append({"file": str(pdf), "sha256": sha256_file(pdf), "pages": len(pages),
                        "words": sum(len(p.text.split()) for p in pages), "chunks": len(pdf_chunks)})
        log.info("%s: %d pages, %d chunks", pdf.name, len(pages), len(pdf_chunks))
    return chunks, split_of, sources


def from_pdf(args: argparse.Namespace) -> int:
    answers = args.answers
    card_names = [args.out] + ([f"{args.out}-qa"] if answers else [])
    targets = outputs.Targets.make(args.out, args.data_dir, args.card_dir, card_names, args.overwrite)
    qprompt = load_prompt("questions", args.question_prompt)
    aprompt = load_prompt("answers", args.answer_prompt)
    backend = _backend(args)  # first: a missing key or model fails before a minute of PDF parsing
    t0 = time.monotonic()
    chunks, split_of, sources = _load_chunks(args)
    extract_s = time.monotonic() - t0
    chosen = [chunks[i] for i in evenly_spaced(len(chunks), args.sample)]
    chosen_ids = {c.id for c in chosen}

    qsampling = Sampling(args.max_new_tokens, args.temperature, args.top_p)
    questions, qstats, qjob = generate_questions(
        chosen, args.questions_per_chunk, backend, qprompt, qsampling, args.seed, args.on_failure,
        args.question_filter, not args.quiet)
    qids = {c.id: [f"{c.id}-q{j}" for j in range(len(questions.get(c.id, [])))] for c in chunks}
    text_of = {c.id: c.text for c in chunks}
    jobs, stats = {"questions": qjob}, {"questions": qstats.as_dict()}
    prompts = {"questions": _prompt_record(qprompt)}
    answer_of: dict[str, str] = {}
    if answers:
        triples = [(qid, q, text_of[cid]) for cid, qs in questions.items() for qid, q in zip(qids[cid], qs)]
        asampling = Sampling(args.answer_max_new_tokens, args.temperature, args.top_p)
        answer_of, astats, jobs["answers"] = generate_answers(
            triples, backend, aprompt, asampling, args.seed, args.on_failure, not args.quiet)
        stats["answers"] = astats.as_dict()
        prompts["answers"] = _prompt_record(aprompt)
    refused = _failure_gate(stats, args.allow_partial)
    if refused:
        print(f"error: {refused}", file=sys.stderr)
        return 1

    if args.overwrite:
        targets.clear()
    split_files, csv_files, counts = {}, {}, {}
    for split in dict.fromkeys(split_of.values()):
        members = [c for c in chunks if split_of[c.id] == split]
        corpus = {c.id: c.text for c in members if args.corpus == "all" or c.id in chosen_ids}
        queries = {qid: q for c in members for qid, q in zip(qids[c.id], questions.get(c.id, []))}
        relevant = {qid: [c.id] for c in members for qid in qids[c.id]}
        counts[split] = {
            "chunks": len(members), "corpus": len(corpus), "questions": len(queries),
            "sampled_chunks": sum(c.id in chosen_ids for c in members),
            # A cheap quality signal: small models often repeat their first question.
            "repeated_in_chunk": sum(len(qs) - len(set(qs))
                                     for qs in (questions.get(c.id, []) for c in members)),
        }
        split_files[split] = f"{targets.name}/{split}.json"
        outputs.write_llamaindex(targets.data_dir / split_files[split], queries, corpus, relevant)
        if answers:
            csv_files[split] = f"{targets.name}/{split}.csv"
            rows = [(q, text_of[relevant[qid][0]], answer_of.get(qid, "")) for qid, q in queries.items()]
            outputs.write_qa_csv(targets.data_dir / csv_files[split], rows)
    outputs.write_jsonl(targets.folder / "chunks.jsonl", [
        {"id": c.id, "source": c.source, "pages": [c.first_page, c.last_page], "words": len(c.text.split()),
         "sha256": c.sha256, "sampled": c.id in chosen_ids} for c in chunks])

    n_questions = sum(c["questions"] for c in counts.values())
    names = ", ".join(Path(s["file"]).name for s in sources)
    model = backend.identity.get("model", "?")
    description = (
        f"Generated by 'harness.py generate' from {len(sources)} PDF(s) ({names}): {len(chunks)} chunks of "
        f"{args.chunk_words} words (overlap {args.chunk_overlap}); {n_questions} questions, up to "
        f"{args.questions_per_chunk} per chunk on {len(chosen)} chunks, by {model} "
        f"via {backend.identity['backend']} (prompt sha256 {qprompt.sha256[:12]}, seed {args.seed}, "
        f"temperature {args.temperature}). Machine-written questions: read some before trusting scores. "
        f"Full record: {targets.name}/{outputs.SIDECAR}.")
    command = command_line(args, "{data_dir}", targets.card_dir)
    cards = [outputs.write_card(targets, targets.name, "llamaindex-json", split_files, description, command)]
    if answers:
        qa_description = description.replace("questions,", "questions with answers,")
        cards.append(outputs.write_card(targets, f"{targets.name}-qa", "csv-qa", csv_files, qa_description,
                                        command))
    outputs.write_sidecar(targets, {
        "schema": "generation/v1", "name": targets.name, "kind": "from-pdf", "created_at": _now(),
        "command": command.replace("{data_dir}", shlex.quote(str(targets.data_dir))),
        "extractor": {"library": "pypdf", "version": pypdf_version(),
                      "whitespace": "collapsed to single spaces"},
        "chunking": {"unit": "words (whitespace-separated)", "size": args.chunk_words,
                     "overlap": args.chunk_overlap, "across_pages": True, "sample": args.sample,
                     "sampling_rule": "evenly spaced indices", "corpus": args.corpus},
        "questions_per_chunk": args.questions_per_chunk, "question_filter": args.question_filter,
        "parsing": "LlamaIndex generate_qa_embedding_pairs: split lines, strip ^\\d+[).\\s], "
                   "drop blanks, keep N",
        "sources": sources, "splits": counts, "extract_s": round(extract_s, 1),
        "generator": _generator_record(backend, jobs, stats, prompts),
        "files": {rel: sha256_file(targets.data_dir / rel)
                  for rel in [*split_files.values(), *csv_files.values()]},
    })
    _report(targets, cards, counts, stats)
    return 0


def _report(targets: outputs.Targets, cards: list[Path], counts: dict[str, Any],
            stats: dict[str, Any]) -> None:
    for split, c in counts.items():
        print(f"{targets.name}/{split}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    for kind, s in stats.items():
        print(f"{kind}: {s['ok']} ok ({s['generated']} generated, {s['from_cache']} from cache), "
              f"{s['failed']} failed ({s['generate_s']} s)")
    print(f"data: {targets.folder}\ncard(s): {', '.join(map(str, cards))}")
    hints = outputs.visibility_hints(targets)
    if hints:
        print("to use it with the harness:\n  " + "\n  ".join(hints))
    failed = sum(s["failed"] for s in stats.values())
    if failed:
        log.warning("%d item(s) failed and have no output (--allow-partial); run the same command "
                    "again with --overwrite to retry them", failed)


def answers_for(args: argparse.Namespace) -> int:
    from benchmarks.cards import load_card
    from benchmarks.loaders import load_split

    card = load_card(args.answers_for)
    targets = outputs.Targets.make(args.out, args.data_dir, args.card_dir, [args.out], args.overwrite)
    aprompt = load_prompt("answers", args.answer_prompt)
    splits = [args.split] if args.split else list(card.splits)
    pairs = {}  # split -> [(item id, question, passage, existing answer)]
    for split in splits:
        data = load_split(card, split)
        known = data.answers or {}
        rows = [(f"{split}/{qid}/{doc}", data.queries[qid], data.corpus[doc].full_text(), known.get(qid, ""))
                for qid in data.queries for doc, grade in sorted(data.qrels[qid].items())
                if grade >= card.eval.relevance_level]
        pairs[split] = [rows[i] for i in evenly_spaced(len(rows), args.sample)]
    todo = [(item, q, passage) for rows in pairs.values() for item, q, passage, old in rows
            if not old.strip()]
    backend = _backend(args)
    sampling = Sampling(args.answer_max_new_tokens, args.temperature, args.top_p)
    answer_of, astats, ajob = generate_answers(todo, backend, aprompt, sampling, args.seed, args.on_failure,
                                               not args.quiet)
    refused = _failure_gate({"answers": astats.as_dict()}, args.allow_partial)
    if refused:
        print(f"error: {refused}", file=sys.stderr)
        return 1
    if args.overwrite:
        targets.clear()
    files, counts = {}, {}
    for split, rows in pairs.items():
        files[split] = f"{targets.name}/{split}.csv"
        outputs.write_qa_csv(targets.data_dir / files[split],
                             [(q, passage, old if old.strip() else answer_of.get(item, ""))
                              for item, q, passage, old in rows])
        counts[split] = {"pairs": len(rows), "kept_existing_answers": sum(bool(r[3].strip()) for r in rows)}
    description = (f"Dataset {card.name} ({', '.join(splits)}) with answers written by "
                   f"{backend.identity.get('model', '?')} via {backend.identity['backend']} for "
                   f"{len(todo)} (question, passage) pairs (prompt sha256 {aprompt.sha256[:12]}); existing "
                   f"non-empty answers kept. Full record: {targets.name}/{outputs.SIDECAR}.")
    command = command_line(args, "{data_dir}", targets.card_dir)
    cards = [outputs.write_card(targets, targets.name, "csv-qa", files, description, command)]
    outputs.write_sidecar(targets, {
        "schema": "generation/v1", "name": targets.name, "kind": "answers-for", "created_at": _now(),
        "command": command.replace("{data_dir}", shlex.quote(str(targets.data_dir))),
        "source_dataset": {"name": card.name, "version": card.version, "card": card.card_label,
                           "splits": splits},
        "sample": args.sample, "splits": counts,
        "generator": _generator_record(backend, {"answers": ajob}, {"answers": astats.as_dict()},
                                       {"answers": _prompt_record(aprompt)}),
        "files": {rel: sha256_file(targets.data_dir / rel) for rel in files.values()},
    })
    _report(targets, cards, counts, {"answers": astats.as_dict()})
    return 0
