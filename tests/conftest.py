"""Shared fixtures. The demo cohort is built once (by ./setup.sh, into data/demo) and reused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("MEDWB_DEMO_DIR", str(REPO / "data" / "demo"))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def demo_cohort():
    """The default demo cohort (built by set-up; built here if missing)."""
    import medwb

    return medwb.demo.load_cohort()
