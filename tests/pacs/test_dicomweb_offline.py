"""DICOMweb settings, retries and the UID cache, without a server."""

from __future__ import annotations

import json
import os

import pytest
import requests

from medwb.io.dicomweb.cache import SeriesCache, atomic_write, check_uid
from medwb.io.dicomweb.config import (
    DicomWebAuthError,
    DicomWebConnectionError,
    DicomWebError,
    DicomWebNotFoundError,
    DicomWebSettings,
    with_retries,
)


@pytest.fixture
def clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("MEDWB_DICOMWEB_"):
            monkeypatch.delenv(k)
    return monkeypatch


def test_arguments_beat_environment_beat_config_file(tmp_path, clean_env):
    cfg = tmp_path / "dicomweb.json"
    cfg.write_text(json.dumps({"url": "http://file/dicom-web", "token": "file-token", "retries": 7}))
    os.chmod(cfg, 0o600)
    s = DicomWebSettings.resolve(config_path=cfg)
    assert (s.url, s.token, s.retries) == ("http://file/dicom-web", "file-token", 7)
    clean_env.setenv("MEDWB_DICOMWEB_TOKEN", "env-token")
    assert DicomWebSettings.resolve(config_path=cfg).token == "env-token"
    assert DicomWebSettings.resolve("http://arg", token="arg-token", config_path=cfg).token == "arg-token"


def test_config_file_is_found_through_the_environment(tmp_path, clean_env):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"url": "http://pacs/dicom-web/", "username": "u", "password": "pw-secret"}))
    os.chmod(cfg, 0o600)
    clean_env.setenv("MEDWB_DICOMWEB_CONFIG", str(cfg))
    s = DicomWebSettings.resolve()
    assert s.url == "http://pacs/dicom-web" and s.auth_kind == "basic"
    assert s.session().auth == ("u", "pw-secret")


def test_world_readable_config_file_is_warned_about(tmp_path, clean_env):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"url": "http://pacs"}))
    os.chmod(cfg, 0o644)
    with pytest.warns(UserWarning, match="chmod 600"):
        DicomWebSettings.resolve(config_path=cfg)


def test_missing_url_says_where_to_put_it(tmp_path, clean_env):
    with pytest.raises(DicomWebError, match="MEDWB_DICOMWEB_URL"):
        DicomWebSettings.resolve(config_path=tmp_path / "none.json")


def test_secrets_stay_out_of_repr_and_headers_carry_the_token(tmp_path, clean_env):
    s = DicomWebSettings.resolve("http://x", token="tok-123456", headers={"X-Api-Key": "key-987654"},
                                 config_path=tmp_path / "none.json")
    assert "tok-123456" not in repr(s) and "key-987654" not in repr(s)
    session = s.session()
    assert session.headers["Authorization"] == "Bearer tok-123456"
    assert session.headers["X-Api-Key"] == "key-987654"
    assert s.scrub("failed with key-987654 and tok-123456") == "failed with *** and ***"


def _http_error(code):
    r = requests.Response()
    r.status_code = code
    return requests.HTTPError(f"{code} error", response=r)


def test_retries_are_bounded_and_back_off_exponentially(tmp_path, clean_env):
    s = DicomWebSettings.resolve("http://x", retries=3, backoff=0.5, backoff_max=1.5,
                                 config_path=tmp_path / "none.json")
    waits, calls = [], []

    def flaky():
        calls.append(1)
        raise requests.ConnectionError("refused")

    with pytest.raises(DicomWebConnectionError, match=r"failed 4 time\(s\).*ConnectionError"):
        with_retries(flaky, what="probe", settings=s, sleep=waits.append)
    assert len(calls) == 4 and waits == [0.5, 1.0, 1.5]


def test_not_found_and_auth_errors_are_not_retried(tmp_path, clean_env):
    s = DicomWebSettings.resolve("http://x", retries=5, config_path=tmp_path / "none.json")
    for code, err in ((404, DicomWebNotFoundError), (401, DicomWebAuthError), (403, DicomWebAuthError)):
        calls = []

        def fail(code=code, calls=calls):
            calls.append(1)
            raise _http_error(code)

        with pytest.raises(err):
            with_retries(fail, what="probe", settings=s, sleep=lambda _: None)
        assert len(calls) == 1


def test_a_retry_that_succeeds_returns_the_value(tmp_path, clean_env):
    s = DicomWebSettings.resolve("http://x", retries=2, config_path=tmp_path / "none.json")
    answers = iter([_http_error(503), "ok"])

    def call():
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return a

    assert with_retries(call, what="probe", settings=s, sleep=lambda _: None) == "ok"


