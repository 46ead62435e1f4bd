"""A tiny cohort on disk (NIfTI images and masks + a manifest with a names column) for widget tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import medwb


def make_tiny_cohort(folder, n=4):
    rows = []
    for i in range(n):
        z, y, x = np.mgrid[:8, :16, :16]
        hu = (np.sin(x / (2.0 + i)) * 100 + 20 * i).astype(np.int16)
        vol = medwb.Volume.from_geometry(hu, spacing=(2.0, 1.0, 1.0), modality="CT")
        mask = np.zeros(hu.shape, np.uint8)
        mask[3:5, 4 + i:8 + i, 4:8] = 1
        medwb.save_nifti(vol, folder / f"case-{i}.nii.gz")
        medwb.save_nifti(vol.with_array(mask), folder / f"case-{i}-mask.nii.gz")
        rows.append({"case_id": f"case-{i}", "patient_name": f"DOE^JOHN{i}", "PatientName": "X",
                     "image": f"case-{i}.nii.gz", "mask": f"case-{i}-mask.nii.gz",
                     "age": 50 + 7 * i, "sex": "MF"[i % 2], "label": i % 2, "time": 100.0 + i, "event": 1})
    manifest = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return medwb.Cohort.from_manifest(manifest)


@pytest.fixture
def tiny_cohort(tmp_path):
    return make_tiny_cohort(tmp_path)


@pytest.fixture(autouse=True)
def _teaching_off():
    """Every test starts (and leaves) with the global teaching switch off."""
    from medwb.widgets import set_teaching

    set_teaching(False)
    yield
    set_teaching(False)
