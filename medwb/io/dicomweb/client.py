"""DicomWebSource: search (QIDO-RS), retrieve (WADO-RS) and store (STOW-RS) on a PACS.

DicomWebSource adds what research use needs: searches as pandas tables (patient names left out unless
asked), series retrieved into an on-disk cache keyed by UIDs (medwb.io.dicomweb.cache: atomic writes,
resumable, instances kept byte for byte as sent, medwb.io.dicomweb.wado), Volumes through medwb's own
DICOM loader, bounded retries with exponential backoff, a wall-clock deadline on every request, and
credentials taken from the environment or a config file so that they never sit in a notebook
(medwb.io.dicomweb.config). Server answers are data, not trusted: malformed search results are left out
and reported (medwb.io.dicomweb.query), non-DICOM parts and malformed UIDs raise DicomWebMalformedError,
and no path is built from a UID that check_uid has not passed.
STOW-RS goes through dicomweb-client; QIDO and WADO requests are built here on the same
authenticated session (see _qido for why). cohort_from_dicomweb() (medwb.io.dicomweb.cohort) joins a
query with a clinical table into a medwb.Cohort whose images live in the cache.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from medwb.io.dicomweb.cache import SeriesCache, check_uid
from medwb.io.dicomweb.config import (
    DicomWebMalformedError,
    DicomWebNotFoundError,
    DicomWebSettings,
    DicomWebTimeoutError,
    DicomWebWarning,
    fatal_error,
    with_retries,
    within_deadline,
)
from medwb.io.dicomweb.query import (
    INSTANCE_FIELDS,
    NAME_FIELD,
    SERIES_FIELDS,
    STUDY_FIELDS,
    date_range,
    paged,
    parse_json,
    to_table,
)
from medwb.io.dicomweb.stow import store_objects
from medwb.io.dicomweb.wado import iter_parts, sop_uid_of
from medwb.volume import Volume

__all__ = ["DicomWebSource", "RetrievedSeries"]

@dataclass
class RetrievedSeries:
    """What retrieve() did: the cached files of one series and how many came over the network."""

    study_uid: str
    series_uid: str
    folder: Path
    files: list[Path]
    n_fetched: int
    n_cached: int


class DicomWebSource:
    """A DICOMweb server (a PACS, an Orthanc, a cloud archive) as a source of cohorts.

    Args:
        url: DICOMweb root; default from MEDWB_DICOMWEB_URL or the config file.
        token, username, password, headers: credentials; default from the environment / config file
            (see medwb.io.dicomweb.config). Prefer those over arguments in a notebook.
        cache: folder (or SeriesCache) for retrieved instances; default MEDWB_DICOMWEB_CACHE or
            ~/.cache/medwb/dicomweb.
        workers: parallel requests when instances are fetched one by one.
        **options: timeout=(connect, read), deadline (wall-clock seconds per request, default 300),
            retries, backoff, backoff_max, config_path.

    Example:
        >>> from medwb.export.series import write_series
        >>> from medwb.io.dicomweb.orthanc import LocalOrthanc
        >>> hu = np.arange(4 * 8 * 8, dtype=np.int16).reshape(4, 8, 8)
        >>> ct = medwb.Volume.from_geometry(hu, modality="CT")
        >>> files = write_series(ct, tmp_path / "ct", patient_id="P-1")
        >>> pacs = LocalOrthanc(tmp_path / "pacs").start()           # a real server on 127.0.0.1
        >>> src = DicomWebSource(pacs.dicomweb_url, username=pacs.auth[0], password=pacs.auth[1],
        ...                      cache=tmp_path / "cache")
        >>> bool(src.store(files, progress=False)["stored"].all())
        True
        >>> series = src.search_series(modality="CT", date=("2024-01-01", None))
        >>> series[["patient_id", "modality", "n_instances"]].values.tolist()
        [['P-1', 'CT', 4]]
        >>> volume = src.load_series(series.study_uid[0], series.series_uid[0], progress=False)
        >>> bool(np.array_equal(volume.array, hu))
        True
        >>> pacs.stop()
    """

    def __init__(self, url: str | None = None, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, headers: dict[str, str] | None = None,
                 cache: str | Path | SeriesCache | None = None, workers: int = 4, **options: Any) -> None:
        self.settings = DicomWebSettings.resolve(url, token=token, username=username, password=password,
                                                 headers=headers, **options)
        self.cache = cache if isinstance(cache, SeriesCache) else SeriesCache(cache)
        self.workers = max(1, int(workers))
        self._local = threading.local()

    def __repr__(self) -> str:
        return self.settings.scrub(f"DicomWebSource({self.settings.url!r}, auth={self.settings.auth_kind}, "
                                   f"cache={str(self.cache.root)!r})")

    @property
    def session(self) -> Any:
        """This thread's requests.Session, carrying the credentials."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self.settings.session()
        return session

    @property
    def client(self) -> Any:
        """A dicomweb_client.DICOMwebClient for this thread (own retries off: ours are used)."""
        client = getattr(self._local, "client", None)
        if client is None:
            from dicomweb_client.api import DICOMwebClient

            client = DICOMwebClient(self.settings.url, session=self.session, timeout=self.settings.timeout)
            client.set_http_retry_params(retry=False)
            self._local.client = client
        return client

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        return with_retries(call, what=what, settings=self.settings)

    # -- QIDO-RS --------------------------------------------------------------------------
    def _qido(self, path: str, query: Mapping[str, Any], fields: list[tuple[str, str, str]], limit: int | None,
              what: str) -> list[dict[str, Any]]:
        """GET a QIDO-RS resource (all pages). Built here rather than through dicomweb-client because
        that percent-encodes the wildcards * and ?, which some servers (Orthanc 1.10) then match literally."""
        from urllib.parse import quote

        base = [(k, str(v)) for k, v in query.items()] + [("includefield", k) for _, k, _ in fields]
        if limit is not None:
            base.append(("limit", str(int(limit))))

        def fetch(offset: int) -> list[dict[str, Any]]:
            pairs = base + ([("offset", str(offset))] if offset else [])
            qs = "&".join(f"{quote(k)}={quote(v, safe='*?,-')}" for k, v in pairs)

            def get() -> list[dict[str, Any]]:
                r = self.session.get(f"{self.settings.url}/{path}?{qs}", timeout=self.settings.timeout,
                                     headers={"Accept": "application/dicom+json"})
                r.raise_for_status()
                if r.status_code == 204 or not r.content:
                    return []
                data = parse_json(r.content, r.headers.get("Content-Type", ""), what,
                                  f"{self.settings.url}/{path}")
                if not isinstance(data, list):
                    raise DicomWebMalformedError(
                        f"{what}: the answer from {self.settings.url}/{path} is a JSON "
                        f"{type(data).__name__}, not a list of results.\n"
                        "Fix: check that the URL is the server's DICOMweb root (e.g. http://host:8042/dicom-web).")
                return data

            return self._call(what, get)

        return paged(fetch, limit)

    def _table(self, items: list[dict[str, Any]], fields: list[tuple[str, str, str]], required: Sequence[str],
               what: str) -> pd.DataFrame:
        table = to_table(items, fields, required=required, what=what)
        problems = table.attrs["problems"]
        if len(problems):
            first = problems.iloc[0]
            warnings.warn(self.settings.scrub(
                f"{what}: {len(problems)} of {len(items)} result(s) from {self.settings.url} are malformed and "
                f"left out of the table, e.g. result {first['result']}: {first['problem']}.\n"
                "Fix: report them to the PACS administrator; table.attrs['problems'] lists them all."),
                DicomWebWarning, stacklevel=3)
        return table

    def _filters(self, patient_id: str | None, study_uid: str | None, modality: str | None, date: Any,
                 filters: Mapping[str, Any] | None, modality_key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if patient_id is not None:
            out["PatientID"] = str(patient_id)
        if study_uid is not None:
            out["StudyInstanceUID"] = check_uid(study_uid, "StudyInstanceUID")
        if modality is not None:
            out[modality_key] = str(modality).upper()
        if date is not None:
            out["StudyDate"] = date_range(date)
        out.update(filters or {})
        return out

    def search_studies(self, *, patient_id: str | None = None, study_uid: str | None = None,
                       modality: str | None = None, date: Any = None, filters: Mapping[str, Any] | None = None,
                       limit: int | None = None, include_names: bool = False) -> pd.DataFrame:
        """QIDO-RS study search → one row per study (patient names only with include_names=True)."""
        fields = STUDY_FIELDS + ([NAME_FIELD] if include_names else [])
        query = self._filters(patient_id, study_uid, modality, date, filters, "ModalitiesInStudy")
        items = self._qido("studies", query, fields, limit, "search studies")
        return self._table(items, fields, ("study_uid",), "search studies")

    def search_series(self, *, patient_id: str | None = None, study_uid: str | None = None,
                      modality: str | None = None, date: Any = None, filters: Mapping[str, Any] | None = None,
                      limit: int | None = None, include_names: bool = False) -> pd.DataFrame:
        """QIDO-RS series search → one row per series.

        Results the server sends malformed (a UID that is not one, a missing StudyInstanceUID or
        SeriesInstanceUID, an element that is not DICOM JSON) are left out with a DicomWebWarning and
        listed in ``table.attrs["problems"]``.

        Args:
            patient_id: PatientID (wildcards * and ? as the server allows).
            study_uid: restrict to one study.
            modality: e.g. "CT".
            date: StudyDate: "YYYYMMDD", a date, or a (start, end) range with None for an open end.
            filters: further attributes by keyword, e.g. {"BodyPartExamined": "HEAD"}.
            include_names: add PatientName (kept out by default so that tables shown on screen carry
                no names).
        """
        fields = SERIES_FIELDS + ([NAME_FIELD] if include_names else [])
        query = self._filters(patient_id, None, modality, date, filters, "Modality")
        study = check_uid(study_uid, "StudyInstanceUID") if study_uid is not None else None
        path = f"studies/{study}/series" if study is not None else "series"
        items = self._qido(path, query, fields, limit, "search series")
        return self._table(items, fields, ("study_uid", "series_uid"), "search series")

    def search_instances(self, study_uid: str, series_uid: str) -> pd.DataFrame:
        """QIDO-RS instance search within one series → sop_uid, sop_class, instance_number.

        A malformed result raises DicomWebMalformedError: leaving an instance out would make a series
        that looks complete and is not.
        """
        study, series = check_uid(study_uid, "StudyInstanceUID"), check_uid(series_uid, "SeriesInstanceUID")
        what = f"list instances of series {series}"
        items = self._qido(f"studies/{study}/series/{series}/instances", {}, INSTANCE_FIELDS, None, what)
        return to_table(items, INSTANCE_FIELDS, required=("sop_uid",), what=what, strict=True)

    # -- WADO-RS --------------------------------------------------------------------------
    def retrieve(self, study_uid: str, series_uid: str, *, mode: Literal["auto", "series", "instances"] = "auto",
                 progress: bool = True, on_instance: Callable[[int, int], None] | None = None,
                 refresh: bool = False) -> RetrievedSeries:
        """Bring one series into the cache (resuming a partial one) and return its files.

        A complete cached series is returned without any request. Otherwise the server's instance list
        is fetched and only the missing instances are retrieved: all at once (one multipart WADO-RS
        request, ``mode="series"``; the default when nothing is cached yet) or one request per instance
        with ``workers`` in parallel (``mode="instances"``; used to finish an interrupted series).
        ``on_instance(done, total)`` is called after every instance written. ``refresh=True`` asks the
        server again even for a complete cached series (instances added since are fetched).
        """
        from tqdm.auto import tqdm

        study, series = check_uid(study_uid, "StudyInstanceUID"), check_uid(series_uid, "SeriesInstanceUID")
        cached = None if refresh else self.cache.complete_files(study, series)
        if cached is not None:
            return RetrievedSeries(study, series, self.cache.series_dir(study, series), cached, 0, len(cached))
        if mode not in ("auto", "series", "instances"):
            raise ValueError(f"mode must be 'auto', 'series' or 'instances', got {mode!r}")
        self.cache.clean_partial(study, series)
        listing = self.search_instances(study, series)
        if listing.empty:
            raise DicomWebNotFoundError(
                f"series {series} of study {study} has no instances on {self.settings.url}.\n"
                "Fix: check the UIDs with search_series(...); the series may have been deleted or moved.")
        listing = listing.sort_values(["instance_number", "sop_uid"], na_position="last", kind="stable")
        wanted = list(listing["sop_uid"])  # checked by search_instances; InstanceNumber order: usually
        # the spatial order, which spares the loader a permutation of the whole volume
        have = self.cache.cached_sops(study, series) & set(wanted)
        n_cached = len(have)
        lock = threading.Lock()
        bar = tqdm(total=len(wanted), initial=len(have), desc=f"series …{series[-8:]}", unit="inst",
                   disable=not progress, leave=False)

        def written(sop: str) -> None:
            with lock:
                have.add(sop)
                bar.update(1)
                if on_instance is not None:
                    on_instance(len(have), len(wanted))

        try:
            if mode == "series" or (mode == "auto" and not have and len(wanted) > 1):
                self._stream_series(study, series, set(wanted), have, written)
            missing = [s for s in wanted if s not in have]
            if missing:
                self._fetch_instances(study, series, missing, written)
        finally:
            bar.close()
        self.cache.mark_complete(study, series, wanted, source=self.settings.url)
        files = [self.cache.instance_path(study, series, s) for s in wanted]
        return RetrievedSeries(study, series, self.cache.series_dir(study, series), files,
                               len(wanted) - n_cached, n_cached)

    def _series_url(self, study: str, series: str) -> str:
        return f"{self.settings.url}/studies/{study}/series/{series}"

    def _stream_series(self, study: str, series: str, wanted: set[str], have: set[str],
                       written: Callable[[str], None]) -> None:
        """One multipart WADO-RS request; instances are cached byte for byte as they arrive. A broken
        stream, a part that is not DICOM, or a deadline reached after some instances came are not fatal:
        the instances still missing are fetched one by one afterwards (with retries, each under its own
        deadline). A deadline reached before any instance came raises DicomWebTimeoutError."""
        import requests

        what = f"retrieve series {series}"
        n_written = 0
        try:
            with within_deadline(self.settings, what):
                for part in iter_parts(self.session, self._series_url(study, series), timeout=self.settings.timeout):
                    try:
                        sop = sop_uid_of(part)
                    except DicomWebMalformedError:
                        continue  # its instance is still missing: fetched alone below, or reported then
                    if sop in have or sop not in wanted:
                        continue
                    self.cache.put_instance(study, series, sop, part)
                    written(sop)
                    n_written += 1
        except DicomWebTimeoutError:
            if not n_written:
                raise
        except requests.HTTPError as e:
            fatal = fatal_error(e, what, self.settings)
            if fatal is not None:
                raise fatal from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
            pass  # finish per instance below

    def _fetch_instances(self, study: str, series: str, sops: Sequence[str],
                         written: Callable[[str], None]) -> None:
        stop = threading.Event()  # once one instance failed, the others not yet begun are not asked for

        def one(sop: str) -> None:
            if stop.is_set():
                return
            try:
                fetch(sop)
            except BaseException:
                stop.set()
                raise

        def fetch(sop: str) -> None:
            url = f"{self._series_url(study, series)}/instances/{sop}"
            what = f"retrieve instance {sop} of series {series}"
            parts = self._call(what, lambda: list(iter_parts(self.session, url, timeout=self.settings.timeout)))
            try:
                got = sop_uid_of(parts[0]) if len(parts) == 1 else None
            except DicomWebMalformedError as e:
                raise DicomWebMalformedError(
                    self.settings.scrub(f"{what}: {e}\nFix: the server ({self.settings.url}) sends something "
                                        "else than the instance (a proxy's error page?); report it to the PACS "
                                        "administrator. The rest of the series stays in the cache.")) from None
            if got != sop:
                raise DicomWebMalformedError(f"{what}: asked for instance {sop}, the server sent {len(parts)} "
                                             f"part(s){f' for {got}' if got else ''}.\n"
                                             "Fix: report it to the PACS administrator.")
            self.cache.put_instance(study, series, sop, parts[0])
            written(sop)

        if self.workers == 1 or len(sops) == 1:
            for sop in sops:
                one(sop)
            return
        with ThreadPoolExecutor(self.workers) as pool:
            futures = [pool.submit(one, s) for s in sops]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in pending:
                f.cancel()
            for f in futures:
                if f.done() and not f.cancelled() and f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]

    def load_series(self, study_uid: str, series_uid: str, *, progress: bool = True, **load_options: Any) -> Volume:
        """Retrieve (or take from the cache) one series and load it with medwb.io.dicom.load_series."""
        from medwb.io.dicom import load_series

        got = self.retrieve(study_uid, series_uid, progress=progress)
        volume = load_series(got.files, **load_options)
        volume.meta.update(study_uid=got.study_uid, series_uid=got.series_uid, source=self.settings.url,
                           path=str(got.folder))
        return volume

    # -- STOW-RS --------------------------------------------------------------------------
    def store(self, objects: Iterable[Any], *, batch: int = 16, progress: bool = True,
              raise_on_failure: bool = True, deidentify: Any = None) -> pd.DataFrame:
        """STOW-RS: send datasets or DICOM files (e.g. SEG / SR / Parametric Map results) to the server.

        ``deidentify``: a medwb.deid.Deidentifier applied to every object before it leaves (export to a
        research archive); consistent UIDs keep SEG / SR references to their images valid.
        Returns one row per instance (sop_uid, series_uid, stored, reason) with the UIDs as sent.
        Instances the server refuses raise DicomWebStoreError naming them (or stay in the table with
        raise_on_failure=False).
        """
        return store_objects(self._call, self.client, objects, batch=batch, progress=progress,
                             raise_on_failure=raise_on_failure, deidentify=deidentify)
