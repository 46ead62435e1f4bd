"""The pipeline on CUDA (runs only where torch sees a GPU, e.g. a lent machine via bench/gpu.sh)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_cuda_batched_run_agrees_with_the_cpu_run(inproc, small_cohort, checkpoint, tmp_path):
    from medwb.pipeline import run_pipeline

    with pytest.warns(UserWarning, match="case"):
        gpu = run_pipeline(small_cohort, checkpoint, out_dir=tmp_path, device="cuda", batch_size=4)
    assert gpu.run["batch_size"] == 4
    assert set(gpu.ok["prov_device"]) == {"cuda:0"}
    assert list(gpu.failures["case_id"]) == list(inproc.failures["case_id"])
    np.testing.assert_allclose(gpu.ok["prob"], inproc.ok["prob"], atol=1e-4)
    for cid in inproc.ok["case_id"]:
        a, b = np.asarray(inproc.attribution(cid)).ravel(), np.asarray(gpu.attribution(cid)).ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.99
