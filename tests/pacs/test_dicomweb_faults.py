"""Faults against a real Orthanc: a server stopped mid-retrieval, a slow server, flaky 503s, a cut stream.

Each ends in either a complete series or a clear error after bounded retries, never a half-written
file in the cache, and a rerun that resumes where the last one stopped.
"""

from __future__ import annotations

import numpy as np
import pytest

from medwb.io.dicom.series import load_series
from medwb.io.dicomweb import DicomWebConnectionError

from .proxy import FaultProxy

pytestmark = pytest.mark.pacs


@pytest.fixture
def proxy(orthanc):
    p = FaultProxy(orthanc.url)
    yield p
    p.close()


def _leftovers(folder):
    return sorted(p.name for p in folder.glob(".*.part")) if folder.exists() else []


def test_server_stopped_mid_retrieval_fails_cleanly_and_rerun_resumes(fresh_orthanc, pacs_cases, source_for):
    case = pacs_cases[0]
    src = source_for(fresh_orthanc, workers=1)

    def stop_after_three(done, total):
        if done == 3:
            fresh_orthanc.stop(graceful=False)  # as in a crash

    with pytest.raises(DicomWebConnectionError, match=r"failed 3 time\(s\)") as info:
        src.retrieve(case.study_uid, case.series_uid, mode="instances", progress=False,
                     on_instance=stop_after_three)
    assert "resumes" in str(info.value)
    folder = src.cache.series_dir(case.study_uid, case.series_uid)
    assert len(src.cache.cached_sops(case.study_uid, case.series_uid)) == 3
    assert not src.cache.is_complete(case.study_uid, case.series_uid)
    assert _leftovers(folder) == []

    fresh_orthanc.start()
    again = src.retrieve(case.study_uid, case.series_uid, progress=False)
    assert (again.n_cached, again.n_fetched) == (3, 7)
    np.testing.assert_array_equal(load_series(again.files).array, case.volume.array)


def test_slow_server_times_out_after_bounded_retries(orthanc, pacs_cases, source_for, proxy):
    proxy.delay = 1.0
    src = source_for(orthanc, url=f"{proxy.url}/dicom-web", timeout=(1.0, 0.25), retries=2)
    with pytest.raises(DicomWebConnectionError, match=r"failed 3 time\(s\).*(Timeout|timed out)"):
        src.search_series(patient_id="PACS-001")
    assert proxy.count("/dicom-web/series") == 3
    assert not src.cache.root.exists() or not any(src.cache.root.rglob("*.dcm"))


def test_slow_server_within_the_timeout_still_delivers(orthanc, pacs_cases, source_for, proxy):
    proxy.delay = 0.05
    case = pacs_cases[2]
    src = source_for(orthanc, url=f"{proxy.url}/dicom-web", timeout=(1.0, 5.0))
    np.testing.assert_array_equal(src.load_series(case.study_uid, case.series_uid, progress=False).array,
                                  case.volume.array)


def test_transient_503s_are_retried_with_backoff(orthanc, pacs_cases, source_for, proxy):
    proxy.fail_next = 2
    src = source_for(orthanc, url=f"{proxy.url}/dicom-web", retries=3)
    found = src.search_series(patient_id="PACS-003")
    assert len(found) == 1
    statuses = [s for _, _, s in proxy.requests]
    assert statuses[:3] == [503, 503, 200] and set(statuses[3:]) <= {200}  # then paging (empty page)


def test_too_many_503s_give_a_clear_error(orthanc, source_for, proxy):
    proxy.fail_next = 10
    src = source_for(orthanc, url=f"{proxy.url}/dicom-web", retries=1)
    with pytest.raises(DicomWebConnectionError, match=r"search series: failed 2 time\(s\).*503"):
        src.search_series()
    assert len(proxy.requests) == 2


def test_stream_cut_mid_series_is_finished_instance_by_instance(orthanc, pacs_cases, source_for, proxy):
    case = pacs_cases[1]
    one_file = case.files[0].stat().st_size
    proxy.cut_after = int(3.5 * one_file)  # three whole instances and half of the fourth
    src = source_for(orthanc, url=f"{proxy.url}/dicom-web", workers=2)
    got = src.retrieve(case.study_uid, case.series_uid, progress=False)
    assert got.n_fetched == 10
    per_instance = proxy.count("/instances/") - proxy.count("/instances?")
    assert 0 < per_instance < 10  # the streamed instances were kept, only the rest re-fetched
    assert _leftovers(got.folder) == []
    np.testing.assert_array_equal(load_series(got.files).array, case.volume.array)


def test_bearer_token_from_the_environment_opens_a_token_gateway(orthanc, pacs_cases, tmp_path, monkeypatch):
    from medwb.io.dicomweb import DicomWebSource
    from medwb.io.dicomweb.config import DicomWebAuthError

    gateway = FaultProxy(orthanc.url, token="tok-5f2a9c", upstream_auth=orthanc.auth)
    try:
        for k in ("MEDWB_DICOMWEB_USER", "MEDWB_DICOMWEB_PASSWORD", "MEDWB_DICOMWEB_HEADERS"):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv("MEDWB_DICOMWEB_URL", f"{gateway.url}/dicom-web")
        monkeypatch.setenv("MEDWB_DICOMWEB_TOKEN", "tok-5f2a9c")
        src = DicomWebSource(cache=tmp_path / "c", config_path=tmp_path / "none.json")
        case = pacs_cases[0]
        np.testing.assert_array_equal(src.load_series(case.study_uid, case.series_uid, progress=False).array,
                                      case.volume.array)
        monkeypatch.setenv("MEDWB_DICOMWEB_TOKEN", "tok-wrong-000")
        wrong = DicomWebSource(cache=tmp_path / "c2", config_path=tmp_path / "none.json")
        with pytest.raises(DicomWebAuthError, match="bearer token") as info:
            wrong.search_series()
        assert "tok-wrong-000" not in str(info.value) and "tok-wrong-000" not in repr(wrong)
    finally:
        gateway.close()
