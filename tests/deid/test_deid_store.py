"""DicomWebSource.store(deidentify=...) sends what Deidentifier.dataset makes, to a real Orthanc."""

from __future__ import annotations

import io

import pydicom
import pytest

from medwb.deid import Deidentifier, PseudonymMap

from .corpus import CORPUS, MRN, base_ct


@pytest.fixture
def pacs(tmp_path):
    from medwb.io.dicomweb.orthanc import LocalOrthanc, find_orthanc

    _, why = find_orthanc()
    if why:
        pytest.skip(f"no real Orthanc: {why}")
    server = LocalOrthanc(tmp_path / "orthanc").start()
    try:
        yield server
    finally:
        server.stop(graceful=False)


@pytest.mark.pacs
def test_store_with_deidentify_sends_only_deidentified_objects(pacs, tmp_path):
    import requests

    from medwb.io.dicomweb import DicomWebSource

    image = base_ct(sop="1.2.826.0.1.3680043.8.498.5")
    report, planted = CORPUS["SR text value, person name, date"]()
    mapping = PseudonymMap(prefix="RES")
    source = DicomWebSource(pacs.dicomweb_url, cache=tmp_path / "cache", username=pacs.username,
                            password=pacs.password, config_path=tmp_path / "no-config.json", retries=1)
    sent = source.store([image, report], deidentify=Deidentifier(mapping), progress=False)
    assert sent["stored"].all()
    expected = {str(d.SOPInstanceUID) for d in Deidentifier(mapping).datasets([image, report])}
    assert set(sent["sop_uid"]) == expected  # the same mapping gives the same UIDs: it went through dataset()
    ids = requests.get(f"{pacs.url}/instances", auth=pacs.auth, timeout=30).json()
    stored = [requests.get(f"{pacs.url}/instances/{i}/file", auth=pacs.auth, timeout=30).content for i in ids]
    assert len(stored) == 2
    for raw in stored:
        text = raw.decode("latin-1").lower()
        assert [s for s in [*planted, "St Mercy"] if s.lower() in text] == []
    sr = next(pydicom.dcmread(io.BytesIO(b), force=True) for b in stored if b"ANONYMIZED" in b)
    assert sr.PatientID == "RES-0001" and sr.ContentSequence[0].TextValue == "ANONYMIZED"
    assert MRN not in str(sr)
