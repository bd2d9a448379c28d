"""``python -m benchmarks.generate ...``: the generate command without the rest of the CLI.

Same options as ``python harness.py generate``; used by benchmarks/perf/generate_10k.py so
the acceptance run does not depend on how the main CLI is wired.
"""
from __future__ import annotations

import argparse
import logging
import sys

from benchmarks.errors import HarnessError
from benchmarks.generate.cli import add_generate_parser, cmd_generate
from benchmarks.openai_client import install_log_redaction, redact


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generate")
    add_generate_parser(parser.add_subparsers(dest="command", required=True), common)
    args = parser.parse_args(["generate", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    install_log_redaction()
    try:
        return cmd_generate(args)
    except HarnessError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished items are cached; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