def test_uids_that_could_escape_the_cache_are_refused():
    for bad in ("../../etc", "1.2/3", "", "1.2.3a", "1" * 65):
        with pytest.raises(ValueError, match="not a DICOM UID"):
            check_uid(bad)
    assert check_uid(" 1.2.840.10008 ") == "1.2.840.10008"


def test_atomic_write_leaves_no_partial_file_when_writing_fails(tmp_path):
    target = tmp_path / "a" / "x.dcm"
    with pytest.raises(TypeError):
        atomic_write(target, object())  # type: ignore[arg-type]
    assert not target.exists() and list(target.parent.iterdir()) == []
    atomic_write(target, b"data")
    assert target.read_bytes() == b"data"


def test_series_is_complete_only_when_every_listed_instance_is_there(tmp_path):
    cache = SeriesCache(tmp_path)
    cache.put_instance("1.2", "1.2.3", "1.2.3.1", b"a")
    with pytest.raises(RuntimeError, match="1 instance"):
        cache.mark_complete("1.2", "1.2.3", ["1.2.3.1", "1.2.3.2"])
    assert not cache.is_complete("1.2", "1.2.3")
    cache.put_instance("1.2", "1.2.3", "1.2.3.2", b"b")
    cache.mark_complete("1.2", "1.2.3", ["1.2.3.1", "1.2.3.2"])
    assert [p.name for p in cache.complete_files("1.2", "1.2.3")] == ["1.2.3.1.dcm", "1.2.3.2.dcm"]
    (cache.series_dir("1.2", "1.2.3") / "1.2.3.2.dcm").unlink()
    assert not cache.is_complete("1.2", "1.2.3")


def test_leftover_temporary_files_are_cleaned(tmp_path):
    cache = SeriesCache(tmp_path)
    folder = cache.series_dir("1.2", "1.2.3")
    folder.mkdir(parents=True)
    (folder / ".1.2.3.1.dcm.abc.part").write_bytes(b"half")
    assert cache.clean_partial("1.2", "1.2.3") == 1
    assert cache.cached_sops("1.2", "1.2.3") == set()


class _Response:
    def __init__(self, body, chunk, ctype='multipart/related; type="application/dicom"; boundary=XYZ'):
        self.body, self.chunk, self.headers = body, chunk, {"Content-Type": ctype}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def raise_for_status(self):
        pass

    @property
    def content(self):
        return self.body

    def iter_content(self, n):
        for i in range(0, len(self.body), self.chunk):
            yield self.body[i:i + self.chunk]


class _Session:
    def __init__(self, response):
        self.response = response

    def get(self, *args, **kwargs):
        return self.response


_PARTS = [b"A" * 10, b"B\r\n--XY" * 3, b"", b"C" * 7]
_BODY = b"".join(b"--XYZ\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n" for p in _PARTS) + b"--XYZ--\r\n"


def test_multipart_parts_are_split_exactly_whatever_the_chunking():
    from medwb.io.dicomweb.wado import iter_parts

    for chunk in (1, 2, 3, 7, 11, 64, 10_000):
        assert list(iter_parts(_Session(_Response(_BODY, chunk)), "u", timeout=1)) == _PARTS


def test_multipart_answer_cut_before_its_closing_boundary_is_a_broken_stream():
    from medwb.io.dicomweb.wado import iter_parts

    got = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="closing boundary"):
        for part in iter_parts(_Session(_Response(_BODY[:75], 8)), "u", timeout=1):
            got.append(part)
    assert got == _PARTS[:1]  # the complete part came through, the cut one did not


def test_qido_pages_are_followed_only_after_a_full_looking_page():
    from medwb.io.dicomweb.query import paged

    data = list(range(120))
    calls = []

    def fetch(offset):
        calls.append(offset)
        return data[offset:offset + 50]

    assert paged(fetch) == data and calls == [0, 50, 100]
    calls.clear()
    assert paged(lambda o: calls.append(o) or data[:7]) == data[:7] and calls == [0]


def test_dates_and_ranges_become_dicom_matching_strings():
    import datetime as dt

    from medwb.io.dicomweb.query import date_range

    assert date_range("2024-03-10") == "20240310"
    assert date_range(("2024-01-01", None)) == "20240101-"
    assert date_range((None, dt.date(2024, 12, 31))) == "-20241231"
    assert date_range("20240101-20241231") == "20240101-20241231"
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        date_range("last year")
