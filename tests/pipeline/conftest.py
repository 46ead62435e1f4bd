"""A small cohort (5 demo cases + 2 broken ones), a seeded tiny checkpoint, and one run per engine.

The exactness reference runs on CPU (device="cpu") even on a GPU machine; CUDA has its own test.
"""

from __future__ import annotations

import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from medwb.cohort import Cohort  # noqa: E402
from medwb.models import Preprocess, TeachingNet3D, save_checkpoint, seed_everything  # noqa: E402

N_GOOD = 5
PP = Preprocess(window="brain", spacing=4.0, shape=(32, 32, 32))


@pytest.fixture(scope="session")
def small_cohort(demo_cohort, tmp_path_factory):
    """The first N_GOOD demo cases (absolute paths) plus a corrupt image and a missing one."""
    root = tmp_path_factory.mktemp("pipeline_cohort")
    corrupt = root / "corrupt.nii.gz"
    corrupt.write_bytes(b"this is not a NIfTI file" * 10)
    good = demo_cohort.table.head(N_GOOD).copy()
    for col in ("image", "mask"):
        good[col] = [str((demo_cohort.root / p).resolve()) for p in good[col]]
    broken = pd.DataFrame({"case_id": ["broken-corrupt", "broken-missing"],
                           "image": [str(corrupt), str(root / "no-such-series")],
                           "label": [0, 1]})
    table = pd.concat([good.iloc[:2], broken.iloc[:1], good.iloc[2:], broken.iloc[1:]], ignore_index=True)
    return Cohort(table, root=root, warn=False)


@pytest.fixture(scope="session")
def pp():
    return PP


@pytest.fixture(scope="session")
def net():
    seed_everything(0)
    return TeachingNet3D(width=4).eval()


@pytest.fixture(scope="session")
def checkpoint(net, tmp_path_factory):
    return save_checkpoint(tmp_path_factory.mktemp("pipeline_ckpt") / "net.pt", net, preprocess=PP, seed=0)


@pytest.fixture(scope="session")
def inproc(small_cohort, checkpoint, tmp_path_factory):
    from medwb.pipeline import run_pipeline

    with pytest.warns(UserWarning, match="2 of 7 case"):
        return run_pipeline(small_cohort, checkpoint, out_dir=tmp_path_factory.mktemp("run_local"), device="cpu")


@pytest.fixture(scope="session")
def cluster_client():
    pytest.importorskip("distributed")
    from medwb.pipeline import local_client

    client = local_client(n_workers=2, threads_per_worker=1, memory_limit="3GiB")
    yield client
    client.close()  # the client owns its LocalCluster: this stops the workers


@pytest.fixture(scope="session")
def distributed_run(small_cohort, checkpoint, cluster_client, tmp_path_factory):
    from medwb.pipeline import run_pipeline

    with pytest.warns(UserWarning, match="2 of 7 case"):
        return run_pipeline(small_cohort, checkpoint, out_dir=tmp_path_factory.mktemp("run_dask"),
                            client=cluster_client, device="cpu", progress=False)
