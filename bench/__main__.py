"""Run every benchmark: the imaging pipeline, then the network one when it is there."""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from bench import pipeline

    status = pipeline.main(args)
    try:
        network = importlib.import_module("bench.network")
    except ModuleNotFoundError as exc:
        if exc.name != "bench.network":
            raise
        return status
    run = getattr(network, "main", None)
    if callable(run):
        status = max(status, int(run([]) or 0))
    return status


if __name__ == "__main__":
    sys.exit(main())
