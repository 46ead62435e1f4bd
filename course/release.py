"""Build the medwb course's student release with nbgrader, in one command.

    python course/release.py                         # course directory: course/ (this folder)
    python course/release.py /tmp/my-course --notebooks 01 02

notebooks/ is the course's nbgrader *source*: its exercise cells carry nbgrader metadata (solution regions
between `### BEGIN SOLUTION` and `### END SOLUTION`, autograder test cells whose tests sit between
`### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`). Each notebook is one assignment, named after it. This
script copies each notebook to COURSE_DIR/source/<name>/<name>.ipynb (the layout nbgrader expects), puts
course/nbgrader_config.py into COURSE_DIR, and runs the standard `nbgrader generate_assignment <name>
--force` there. The student release is COURSE_DIR/release/<name>/<name>.ipynb: no solution, no hidden test,
no output. From then on the teacher uses nbgrader's own commands in COURSE_DIR (docs/teaching.md).

nbgrader is a Jupyter package, so this lives beside the library, not in medwb (which never imports one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOKS = HERE.parent / "notebooks"


def course_notebooks(only: list[str] | None = None, notebook_dir: Path = NOTEBOOKS) -> list[Path]:
    """The course's notebooks in order (NN_name.ipynb), or those whose names start with one of ``only``."""
    paths = sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) or p.name == o for o in only)]
        if not paths:
            raise SystemExit(f"no course notebook matches {only}. Fix: pass names or prefixes such as 01 02.")
    return paths


def nbgrader_env() -> dict[str, str]:
    """The environment for an nbgrader command: this Python's bin folder first on PATH (nbgrader runs the
    `alembic` command of its own environment, which is not on PATH when the venv is not activated)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def nbgrader(course_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGS`` in ``course_dir`` with this Python; exit with nbgrader's output if it fails."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    out = subprocess.run(cmd, cwd=course_dir, capture_output=True, text=True, env=nbgrader_env())
    if out.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed (exit {out.returncode}) in {course_dir}:\n"
                         f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def build_release(course_dir: Path, notebooks: list[Path]) -> list[Path]:
    """Lay out ``notebooks`` as nbgrader source in ``course_dir`` and generate each student release."""
    course_dir = Path(course_dir).resolve()
    course_dir.mkdir(parents=True, exist_ok=True)
    config = course_dir / "nbgrader_config.py"
    if config.resolve() != (HERE / "nbgrader_config.py"):
        shutil.copyfile(HERE / "nbgrader_config.py", config)
    released = []
    for nb in notebooks:
        name = nb.stem
        source = course_dir / "source" / name
        source.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(nb, source / nb.name)
        nbgrader(course_dir, "generate_assignment", name, "--force", "--log-level=WARN")
        released.append(course_dir / "release" / name / nb.name)
    return released


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("course_dir", nargs="?", default=str(HERE), help="the nbgrader course directory")
    ap.add_argument("--notebooks", nargs="*", default=None, metavar="NAME", help="names or prefixes (default: all)")
    args = ap.parse_args(argv)
    for path in build_release(Path(args.course_dir), course_notebooks(args.notebooks)):
        print(f"student release: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
