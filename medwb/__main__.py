"""Command line: ``python -m medwb demo DIR`` builds the demo cohort (idempotent)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medwb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build the demo cohort into DIR (skipped when already built)")
    demo.add_argument("directory")
    demo.add_argument("--n-cases", type=int, default=None)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--force", action="store_true", help="rebuild even when DIR holds this build")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from medwb import demo as demo_mod

        kwargs = {} if args.n_cases is None else {"n_cases": args.n_cases}
        demo_mod.build_cohort(args.directory, seed=args.seed, force=args.force, **kwargs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
