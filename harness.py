#!/usr/bin/env python
"""Thin command-line entry point; all logic lives in benchmarks.cli."""
import sys

from benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
