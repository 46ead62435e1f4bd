"""House rules that keep medwb usable: a light import, a headless core, ruff-clean code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "captum", "lifelines", "sksurv", "pandas", "pydicom", "SimpleITK", "highdicom",
         "matplotlib", "skimage", "scipy", "nibabel", "ipywidgets", "IPython"]


def test_import_medwb_loads_no_heavy_package():
    code = f"import sys, medwb; heavy = {HEAVY!r}; print(','.join(m for m in heavy if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import medwb pulled in: {out.stdout.strip()}"


def test_public_names_resolve():
    import medwb

    for name in medwb.__all__:
        assert getattr(medwb, name) is not None, name


def test_core_never_imports_a_jupyter_package():
    pattern = re.compile(r"^\s*(import|from)\s+(ipywidgets|IPython|ipyniivue|itkwidgets|anywidget|jupyter\w*)\b",
                         re.M)
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "medwb").rglob("*.py") if pattern.search(p.read_text())]
    assert not offenders, f"medwb/ is headless; these import a Jupyter package: {offenders}"


def test_code_is_ruff_clean():
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run([str(ruff), "check", "medwb", "widgets", "tests", "bench"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
