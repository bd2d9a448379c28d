"""Command line: run suites, list what exists, rebuild the leaderboard, evaluate run files.

Usage::

    python harness.py --suite beir-scifact          # run a suite (same as: run --suite ...)
    python harness.py list                          # suites, datasets, retrievers
    python harness.py leaderboard                   # rebuild leaderboard.md from results/
    python harness.py leaderboard --format html     # ... or leaderboard.html (also csv, json, latex)
    python harness.py evaluate --qrels Q --run R --metrics ndcg@10,mrr@10 --format json
    python harness.py validate                      # check every suite and dataset card
    python harness.py generate --from-pdf DIR --out NAME   # questions (and answers) from PDFs
    python harness.py compare SUITE DATASET ROW_A ROW_B     # the queries where two rows differ most
    python harness.py leakage llamaindex-10k        # what the train split shares with the evaluated one
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from benchmarks.errors import HarnessError
from benchmarks.generate.cli import add_generate_parser, cmd_generate  # light: imports no torch
from benchmarks.compare import add_compare_parser, cmd_compare  # light too
from benchmarks.leakage_report import add_leakage_parser, cmd_leakage  # light too

# OpenMP threads that spin while waiting made torch ~10x slower on a busy 2-core machine
# (measured on MiniLM encoding); must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

COMMANDS = ("run", "list", "leaderboard", "evaluate", "validate", "generate", "compare", "leakage")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def positive_int(text: str) -> int:
    """argparse type for counts: -3 silently dropped the last 3 queries, 0 was ignored."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--results-dir", type=Path, default=Path("results"),
                        help="where result records are written and read (default: results/)")
    common.add_argument("--leaderboard", type=Path, default=Path("leaderboard.md"),
                        help="leaderboard file to regenerate (default: leaderboard.md)")
    common.add_argument("-q", "--quiet", action="count", default=0,
                        help="no progress bars or library logs, but still one line per row; "
                        "-qq: no per-row lines either (warnings and errors only)")

    parser = argparse.ArgumentParser(
        prog="harness.py",
        description="Benchmark embedding retrievers and their fine-tunes on retrieval datasets; "
        "write one result record per (suite, dataset, retriever) and a leaderboard with "
        "confidence intervals and significance against the suite's baseline.",
        epilog="With no command, '--suite NAME' runs that suite. Environment: HARNESS_DATA_PATH "
        "(colon-separated data folders), HARNESS_CACHE_DIR (embeddings and trained artifacts).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run one or more suites (the default command)",
                         description="Train what needs training, retrieve, evaluate, write records, "
                         "regenerate the leaderboard. Exit 1 if any retriever failed, 2 on bad input.")
    run.add_argument("--suite", action="append", required=True, metavar="NAME",
                     help="suite name (benchmarks/suites/NAME.yaml) or path to a suite YAML; repeatable")
    run.add_argument("--retriever", action="append", default=[], metavar="ROW",
                     help="only this retriever row of the suite; repeatable")
    run.add_argument("--dataset", action="append", default=[], metavar="NAME",
                     help="only this dataset of the suite; repeatable")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                     help="where encoders run (default: auto = cuda when available)")
    run.add_argument("--retrain", action="store_true", help="train again even if a cached artifact exists")
    run.add_argument("--workers", type=positive_int, default=1, metavar="N",
                     help="encode in N processes (on a GPU machine, one per GPU); same vectors as 1 (default)")
    run.add_argument("--ray", action="store_true",
                     help="encode on Ray actors (pip install -e '.[ray]'): a local Ray, or the cluster at "
                     "$RAY_ADDRESS; --workers sets the actors (default: one per GPU, else 1)")
    run.add_argument("--limit-queries", type=positive_int, default=None, metavar="N",
                     help="evaluate only the first N queries of each dataset")
    run.add_argument("--no-leaderboard", action="store_true", help="do not regenerate the leaderboard")
    run.add_argument("--allow-endpoint", action="append", default=[], metavar="HOST",
                     help="let a suite's base_url name this API host (your $OPENAI_API_KEY is sent "
                     "there); repeatable")

    sub.add_parser("list", parents=[common], help="list suites, datasets and retrievers (imports no torch)")
    lb = sub.add_parser("leaderboard", parents=[common], help="regenerate the leaderboard from the results dir alone",
                        description="Rows are compared only with rows evaluated exactly alike; the others are "
                        "shown as stale with the reason and the command that refreshes them.")
    lb.add_argument("--prune", action="store_true",
                    help="delete stale records (and their sidecars) first, printing each one")
    lb.add_argument("--allow-empty", action="store_true",
                    help="write the leaderboard even when the results dir holds no records")
    lb.add_argument("--format", choices=("md", "csv", "json", "latex", "html"), default="md",
                    help="md (default): the Markdown leaderboard and its plots; csv / json: a row per retriever "
                    "with the records' exact numbers; latex: booktabs tables; html: one self-contained page")
    lb.add_argument("-o", "--output", type=Path, default=None,
                    help="file to write (default: --leaderboard, with .csv / .json / .tex / .html for those)")
    sub.add_parser("validate", parents=[common], help="check every suite and dataset card")

    ev = sub.add_parser("evaluate", parents=[common], help="score a run file against qrels",
                        description="Qrels: TREC ('qid 0 docid grade') or BEIR tsv. Run: TREC "
                        "('qid Q0 docid rank score tag', later fields ignored) or JSON {qid: {docid: "
                        "score}}. As trec_eval 10: '#' lines are comments; either file may be gzip'd; "
                        "'-' reads the run from stdin. A qrels query missing from the run scores 0 "
                        "(trec_eval -c).")
    ev.add_argument("--qrels", type=Path, required=True)
    ev.add_argument("--run", type=Path, required=True, help="run file, or - for stdin")
    ev.add_argument("-M", "--max-docs-per-query", type=int, default=None, metavar="N",
                    help="score only each query's first N documents (trec_eval -M)")
    ev.add_argument("--metrics", default="ndcg@10,mrr@10,hit_rate@10,recall@100",
                    help="comma-separated metrics, e.g. hit_rate@10,mrr@10 (default: %(default)s)")
    ev.add_argument("--relevance-level", type=int, default=1, help="grade from which a doc is relevant")
    ev.add_argument("--per-query", action="store_true", help="include per-query values in JSON output")
    ev.add_argument("--format", choices=["table", "json"], default="table")
    add_generate_parser(sub, common)
    add_compare_parser(sub, common)
    add_leakage_parser(sub, common)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from benchmarks.leaderboard_refresh import refresh_leaderboard
    from benchmarks.plan import plan
    from benchmarks.runner import RunOptions, SuiteRunner

    options = RunOptions(
        results_dir=args.results_dir, retrievers=args.retriever, datasets=args.dataset,
        device=args.device, progress=not args.quiet, retrain=args.retrain, limit_queries=args.limit_queries,
        argv=getattr(args, "argv", None),
        allow_endpoints=args.allow_endpoint, workers=args.workers, ray=args.ray,
    )
    # Check every suite before running any, so a typo in the second one costs nothing.
    checked = plan(args.suite, options)
    for text in checked.warnings:
        logging.getLogger("harness").warning("warning: %s", text)
    ok = all([SuiteRunner(planned, options).run() for planned in checked.suites])
    if not args.no_leaderboard:
        written = refresh_leaderboard(args.results_dir, args.leaderboard)
        logging.getLogger("harness").info("leaderboard %s %s", "written to" if written else "unchanged:", args.leaderboard)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_list(args: argparse.Namespace) -> int:
    from benchmarks.cards import list_cards, load_card
    from benchmarks.suites import list_suites, load_suite
    from retrievers import RETRIEVERS, describe

    print("Suites:")
    for name in list_suites():
        suite = load_suite(name)
        rows = ", ".join(r.name for r in suite.retrievers)
        print(f"  {name:18} datasets: {', '.join(d.key + '/' + d.split for d in suite.datasets)}; retrievers: {rows}")
    print("Datasets:")
    for name in list_cards():
        card = load_card(name)
        print(f"  {name:18} {card.format:16} splits: {', '.join(card.split_names())}")
    print("Retrievers:")
    names: dict[str, list[str]] = {}  # one line per plugin: its first name, then its aliases
    for name in RETRIEVERS.names():
        names.setdefault(RETRIEVERS.source(name), []).append(name)
    for first, *aliases in sorted(sorted(group, key=RETRIEVERS.registration_order) for group in names.values()):
        also = f" (also: {', '.join(aliases)})" if aliases else ""
        print(f"  {first:18} {describe(first)}{also}")
    return EXIT_OK


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from benchmarks.report import default_output, write_leaderboard
    from benchmarks.staleness import prune_stale

    if args.prune:
        for path, reason, removed in prune_stale(args.results_dir):
            print(f"pruned {path} ({len(removed)} file(s)): {reason}")
    out = args.output or default_output(args.leaderboard, args.format)
    write_leaderboard(args.results_dir, out, allow_empty=args.allow_empty, fmt=args.format)
    if args.quiet < 2:
        print(f"wrote {out} from {args.results_dir}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from benchmarks.cards import list_cards, load_card
    from benchmarks.plan import PlanError, plan
    from benchmarks.runner import RunOptions
    from benchmarks.suites import list_suites

    problems = []
    for name in list_cards():  # cards no suite uses are checked too
        try:
            load_card(name)
        except HarnessError as exc:
            problems.append(str(exc))
    try:
        checked = plan(list_suites(), RunOptions(results_dir=args.results_dir))  # what 'run' checks
        for text in checked.warnings:
            print(f"warning: {text}", file=sys.stderr)
    except PlanError as exc:
        problems += exc.problems
    if problems:
        raise PlanError(list(dict.fromkeys(problems)))
    print(f"ok: {len(list_suites())} suites, {len(list_cards())} dataset cards")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from benchmarks.errors import ConfigError, DataError
    from benchmarks.metrics import evaluate, parse_metrics
    from benchmarks.trec import limit_run, read_qrels, read_run

    metrics = [str(m) for m in parse_metrics(args.metrics)]
    if str(args.qrels) == str(args.run) == "-":
        raise ConfigError("--qrels and --run cannot both be read from stdin ('-')")
    if args.max_docs_per_query is not None and args.max_docs_per_query < 1:
        raise ConfigError(f"-M/--max-docs-per-query must be >= 1, got {args.max_docs_per_query}")
    run = read_run(args.run)
    if not run:  # trec_eval refuses an empty run too; scoring it would print zeros with exit 0
        raise DataError(f"{args.run}: no results in the run (an empty file or pipe?); nothing to score")
    if args.max_docs_per_query is not None:
        run = limit_run(run, args.max_docs_per_query)
    ev = evaluate(read_qrels(args.qrels), run, metrics, relevance_level=args.relevance_level)
    if args.format == "json":
        out = {
            "metrics": ev.metrics, "n_queries": ev.n_queries,
            "excluded_no_relevant": len(ev.excluded_no_relevant), "missing_in_run": len(ev.missing_in_run),
            "qrels": str(args.qrels), "run": str(args.run),
        }
        if args.per_query:
            out["per_query"] = ev.per_query
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        for m in metrics:
            print(f"{m:16} {ev.metrics[m]:.4f}")
        print(f"{'queries':16} {ev.n_queries} (excluded, no relevant: {len(ev.excluded_no_relevant)}; "
              f"missing from run, scored 0: {len(ev.missing_in_run)})")
    return EXIT_OK


def configure_output(quiet: int) -> None:
    """Our log lines at INFO; libraries only at WARNING (their INFO chatter about loading weights
    drowns the results). -q keeps the one line per row (harness.rows) but silences the rest and
    every tqdm bar, ours and theirs; -qq silences the per-row lines too."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("harness").setLevel(logging.WARNING if quiet else logging.INFO)
    logging.getLogger("harness.rows").setLevel(logging.WARNING if quiet >= 2 else logging.INFO)
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    from benchmarks.openai_client import install_log_redaction

    install_log_redaction()  # no log line carries an API key, whoever logs it


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    given = list(argv)  # recorded in each record: the command line that produced it
    if argv and argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv.insert(0, "run")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    args.argv = given
    configure_output(args.quiet)
    handler = {"run": cmd_run, "list": cmd_list, "leaderboard": cmd_leaderboard,
               "evaluate": cmd_evaluate, "validate": cmd_validate, "generate": cmd_generate,
               "compare": cmd_compare,
               "leakage": cmd_leakage}[args.command]
    try:
        return handler(args)
    except HarnessError as exc:
        from benchmarks.openai_client import redact

        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: records already written are complete; re-run to resume from the cache",
              file=sys.stderr)
        return 130
