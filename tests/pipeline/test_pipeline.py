"""The cohort pipeline: a real 2-process LocalCluster gives exactly the in-process results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medwb.pipeline import STEPS, PipelineResult, PipelineWarning, run_pipeline
from medwb.provenance import pixel_hash

torch = pytest.importorskip("torch")

N_GOOD = 5  # tests/pipeline/conftest.py: 5 demo cases + 2 broken ones

# columns that legitimately differ between runs: timings, which process ran a case, wall-clock stamps
_VOLATILE = ("time_", "elapsed_s", "worker", "prov_created_at")


def _stable(table: pd.DataFrame) -> pd.DataFrame:
    return table[[c for c in table.columns if not c.startswith(_VOLATILE)]]


def test_distributed_run_matches_in_process_run_exactly(inproc, distributed_run):
    a, b = _stable(inproc.results), _stable(distributed_run.results)
    assert list(a["case_id"]) == list(b["case_id"])
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_predictions_and_features_are_present_for_good_cases(inproc):
    ok = inproc.ok
    assert len(ok) == N_GOOD
    assert ok["prob"].between(0, 1).all() and ok["predicted"].isin([0, 1]).all()
    lesion = ok[ok["shape_volume_mm3"].notna()]
    assert len(lesion) >= 1, "demo cases with a lesion mask should get shape features"
    assert lesion["attr_mass_in_mask"].between(0, 1).all()


def test_attribution_files_are_byte_identical_across_engines(inproc, distributed_run):
    for cid in inproc.ok["case_id"]:
        a = np.load(inproc.out_dir / inproc.ok.set_index("case_id").loc[cid, "attribution_path"])
        b = np.load(distributed_run.out_dir / distributed_run.ok.set_index("case_id").loc[cid, "attribution_path"])
        assert a.dtype == np.float32 and a.tobytes() == b.tobytes()
        assert np.abs(a).sum() > 0


def test_attribution_lies_on_the_image_grid_and_preprocessed_on_the_model_grid(inproc, small_cohort):
    cid = inproc.ok["case_id"].iloc[0]
    image = small_cohort.volume(cid)
    att = inproc.attribution_volume(cid)
    assert att.same_grid(image)
    model_input = inproc.preprocessed(cid)
    assert model_input.shape == (32, 32, 32) and model_input.spacing == pytest.approx((4.0, 4.0, 4.0))
    assert 0.0 <= float(model_input.array.min()) and float(model_input.array.max()) <= 1.0


def test_failed_cases_are_reported_and_the_rest_complete(inproc, distributed_run):
    for res in (inproc, distributed_run):
        f = res.failures.set_index("case_id")
        assert sorted(f.index) == ["broken-corrupt", "broken-missing"]
        assert (f["step"] == "load").all()
        assert "no-such-series" in f.loc["broken-missing", "error"]
        assert f["traceback"].str.contains("Traceback").all()
        assert (res.results.set_index("case_id").loc[f.index, "status"] == "failed").all()
        assert len(res.ok) == N_GOOD


def test_two_worker_processes_shared_the_cases(inproc, distributed_run):
    assert distributed_run.results["worker"].nunique() == 2
    assert inproc.results["worker"].nunique() == 1
    assert distributed_run.run["engine"].startswith("dask tcp://")
    assert (distributed_run.results["worker_peak_rss_mb"] > 0).all()


def test_results_hold_file_references_not_arrays(inproc):
    t = inproc.results
    for col in t.columns:
        assert not t[col].map(lambda v: isinstance(v, np.ndarray)).any(), col
    for rel in t["attribution_path"].dropna().tolist() + t["preprocessed_path"].dropna().tolist():
        assert not str(rel).startswith("/") and (inproc.out_dir / rel).exists()
    assert np.load(inproc.out_dir / t["attribution_path"].dropna().iloc[0], mmap_mode="r").ndim == 3


def test_run_folder_reopens_with_the_same_tables(inproc):
    again = PipelineResult.load(inproc.out_dir)
    pd.testing.assert_frame_equal(again.results[["case_id", "status", "prob"]],
                                  inproc.results[["case_id", "status", "prob"]], check_exact=True)
    assert list(again.failures["case_id"]) == list(inproc.failures["case_id"])
    assert again.run["params"]["explain_method"] == "saliency"


def test_every_case_has_a_provenance_sidecar_matching_its_row(inproc, small_cohort, net):
    from medwb.models import state_fingerprint

    for _, row in inproc.results.iterrows():
        prov = inproc.provenance(row["case_id"])
        assert prov["run"]["seed"] == 0 and prov["run"]["params"]["steps"] == list(STEPS)
        assert prov["model"]["weights_hash"] == row["prov_weights_hash"] == state_fingerprint(net)
        if row["status"] == "ok":
            vol = small_cohort.volume(row["case_id"])
            assert prov["data"]["pixel_hash"] == row["prov_pixel_hash"] == pixel_hash(vol)
            assert prov["data"]["series_uid"] == row["prov_series_uid"] == vol.meta["series_uid"]
        else:
            assert prov["extra"]["failure"]["failed_step"] == "load"
    assert "TeachingNet3D" in inproc.describe(inproc.ok["case_id"].iloc[0])


def test_model_object_and_checkpoint_give_identical_predictions(small_cohort, net, pp, checkpoint, tmp_path):
    ids = small_cohort.case_ids[:2]
    a = run_pipeline(small_cohort, net, preprocess=pp, steps=("predict",), case_ids=ids,
                     out_dir=tmp_path / "a", progress=False)
    b = run_pipeline(small_cohort, checkpoint, steps=("predict",), case_ids=ids, out_dir=tmp_path / "b",
                     progress=False)
    assert a.results["prob"].tolist() == b.results["prob"].tolist()
    assert "attribution_path" not in a.results and "shape_volume_mm3" not in a.results


def test_scheduler_address_runs_on_that_cluster(small_cohort, checkpoint, cluster_client, tmp_path):
    res = run_pipeline(small_cohort, checkpoint, steps=("predict",), case_ids=small_cohort.case_ids[:2],
                       out_dir=tmp_path, client=cluster_client.scheduler.address, progress=False)
    assert res.run["engine"] == f"dask {cluster_client.scheduler.address}"
    assert len(res.ok) == 2


def test_unknown_step_is_refused_with_the_valid_steps(small_cohort, checkpoint, tmp_path):
    with pytest.raises(ValueError, match="load, preprocess, predict, explain, features"):
        run_pipeline(small_cohort, checkpoint, steps=("predict", "segment"), out_dir=tmp_path)


def test_a_model_that_is_not_a_model_is_refused_with_a_fix(small_cohort, tmp_path):
    with pytest.raises(TypeError, match="checkpoint path"):
        run_pipeline(small_cohort, 42, out_dir=tmp_path)


def test_a_broken_case_inside_a_batch_leaves_its_neighbours_intact(small_cohort, checkpoint, inproc, tmp_path):
    ids = small_cohort.case_ids[:4]  # two good, the corrupt one, one good: batches of 3 mix them
    with pytest.warns(PipelineWarning, match="1 of 4 case"):
        res = run_pipeline(small_cohort, checkpoint, steps=("predict",), case_ids=ids, batch_size=3,
                           out_dir=tmp_path, device="cpu", progress=False)
    assert res.failures["case_id"].tolist() == ["broken-corrupt"]
    ref = inproc.results.set_index("case_id").loc[res.ok["case_id"], "prob"].to_numpy()
    np.testing.assert_allclose(res.ok["prob"].to_numpy(), ref, rtol=0, atol=1e-6)


def test_a_model_that_cannot_be_built_fails_every_case_at_step_model(small_cohort, net, tmp_path):
    import shutil

    from medwb.models import save_checkpoint
    from medwb.pipeline import as_model_source, clear_model_cache

    path = save_checkpoint(tmp_path / "gone.pt", net)
    source = as_model_source(path)
    shutil.move(path, tmp_path / "moved.pt")
    clear_model_cache()
    with pytest.warns(PipelineWarning, match="step 'model'"):
        res = run_pipeline(small_cohort, source, steps=("predict",), case_ids=small_cohort.case_ids[:2],
                           out_dir=tmp_path / "run", progress=False)
    assert res.failures["step"].tolist() == ["model", "model"]
    assert res.failures["error"].str.contains("gone.pt").all()


class _PlainNet(torch.nn.Module):  # not in MODEL_REGISTRY: travels pickled
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, 3)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3, 4))


def test_an_unregistered_model_class_travels_pickled(small_cohort, pp, tmp_path):
    from medwb.pipeline import as_model_source

    torch.manual_seed(0)
    model = _PlainNet()
    assert as_model_source(model).pickled
    res = run_pipeline(small_cohort, model, preprocess=pp, steps=("predict", "explain"),
                       case_ids=small_cohort.case_ids[:1], out_dir=tmp_path, progress=False)
    assert len(res.ok) == 1 and res.ok["prov_model_class"].iloc[0] == "_PlainNet"
    assert res.attribution(small_cohort.case_ids[0]).shape == small_cohort.volume(small_cohort.case_ids[0]).shape


def test_resume_reuses_completed_cases_and_retries_the_rest(small_cohort, checkpoint, tmp_path):
    ids = small_cohort.case_ids[:3]  # two good cases and the corrupt one
    kw = dict(steps=("predict", "explain", "features"), case_ids=ids, out_dir=tmp_path, device="cpu",
              progress=False)
    with pytest.warns(PipelineWarning):
        first = run_pipeline(small_cohort, checkpoint, **kw)
    with pytest.warns(PipelineWarning):
        again = run_pipeline(small_cohort, checkpoint, resume=True, **kw)
    assert again.run["n_reused"] == 2 and again.run["n_failed"] == 1
    pd.testing.assert_frame_equal(_stable(again.results), _stable(first.results), check_exact=True,
                                  check_dtype=False)
    with pytest.warns(PipelineWarning):
        other_seed = run_pipeline(small_cohort, checkpoint, resume=True, seed=1, **kw)
    assert other_seed.run["n_reused"] == 0


def test_each_worker_builds_the_model_once(distributed_run, cluster_client):
    from medwb.pipeline.model_source import build_count

    assert distributed_run.run["n_cases"] == 7
    builds = cluster_client.run(build_count)
    assert len(builds) == 2 and set(builds.values()) == {1}, builds


def test_case_ids_that_differ_only_in_unsafe_characters_get_their_own_files():
    from medwb.pipeline.case import safe_name

    names = {safe_name(c) for c in ["a/b", "a_b", "a b", "../a_b"]}
    assert len(names) == 4 and all("/" not in n and not n.startswith(".") for n in names)
    assert safe_name("case-007") == "case-007"  # the demo's ids keep their names (resume finds old outputs)
