"""The demo cohort through a real PACS: uploaded, queried, pulled back as a Cohort equal to the local one."""

from __future__ import annotations

import numpy as np
import pytest

from medwb.io.dicomweb import cohort_from_dicomweb

pytestmark = pytest.mark.pacs


def test_demo_cases_uploaded_to_orthanc_come_back_as_the_same_cohort(fresh_orthanc, demo_cohort, source_for):
    cases = demo_cohort.case_ids[:2]
    src = source_for(fresh_orthanc)
    files = [f for c in cases for f in sorted((demo_cohort.root / demo_cohort.row(c)["image"]).rglob("*.dcm"))]
    assert src.store(files, progress=False)["stored"].all()

    found = src.search_series(patient_id="DEMO-*", modality="CT")
    assert sorted(found["patient_id"]) == sorted(demo_cohort.row(c)["patient_id"] for c in cases)
    clinical = demo_cohort.table.loc[demo_cohort.table["case_id"].isin(cases),
                                     ["patient_id", "label", "age", "sex", "time", "event"]]
    pulled = cohort_from_dicomweb(src, {"patient_id": "DEMO-*", "modality": "CT"}, clinical, progress=False)
    assert pulled.problems.empty and len(pulled) == 2
    for case in cases:
        pid = demo_cohort.row(case)["patient_id"]
        remote, local = pulled.volume(pid), demo_cohort.volume(case)
        np.testing.assert_array_equal(remote.array, local.array)
        np.testing.assert_allclose(remote.affine, local.affine, atol=1e-5)
        assert pulled.row(pid)["label"] == demo_cohort.row(case)["label"]
        assert pulled.row(pid)["time"] == pytest.approx(demo_cohort.row(case)["time"])
