"""Fixtures of the de-identification tests (the crafted corpus itself is in corpus.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .corpus import STUDY_UID, base_ct, write


@pytest.fixture
def ct_folder(tmp_path: Path) -> Callable[..., list[Path]]:
    """ct_folder(n, name="in", **overrides per index) -> n crafted CT files of one patient in tmp/name."""
    def make(n: int = 3, name: str = "in", edits: dict[int, dict[str, object]] | None = None) -> list[Path]:
        files = []
        for i in range(n):
            ds = base_ct(sop=f"{STUDY_UID}.1.{i + 1}", pixels=i)
            ds.InstanceNumber = i + 1
            ds.ImagePositionPatient = [0, 0, float(i)]
            for k, v in ((edits or {}).get(i) or {}).items():
                setattr(ds, k, v)
            files.append(write(ds, tmp_path / name / f"IMG{i:03d}.dcm"))
        return files

    return make
