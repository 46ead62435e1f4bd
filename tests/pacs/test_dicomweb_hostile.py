"""A hostile or broken DICOMweb server (tests/pacs/webserver.py, a real HTTP server on 127.0.0.1):
trickled answers stop at the wall-clock deadline, a password in the URL shows nowhere, malformed answers
become DicomWebMalformedError (or reported search rows), and no UID ever builds a path outside the cache.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import traceback
import warnings
from io import BytesIO

import pytest

from medwb.io.dicomweb import (
    DicomWebConnectionError,
    DicomWebError,
    DicomWebMalformedError,
    DicomWebNotFoundError,
    DicomWebSource,
    DicomWebTimeoutError,
    DicomWebWarning,
)
from medwb.io.dicomweb.config import DEFAULT_DEADLINE, DicomWebSettings

from .webserver import Answer, WebServer, instance, instance_listing, multipart, series_result

STUDY, SERIES = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.1.1"
SOPS = [f"{SERIES}.{i}" for i in range(1, 5)]
SERIES_PATH = f"/dicom-web/studies/{STUDY}/series/{SERIES}"
DEADLINE = 1.5
BOUND = DEADLINE + 8.0  # generous: a 2-core machine shared by many; without a deadline it takes 30 s or more


@pytest.fixture
def server():
    web = WebServer()
    yield web
    web.close()


def _source(server, tmp_path, url=None, **options):
    opts = dict(cache=tmp_path / "cache", config_path=tmp_path / "none.json", retries=2, backoff=0.01,
                timeout=(2.0, 5.0), deadline=DEADLINE)
    opts.update(options)
    return DicomWebSource(url or f"{server.url}/dicom-web", **opts)


def _serve_listing(server):
    server.route("GET", rf"{SERIES_PATH}/instances$", Answer(body=instance_listing(SOPS)))


def _files_outside(root, cache):
    return [p for p in root.rglob("*") if p.is_file() and cache not in p.parents and p.name != "none.json"]


# -- the wall-clock deadline ------------------------------------------------------------------------------

def test_search_against_a_trickling_server_stops_at_the_deadline_without_retrying(server, tmp_path):
    body = json.dumps([series_result("P1", STUDY, SERIES)] * 20).encode()
    server.route("GET", r"/dicom-web/series$", Answer(body=body, trickle=0.1))
    src = _source(server, tmp_path)
    start = time.monotonic()
    with pytest.raises(DicomWebTimeoutError, match=r"search series: .* within the 1.5 s deadline") as info:
        src.search_series()
    assert time.monotonic() - start < BOUND
    assert f"{server.url}/dicom-web" in str(info.value) and "deadline=" in str(info.value)
    assert isinstance(info.value, DicomWebConnectionError)
    assert server.count("/dicom-web/series") == 1  # a trickling server would only trickle again


def test_trickled_response_headers_also_stop_at_the_deadline(server, tmp_path):
    server.route("GET", r"/dicom-web/studies$", Answer(body=b"[]" + b" " * 400, trickle=0.1, trickle_headers=True))
    start = time.monotonic()
    with pytest.raises(DicomWebTimeoutError, match="search studies"):
        _source(server, tmp_path, retries=0).search_studies()
    assert time.monotonic() - start < BOUND


def test_series_retrieval_from_a_trickling_server_stops_at_the_deadline(server, tmp_path):
    _serve_listing(server)
    ctype, body = multipart([instance(STUDY, SERIES, s, i + 1) for i, s in enumerate(SOPS)])
    server.route("GET", rf"{SERIES_PATH}$", Answer(body=body, content_type=ctype, trickle=0.1))
    server.route("GET", rf"{SERIES_PATH}/instances/", Answer(body=body, content_type=ctype, trickle=0.1))
    src = _source(server, tmp_path)
    start = time.monotonic()
    with pytest.raises(DicomWebTimeoutError, match=f"retrieve series {SERIES}"):
        src.retrieve(STUDY, SERIES, progress=False)
    assert time.monotonic() - start < BOUND
    assert not src.cache.is_complete(STUDY, SERIES)
    folder = src.cache.series_dir(STUDY, SERIES)
    assert not folder.exists() or not any(folder.iterdir())  # no half-written instance


def test_instance_retrieval_from_a_trickling_server_stops_at_the_deadline(server, tmp_path):
    _serve_listing(server)
    ctype, body = multipart([instance(STUDY, SERIES, SOPS[0])])
    server.route("GET", rf"{SERIES_PATH}/instances/", Answer(body=body, content_type=ctype, trickle=0.1))
    start = time.monotonic()
    with pytest.raises(DicomWebTimeoutError, match="retrieve instance"):
        _source(server, tmp_path, workers=2).retrieve(STUDY, SERIES, mode="instances", progress=False)
    assert time.monotonic() - start < BOUND + DEADLINE  # the other worker's request ends at its own deadline


def test_store_to_a_trickling_server_stops_at_the_deadline(server, tmp_path):
    import pydicom

    server.route("POST", r"/dicom-web/studies$", Answer(body=b"{}" + b" " * 400, trickle=0.1))
    ds = pydicom.dcmread(BytesIO(instance(STUDY, SERIES, SOPS[0])))
    start = time.monotonic()
    with pytest.raises(DicomWebTimeoutError, match="store 1 instance"):
        _source(server, tmp_path).store([ds], progress=False)
    assert time.monotonic() - start < BOUND
    assert server.count("/dicom-web/studies") == 1


def test_a_stream_that_slows_down_after_some_instances_is_finished_instance_by_instance(server, tmp_path):
    _serve_listing(server)
    parts = [instance(STUDY, SERIES, s, i + 1) for i, s in enumerate(SOPS)]
    ctype, body = multipart(parts)
    delimiter = b"--medwb-test-boundary\r\n"
    two = body.index(delimiter, body.index(parts[1])) + len(delimiter)  # two whole parts, then a trickle
    server.route("GET", rf"{SERIES_PATH}$", Answer(body=body, content_type=ctype, trickle=0.1, trickle_after=two))
    for i, sop in enumerate(SOPS):
        one_type, one = multipart([parts[i]])
        server.route("GET", rf"{SERIES_PATH}/instances/{sop}$", Answer(body=one, content_type=one_type))
    got = _source(server, tmp_path).retrieve(STUDY, SERIES, progress=False)
    assert got.n_fetched == 4 and [f.read_bytes() for f in got.files] == parts
    assert server.count("/instances/") == 2  # only the two the stream did not deliver in time


def test_a_deadline_never_cuts_a_pooled_connection_another_thread_took_over(server):
    import threading

    import requests

    from medwb.io.dicomweb.deadline import DeadlineExceeded, RequestDeadline, watched_adapter

    server.route("GET", r"/fast$", Answer(body=b"ok", content_type="text/plain"))
    server.route("GET", r"/slow$", Answer(body=b"x" * 20, content_type="text/plain", trickle=0.05))  # ~1 s
    session = requests.Session()
    session.mount("http://", watched_adapter(pool_connections=1, pool_maxsize=1, pool_block=True))
    released, results = threading.Event(), {}

    def a():  # its request is done at once, but its deadline block lasts past the deadline
        try:
            with RequestDeadline(0.5):
                results["a"] = session.get(f"{server.url}/fast", timeout=5).content
                released.set()
                time.sleep(1.0)
        except DeadlineExceeded:
            results["a_expired"] = True

    def b():  # takes over the same pooled connection, no deadline of its own
        released.wait(5)
        results["b"] = session.get(f"{server.url}/slow", timeout=5).content

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == {"a": b"ok", "a_expired": True, "b": b"x" * 20}
    assert server.count("/slow") == 1


def test_deadline_is_a_setting_with_a_default_and_bad_values_are_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDWB_DICOMWEB_URL", raising=False)
    none = tmp_path / "none.json"
    assert DicomWebSettings.resolve("http://pacs/dicom-web", config_path=none).deadline == DEFAULT_DEADLINE == 300
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"url": "http://pacs/dicom-web", "deadline": 42}))
    os.chmod(cfg, 0o600)
    assert DicomWebSettings.resolve(config_path=cfg).deadline == 42.0
    assert DicomWebSettings.resolve(config_path=cfg, deadline=7).deadline == 7.0
    for bad in (0, -1, float("nan"), float("inf"), "soon"):
        with pytest.raises(DicomWebError, match=rf"deadline is {bad!r}.*\nFix: pass e\.g\. deadline="):
            DicomWebSettings.resolve("http://pacs", config_path=none, deadline=bad)


# -- credentials in the URL ---------------------------------------------------------------------------

PASSWORD = "S3cr3t!pw-417"
URL_PASSWORD = "S3cr3t%21pw-417"  # as written in a URL


def _shows_password(text: str) -> bool:
    return PASSWORD in text or URL_PASSWORD in text or "S3cr3t" in text


def _chain(exc: BaseException) -> str:
    """Every exception reachable from ``exc`` (causes and contexts, shown or not), as text."""
    out, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out += ["".join(traceback.format_exception(exc)), repr(exc), repr(exc.args)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(out)


def test_password_in_the_url_authenticates_and_shows_nowhere(tmp_path, caplog, capsys):
    web = WebServer(auth=("ann", PASSWORD))
    try:
        _serve_listing(web)
        parts = [instance(STUDY, SERIES, s, i + 1) for i, s in enumerate(SOPS)]
        ctype, body = multipart(parts)
        web.route("GET", rf"{SERIES_PATH}$", Answer(body=body, content_type=ctype))
        web.route("GET", r"/dicom-web/series$", Answer(body=json.dumps(
            [series_result("P1", STUDY, SERIES, 4), series_result("P2", STUDY, "../../x")]).encode()))
        web.route("GET", r"/dicom-web/studies$", Answer(body=b"[]", trickle=0.1, trickle_headers=True))
        web.route("GET", r"/dicom-web/broken", Answer(500, b"boom", "text/plain"))
        url = f"http://ann:{URL_PASSWORD}@127.0.0.1:{web.server.server_address[1]}/dicom-web"
        caplog.set_level(logging.DEBUG)
        src = _source(web, tmp_path, url=url, retries=1)
        shown = [repr(src), str(src), repr(src.settings), str(src.settings), src.settings.url]

        with warnings.catch_warnings(record=True) as caught:  # works: the URL's credentials are sent
            warnings.simplefilter("always")
            found = src.search_series()
        assert found["series_uid"].tolist() == [SERIES] and src.settings.auth_kind == "basic"
        shown += [str(w.message) for w in caught]
        assert any(issubclass(w.category, DicomWebWarning) for w in caught)
        got = src.retrieve(STUDY, SERIES, progress=True)  # a progress bar, on stderr
        shown += [(got.folder / ".complete.json").read_text()]

        errors = []
        for call in (lambda: src.search_studies(),  # the deadline
                     lambda: src._qido("broken", {}, [], None, "probe"),  # HTTP 500, retried, then given up
                     lambda: src.retrieve(STUDY, "1.2.3.999", progress=False)):  # not found
            with pytest.raises(DicomWebError) as info:
                call()
            errors.append(info.value)
        assert [type(e) for e in errors] == [DicomWebTimeoutError, DicomWebConnectionError, DicomWebNotFoundError]
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        dead = _source(web, tmp_path, url=f"http://ann:{URL_PASSWORD}@127.0.0.1:{port}/dicom-web", retries=1)
        shown += [repr(dead)]
        with pytest.raises(DicomWebConnectionError) as info:
            dead.search_series()
        errors.append(info.value)
    finally:
        web.close()
    out = capsys.readouterr()
    shown += [_chain(e) for e in errors] + [out.out, out.err] + [r.getMessage() for r in caplog.records]
    assert "series" in out.err  # the progress bar was shown
    leaks = [s for s in shown if _shows_password(s)]
    assert not leaks, leaks[0][:500]


def test_redaction_hides_url_credentials_and_secrets_in_any_text():
    from medwb.io.dicomweb import redact

    text = ("GET http://ann:p@ss:w%2Fo@pacs:8042/dicom-web and HTTPS://bob:x%2Fy@h/ failed; token tok-5f2a9c; "
            "mail ann@example.org")
    out = redact(text, secrets=["tok-5f2a9c"])
    assert out == ("GET http://***@pacs:8042/dicom-web and HTTPS://***@h/ failed; token ***; "
                   "mail ann@example.org")


# -- malformed answers --------------------------------------------------------------------------------

def test_non_dicom_part_in_a_series_answer_is_a_clear_error_and_the_rest_is_cached(server, tmp_path):
    _serve_listing(server)
    parts = [instance(STUDY, SERIES, s, i + 1) for i, s in enumerate(SOPS)]
    html = b"<html><body>502 Bad Gateway</body></html>"
    ctype, body = multipart([parts[0], html, parts[2], parts[3]])
    server.route("GET", rf"{SERIES_PATH}$", Answer(body=body, content_type=ctype))
    bad_type, bad = multipart([html], part_type="text/html")
    server.route("GET", rf"{SERIES_PATH}/instances/{SOPS[1]}$", Answer(body=bad, content_type=bad_type))
    src = _source(server, tmp_path)
    with pytest.raises(DicomWebMalformedError, match=rf"retrieve instance {SOPS[1]}.*not a DICOM object.*<html>"):
        src.retrieve(STUDY, SERIES, progress=False)
    assert src.cache.cached_sops(STUDY, SERIES) == {SOPS[0], SOPS[2], SOPS[3]}
    assert not src.cache.is_complete(STUDY, SERIES)


def test_a_non_dicom_part_once_is_made_good_by_fetching_that_instance_alone(server, tmp_path):
    _serve_listing(server)
    parts = [instance(STUDY, SERIES, s, i + 1) for i, s in enumerate(SOPS)]
    ctype, body = multipart([parts[0], b'{"error": "busy"}', parts[2], parts[3]])
    server.route("GET", rf"{SERIES_PATH}$", Answer(body=body, content_type=ctype))
    one_type, one = multipart([parts[1]])
    server.route("GET", rf"{SERIES_PATH}/instances/{SOPS[1]}$", Answer(body=one, content_type=one_type))
    got = _source(server, tmp_path).retrieve(STUDY, SERIES, progress=False)
    assert [f.read_bytes() for f in got.files] == parts


def test_malformed_series_search_results_are_left_out_and_reported(server, tmp_path):
    results = [series_result("P1", STUDY, SERIES), series_result("P2", STUDY, "../../etc/passwd"),
               series_result("P3", STUDY, None), series_result("P4", STUDY, "1." + "2" * 80),
               {"0020000D": "1.2.3", "0020000E": element_not_json()}, "not an object",
               series_result("P7", STUDY, 1.5)]
    server.route("GET", r"/dicom-web/series$", Answer(body=json.dumps(results).encode()))
    with pytest.warns(DicomWebWarning, match=r"search series: 6 of 7 result\(s\) .* malformed") as caught:
        table = _source(server, tmp_path).search_series()
    assert table["series_uid"].tolist() == [SERIES]
    problems = table.attrs["problems"]
    assert problems["result"].tolist() == [1, 2, 3, 4, 5, 6]
    assert problems["patient_id"].tolist()[:3] == ["P2", "P3", "P4"]
    assert problems["uid"].iloc[0] == "../../etc/passwd"
    text = "\n".join(problems["problem"])
    for expected in ("'../../etc/passwd' is not a DICOM UID", "required SeriesInstanceUID (0020000E) is missing",
                     "...(82 characters)", "not a DICOM JSON element", "not a JSON object", "1.5"):
        assert expected in text
    assert "Fix:" in str(caught[0].message)


def element_not_json():
    return ["1.2.3"]  # a bare list where DICOM JSON has {"vr": ..., "Value": [...]}


@pytest.mark.parametrize("body, ctype, expected", [
    (b"<html><body>Please log in</body></html>", "text/html", r"not valid JSON .*'text/html'.*Please log in"),
    (b'[{"0020000E": ', "application/dicom+json", "not valid JSON"),
    (b'{"error": "no such thing"}', "application/json", "a JSON dict, not a list"),
    (b"\xff\xfe\x00garbage", "application/dicom+json", "not valid JSON"),
])
def test_an_answer_that_is_not_a_json_list_is_a_clear_error(server, tmp_path, body, ctype, expected):
    server.route("GET", r"/dicom-web/series$", Answer(body=body, content_type=ctype))
    with pytest.raises(DicomWebMalformedError, match=expected) as info:
        _source(server, tmp_path).search_series()
    assert "Fix: check that the URL is the server's DICOMweb root" in str(info.value)
    assert server.count("/dicom-web/series") == 1  # not retried: it would say the same again


def test_a_malformed_instance_listing_fails_the_series_before_any_path_is_built(server, tmp_path):
    for sops, expected in ((["1.2.3", "../../../../tmp/evil"], "'../../../../tmp/evil' is not a DICOM UID"),
                           (["1.2.3", "/etc/cron.d/x"], "is not a DICOM UID"),
                           (["1.2.3", None], "required SOPInstanceUID")):
        listing = json.loads(instance_listing([s or "1" for s in sops]))
        if None in sops:
            del listing[1]["00080018"]
        server.routes.clear()
        server.route("GET", rf"{SERIES_PATH}/instances$", Answer(body=json.dumps(listing).encode()))
        with pytest.raises(DicomWebMalformedError, match=rf"list instances of series {SERIES}: result 1 .*{expected}"):
            _source(server, tmp_path).retrieve(STUDY, SERIES, progress=False)
    assert not [p for _, p in server.seen if p == SERIES_PATH or "/instances/" in p]  # nothing retrieved
    assert _files_outside(tmp_path, tmp_path / "cache") == []


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # pydicom's own note on the hostile UID
def test_a_part_whose_own_uid_is_a_path_is_never_written(server, tmp_path):
    evil = "../../../../evil"
    _serve_listing(server)
    parts = [instance(STUDY, SERIES, s, i + 1) for i, s in enumerate(SOPS)]
    ctype, body = multipart([parts[0], instance(STUDY, SERIES, evil), parts[2], parts[3]])
    server.route("GET", rf"{SERIES_PATH}$", Answer(body=body, content_type=ctype))
    one_type, one = multipart([instance(STUDY, SERIES, evil)])
    server.route("GET", rf"{SERIES_PATH}/instances/{SOPS[1]}$", Answer(body=one, content_type=one_type))
    src = _source(server, tmp_path, workers=1)
    with pytest.raises(DicomWebMalformedError, match="which is not a DICOM UID"):
        src.retrieve(STUDY, SERIES, progress=False)
    assert _files_outside(tmp_path, tmp_path / "cache") == []
    assert not list(tmp_path.parent.glob("evil*")) and not list(tmp_path.glob("evil*"))


# -- paths from UIDs ----------------------------------------------------------------------------------

HOSTILE_UIDS = ["../x", "..", ".", "/etc", "/etc/passwd", "1.2/../../x", "1.2\\..\\x", "C:\\x", "1.2\x00",
                "\uff11.\uff12", "1.2.3\n4", "1." + "2" * 70, "1..2", "1.2.", "~", "1.2 3"]


@pytest.mark.parametrize("bad", HOSTILE_UIDS)
def test_no_cache_path_can_be_built_from_a_uid_that_leaves_the_cache_folder(tmp_path, bad):
    from medwb.io.dicomweb.cache import SeriesCache

    cache = SeriesCache(tmp_path / "cache")
    ok = "1.2.3"
    calls = [lambda: cache.series_dir(bad, ok), lambda: cache.series_dir(ok, bad),
             lambda: cache.instance_path(ok, ok, bad), lambda: cache.put_instance(bad, ok, ok, b"x"),
             lambda: cache.put_instance(ok, bad, ok, b"x"), lambda: cache.put_instance(ok, ok, bad, b"x"),
             lambda: cache.has_instance(ok, ok, bad), lambda: cache.cached_sops(bad, ok),
             lambda: cache.clean_partial(ok, bad), lambda: cache.mark_complete(ok, ok, [bad]),
             lambda: cache.forget(bad, ok), lambda: cache.complete_files(ok, bad)]
    for call in calls:
        with pytest.raises(ValueError, match="is not a DICOM UID"):
            call()
    assert _files_outside(tmp_path, tmp_path / "cache") == [] and not (tmp_path / "cache").exists()


def test_a_tampered_completion_marker_makes_the_series_incomplete_not_a_path(tmp_path):
    from medwb.io.dicomweb.cache import MARKER, SeriesCache

    cache = SeriesCache(tmp_path / "cache")
    cache.put_instance(STUDY, SERIES, SOPS[0], b"x")
    cache.mark_complete(STUDY, SERIES, SOPS[:1])
    assert cache.is_complete(STUDY, SERIES)
    marker = cache.series_dir(STUDY, SERIES) / MARKER
    for sops in (["../../../../etc/passwd"], [SOPS[0], "/etc/shadow"], [17]):
        info = json.loads(marker.read_text())
        marker.write_text(json.dumps({**info, "sop_uids": sops, "sizes": None}))
        assert cache.complete_files(STUDY, SERIES) is None and not cache.is_complete(STUDY, SERIES)
