"""`python -m cityops.streams worker`: the same as `cityops worker` (settings from CITYOPS_*
variables)."""

from __future__ import annotations

import sys

from cityops.settings import load_settings
from cityops.streams.app import run_worker


def main(argv: list[str]) -> int:
    if argv[:1] != ["worker"]:
        print("usage: python -m cityops.streams worker", file=sys.stderr)
        return 2
    return run_worker(load_settings())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
