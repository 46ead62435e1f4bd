"""Binder builds from binder/ alone: a fresh virtual environment made only from binder/requirements.txt and
binder/postBuild (no setup.sh, no dev extra) runs every tutorial on the demo cohort, with the CPU torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"


def test_binder_files_are_what_repo2docker_reads():
    assert (BINDER / "apt.txt").is_file() and (BINDER / "requirements.txt").is_file()
    assert os.access(BINDER / "postBuild", os.X_OK), "repo2docker runs postBuild only when it is executable"
    reqs = [ln.strip() for ln in (BINDER / "requirements.txt").read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]
    assert not [r for r in reqs if r.lower().startswith(("torch", "captum"))] and "torch" not in reqs[-1], \
        "torch comes from PyTorch's CPU index in postBuild; from PyPI it would be the CUDA build"
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime.startswith("python-3.") and int(runtime.split(".")[1]) >= 10, runtime
    apt = [ln.split("#")[0].strip() for ln in (BINDER / "apt.txt").read_text().splitlines()]
    assert all(" " not in p for p in apt), "apt.txt holds one Debian package per line"
    assert "invesalius-examples" in apt, "the demo cohort's real anatomy comes from this package"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


@pytest.mark.slow
@pytest.mark.binder
@pytest.mark.timeout(1500)
def test_fresh_venv_from_binder_files_runs_every_notebook(demo_cohort, tmp_path):
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               MEDWB_BINDER_OFFLINE="1",                  # no itkwidgets: its viewer needs the web
               MEDWB_DEMO_DIR=str(demo_cohort.root))      # reuse the built cohort; postBuild only opens it

    def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([str(c) for c in cmd], cwd=REPO, env=env, capture_output=True, text=True)
        assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out

    base = getattr(sys, "_base_executable", sys.executable)
    run(base, "-m", "venv", venv)
    try:
        _build_and_run_notebooks(venv, run, tmp_path)
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # ~2.5 GB; pytest keeps old tmp folders around


def _build_and_run_notebooks(venv: Path, run, tmp_path: Path) -> None:
    py = _venv_python(venv)
    run(py, "-m", "pip", "install", "-q", "-r", BINDER / "requirements.txt")
    run("bash", BINDER / "postBuild")
    run(py, "-m", "pip", "check")
    probe = run(py, "-c", "import torch, medwb, sys; print(torch.__version__, torch.version.cuda, sys.prefix)")
    version, cuda, prefix = probe.stdout.split()
    assert version.startswith("2.13.0") and cuda == "None" and Path(prefix) == venv
    nbs = sorted((REPO / "notebooks").glob("*.ipynb"))
    out = tmp_path / "report"
    run(py, "-m", "medwb", "report", out)   # executes every notebook with a kernel of this venv's python
    summary = json.loads((out / "summary.json").read_text())
    assert Path(summary["python"]).parent == venv / "bin"
    assert {Path(n["kernel_python"]).parent for n in summary["notebooks"]} == {venv / "bin"}
    assert [n["notebook"] for n in summary["notebooks"]] == [p.name for p in nbs]
    failed = {n["notebook"]: n["error"] for n in summary["notebooks"] if not n["ok"]}
    assert not failed
    assert all(n["figures"] >= 1 for n in summary["notebooks"]), "every tutorial shows a figure"
