"""A real Orthanc PACS (Debian orthanc + orthanc-dicomweb) for the DICOMweb tests.

``orthanc``: one server for the whole session, loaded once with ``pacs_cases``.
``fresh_orthanc``: a server of the test's own (for stopping, restarting, storing into), same cases.
Both skip with the reason when the Orthanc binary or its DICOMweb plugin is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from medwb import Volume
from medwb.export.series import write_series


@dataclass
class Case:
    patient_id: str
    modality: str
    study_date: str
    volume: Volume
    folder: Path
    files: list[Path]
    study_uid: str = ""
    series_uid: str = ""


def _make_cases(root: Path) -> list[Case]:
    """Three small series with distinct geometry (one oblique, one RLE-compressed MR), by write_series."""
    import pydicom

    rng = np.random.default_rng(7)
    specs = [("PACS-001", "CT", "20260105", (2.5, 0.8, 0.8), None, "explicit"),
             ("PACS-002", "CT", "20250610", (3.0, 0.7, 0.9), 0.3, "explicit"),
             ("PACS-003", "MR", "20240302", (4.0, 1.0, 1.0), None, "rle")]  # compressed: kept as stored
    cases = []
    for pid, mod, date, spacing, angle, syntax in specs:
        direction = None
        if angle is not None:  # oblique: rotate about the LPS x axis
            c, s = np.cos(angle), np.sin(angle)
            rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
            direction = rot @ np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
        lo, hi = (-1024, 2000) if mod == "CT" else (0, 4000)
        arr = rng.integers(lo, hi, (10, 24, 28)).astype(np.int16)
        vol = Volume.from_geometry(arr, spacing, origin=(-20.0, 10.0, 35.0), direction=direction, modality=mod)
        folder = root / pid
        files = write_series(vol, folder, patient_id=pid, patient_name=f"TEST^{pid}", study_date=date,
                             uid_seed=pid, instance_order=rng.permutation(10).tolist(), transfer_syntax=syntax)
        ds = pydicom.dcmread(files[0], stop_before_pixels=True)
        cases.append(Case(pid, mod, date, vol, folder, files, str(ds.StudyInstanceUID),
                          str(ds.SeriesInstanceUID)))
    return cases


def _server(directory: Path):
    """A started LocalOrthanc; skips only when Orthanc is not installed (a failed start is a failure)."""
    from medwb.io.dicomweb.orthanc import LocalOrthanc, find_orthanc

    _, why = find_orthanc()
    if why:
        pytest.skip(f"no real Orthanc: {why}")
    return LocalOrthanc(directory).start()


def _upload(pacs, cases: list[Case]) -> None:
    import requests

    for case in cases:
        for f in case.files:
            r = requests.post(f"{pacs.url}/instances", data=f.read_bytes(), auth=pacs.auth, timeout=30)
            r.raise_for_status()


@pytest.fixture(scope="session")
def pacs_cases(tmp_path_factory) -> list[Case]:
    return _make_cases(tmp_path_factory.mktemp("pacs-cases"))


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory, pacs_cases):
    pacs = _server(tmp_path_factory.mktemp("orthanc"))
    try:
        _upload(pacs, pacs_cases)
        yield pacs
    finally:
        pacs.stop()


@pytest.fixture
def fresh_orthanc(tmp_path, pacs_cases):
    pacs = _server(tmp_path / "orthanc")
    try:
        _upload(pacs, pacs_cases)
        yield pacs
    finally:
        pacs.stop(graceful=False)  # its storage is thrown away with tmp_path


@pytest.fixture
def source_for(tmp_path):
    """source_for(pacs_or_url, **options) -> DicomWebSource with a fresh cache and fast backoff."""
    from medwb.io.dicomweb import DicomWebSource

    def make(server, url: str | None = None, **options):
        opts = dict(cache=tmp_path / "cache", username=server.username, password=server.password,
                    config_path=tmp_path / "no-config.json", backoff=0.01, retries=2, timeout=(2.0, 10.0))
        opts.update(options)
        return DicomWebSource(url or server.dicomweb_url, **opts)

    return make
