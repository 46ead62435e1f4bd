"""Command line: ``python -m medwb demo DIR`` builds the demo cohort (idempotent);
``python -m medwb report OUT_DIR`` runs the tutorials headless and writes an HTML report."""

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
    report = sub.add_parser("report", help="run the tutorials on the demo cohort (no JupyterLab) and write "
                            "OUT_DIR/index.html with one HTML page per notebook")
    report.add_argument("out_dir")
    report.add_argument("--notebooks", nargs="*", default=None, metavar="NAME",
                        help="names or prefixes, e.g. --notebooks 01 04 (default: all)")
    report.add_argument("--notebook-dir", default=None, help="folder of the notebooks (default: notebooks/)")
    report.add_argument("--timeout", type=int, default=600, help="seconds any one cell may take")
    args = parser.parse_args(argv)
    if args.command == "report":
        from pathlib import Path

        from medwb.report import build_report

        runs = build_report(args.out_dir, args.notebooks, notebook_dir=args.notebook_dir, timeout=args.timeout)
        for run in runs:
            status = "ok" if run.ok else f"FAILED: {run.error}"
            print(f"{run.path.stem:<24} {run.seconds:7.1f} s {run.peak_rss / 2**20:7.0f} MiB  {status}")
        print(f"report: {Path(args.out_dir).resolve() / 'index.html'}")
        return 0 if all(r.ok for r in runs) else 1
    if args.command == "demo":
        from medwb import demo as demo_mod

        kwargs = {} if args.n_cases is None else {"n_cases": args.n_cases}
        demo_mod.build_cohort(args.directory, seed=args.seed, force=args.force, **kwargs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
