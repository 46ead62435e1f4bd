"""A real Orthanc behind a proxy that trickles or corrupts its answers, and a password written in the URL:
the deadline holds, the cache resumes, one corrupted series is a reported problem and the rest of the
cohort loads."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest

from medwb.io.dicomweb import DicomWebTimeoutError, cohort_from_dicomweb

from .proxy import FaultProxy
from .webserver import multipart

pytestmark = pytest.mark.pacs


@pytest.fixture
def proxy(orthanc):
    p = FaultProxy(orthanc.url)
    yield p
    p.close()


def test_series_retrieval_through_a_trickling_proxy_stops_at_the_deadline_and_resumes(orthanc, pacs_cases,
                                                                                     source_for, proxy):
    case = pacs_cases[1]
    proxy.trickle = 0.05  # seconds a byte: the series would take hours
    src = source_for(orthanc, url=f"{proxy.url}/dicom-web", deadline=1.5)
    start = time.monotonic()
    with pytest.raises(DicomWebTimeoutError, match=r"retrieve series .*1\.5 s deadline"):
        src.retrieve(case.study_uid, case.series_uid, progress=False)
    assert time.monotonic() - start < 1.5 + 8.0  # generous; without a deadline: 30 s a try, then retries
    folder = src.cache.series_dir(case.study_uid, case.series_uid)
    assert not folder.exists() or not list(folder.glob(".*.part"))
    proxy.trickle = None
    got = src.retrieve(case.study_uid, case.series_uid, progress=False)
    np.testing.assert_array_equal(src.load_series(case.study_uid, case.series_uid, progress=False).array,
                                  case.volume.array)
    assert got.n_fetched == 10


def test_password_written_in_the_url_opens_a_real_orthanc_and_is_shown_nowhere(orthanc, pacs_cases, source_for):
    case = pacs_cases[0]
    url = f"http://{orthanc.username}:{quote(orthanc.password, safe='')}@127.0.0.1:{orthanc.port}/dicom-web"
    src = source_for(orthanc, url=url, username=None, password=None)
    volume = src.load_series(case.study_uid, case.series_uid, progress=False)
    np.testing.assert_array_equal(volume.array, case.volume.array)
    assert src.settings.url == orthanc.dicomweb_url and src.settings.auth_kind == "basic"
    for text in (repr(src), str(src), repr(src.settings), volume.meta["source"],
                 (src.cache.series_dir(case.study_uid, case.series_uid) / ".complete.json").read_text()):
        assert orthanc.password not in text


def test_cohort_reports_a_corrupted_and_a_malformed_series_and_loads_the_rest(orthanc, pacs_cases, source_for,
                                                                             proxy, tmp_path):
    broken, malformed, good = pacs_cases  # 001: parts replaced by an error page; 002: a path for a UID
    evil = "../../../../etc/passwd"

    def corrupt(path: str, ctype: str, body: bytes):
        if path.split("?")[0] == "/dicom-web/series":
            results = json.loads(body)
            for r in results:
                if r.get("0020000E", {}).get("Value") == [malformed.series_uid]:
                    r["0020000E"]["Value"] = [evil]
            return ctype, json.dumps(results).encode()
        if "multipart" in ctype and broken.series_uid in path:
            return multipart([b"<html><body>502 Bad Gateway</body></html>"], part_type="text/html")
        return None

    proxy.rewrite = corrupt
    src = source_for(orthanc, url=f"{proxy.url}/dicom-web", workers=2)
    clinical = pd.DataFrame({"patient_id": [c.patient_id for c in pacs_cases], "age": [61, 47, 70]})
    with pytest.warns(UserWarning, match="problem"):
        cohort = cohort_from_dicomweb(src, {"patient_id": "PACS-*"}, clinical, progress=False)
    np.testing.assert_array_equal(cohort.volume(good.patient_id).array, good.volume.array)
    problems = cohort.problems

    def reported(case, text):
        rows = problems[(problems["case_id"] == case.patient_id) & problems["problem"].str.contains(text)]
        return rows["value"].tolist()

    assert reported(broken, "retrieval failed: .* not a DICOM object") == [broken.series_uid]
    assert reported(malformed, "malformed search result from the server: .* not a DICOM UID") == [evil]
    assert good.patient_id not in set(problems["case_id"])
    assert sorted(cohort.case_ids) == sorted(c.patient_id for c in pacs_cases)  # no row dropped silently
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and src.cache.root not in p.parents
               and p.name != "no-config.json"]
    assert outside == []
