"""Cohorts from a PACS over DICOMweb: search (QIDO-RS), retrieve (WADO-RS), store (STOW-RS).

DicomWebSource wraps dicomweb-client with what research use needs on top: searches as pandas tables
(patient names left out unless asked), series retrieved into an on-disk cache keyed by UIDs
(medwb.io.dicomweb_cache: atomic writes, resumable), Volumes through medwb's own DICOM loader, bounded
retries with exponential backoff and timeouts (medwb.io.dicomweb_config), and credentials taken from the
environment or a config file so that they never sit in a notebook. cohort_from_dicomweb() joins a query
with a clinical table into a medwb.Cohort whose images live in the cache.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from medwb.io.dicomweb_cache import SeriesCache, check_uid
from medwb.io.dicomweb_config import (
    DicomWebConnectionError,
    DicomWebError,
    DicomWebNotFoundError,
    DicomWebSettings,
    DicomWebStoreError,
    fatal_error,
    with_retries,
)
from medwb.volume import Volume

__all__ = [
    "DicomWebSource", "RetrievedSeries", "cohort_from_dicomweb", "DicomWebError", "DicomWebConnectionError",
    "DicomWebNotFoundError", "DicomWebStoreError", "NON_IMAGE_MODALITIES",
]

#: Series of these modalities hold no image volume (results, documents, presentation states).
NON_IMAGE_MODALITIES = frozenset({"SR", "SEG", "PR", "KO", "RTSTRUCT", "RTPLAN", "RTDOSE", "REG", "DOC", "PLAN"})

# (column, DICOM keyword, tag) for searches; names only when asked for.
_SERIES_FIELDS = [
    ("patient_id", "PatientID", "00100020"), ("study_uid", "StudyInstanceUID", "0020000D"),
    ("series_uid", "SeriesInstanceUID", "0020000E"), ("modality", "Modality", "00080060"),
    ("study_date", "StudyDate", "00080020"), ("series_number", "SeriesNumber", "00200011"),
    ("series_description", "SeriesDescription", "0008103E"),
    ("study_description", "StudyDescription", "00081030"), ("body_part", "BodyPartExamined", "00180015"),
    ("n_instances", "NumberOfSeriesRelatedInstances", "00201209"),
]
_STUDY_FIELDS = [
    ("patient_id", "PatientID", "00100020"), ("study_uid", "StudyInstanceUID", "0020000D"),
    ("study_date", "StudyDate", "00080020"), ("accession", "AccessionNumber", "00080050"),
    ("study_description", "StudyDescription", "00081030"), ("modalities", "ModalitiesInStudy", "00080061"),
    ("n_series", "NumberOfStudyRelatedSeries", "00201206"),
    ("n_instances", "NumberOfStudyRelatedInstances", "00201208"),
]
_NAME = ("patient_name", "PatientName", "00100010")
_INSTANCE_FIELDS = [
    ("sop_uid", "SOPInstanceUID", "00080018"), ("sop_class", "SOPClassUID", "00080016"),
    ("instance_number", "InstanceNumber", "00200013"),
]


@dataclass
class RetrievedSeries:
    """What retrieve() did: the cached files of one series and how many came over the network."""

    study_uid: str
    series_uid: str
    folder: Path
    files: list[Path]
    n_fetched: int
    n_cached: int


def _date(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (_dt.date, _dt.datetime, pd.Timestamp)):
        return value.strftime("%Y%m%d")
    s = str(value).replace("-", "")
    if not (len(s) == 8 and s.isdigit()):
        raise ValueError(f"date {value!r} is not a date.\nFix: use 'YYYYMMDD', 'YYYY-MM-DD' or a datetime.date.")
    return s


def date_range(date: Any) -> str:
    """A DICOM date matching string: one day, or (start, end) with None for an open end."""
    if isinstance(date, (tuple, list)):
        if len(date) != 2:
            raise ValueError(f"a date range is (start, end), got {date!r}")
        return f"{_date(date[0])}-{_date(date[1])}"
    if isinstance(date, str) and date.count("-") == 1 and len(date.replace("-", "")) in (8, 16):
        return date  # already "YYYYMMDD-YYYYMMDD" (or open-ended)
    return _date(date)


def _value(item: Mapping[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value")
    if not values:
        return None
    v = values[0] if len(values) == 1 else values
    if isinstance(v, dict):  # PersonName
        return v.get("Alphabetic")
    return v


def _table(items: list[dict[str, Any]], fields: list[tuple[str, str, str]]) -> pd.DataFrame:
    rows = [{col: _value(it, tag) for col, _, tag in fields} for it in items]
    df = pd.DataFrame(rows, columns=[c for c, _, _ in fields])
    for col in ("n_instances", "n_series", "series_number", "instance_number"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    return df


class DicomWebSource:
    """A DICOMweb server (a PACS, an Orthanc, a cloud archive) as a source of cohorts.

    Args:
        url: DICOMweb root; default from MEDWB_DICOMWEB_URL or the config file.
        token, username, password, headers: credentials; default from the environment / config file
            (see medwb.io.dicomweb_config). Prefer those over arguments in a notebook.
        cache: folder (or SeriesCache) for retrieved instances; default MEDWB_DICOMWEB_CACHE or
            ~/.cache/medwb/dicomweb.
        workers: parallel requests when instances are fetched one by one.
        **options: timeout=(connect, read), retries, backoff, backoff_max, config_path.

    Example:
        >>> src = DicomWebSource("http://127.0.0.1:8042/dicom-web", cache="/tmp/medwb-cache")  # doctest: +SKIP
        >>> series = src.search_series(modality="CT", date=("2024-01-01", None))              # doctest: +SKIP
        >>> volume = src.load_series(series.study_uid[0], series.series_uid[0])               # doctest: +SKIP
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
        return f"DicomWebSource({self.settings.url!r}, auth={self.settings.auth_kind}, cache={str(self.cache.root)!r})"

    @property
    def client(self) -> Any:
        """A dicomweb_client.DICOMwebClient for this thread (own retries off: ours are used)."""
        client = getattr(self._local, "client", None)
        if client is None:
            from dicomweb_client.api import DICOMwebClient

            client = DICOMwebClient(self.settings.url, session=self.settings.session(),
                                    timeout=self.settings.timeout)
            client.set_http_retry_params(retry=False)
            self._local.client = client
        return client

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        return with_retries(call, what=what, settings=self.settings)

    # -- QIDO-RS --------------------------------------------------------------------------
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
        fields = _STUDY_FIELDS + ([_NAME] if include_names else [])
        query = self._filters(patient_id, study_uid, modality, date, filters, "ModalitiesInStudy")
        items = self._call("search studies", lambda: self.client.search_for_studies(
            search_filters=query, fields=[k for _, k, _ in fields], limit=limit, get_remaining=limit is None))
        return _table(items, fields)

    def search_series(self, *, patient_id: str | None = None, study_uid: str | None = None,
                      modality: str | None = None, date: Any = None, filters: Mapping[str, Any] | None = None,
                      limit: int | None = None, include_names: bool = False) -> pd.DataFrame:
        """QIDO-RS series search → one row per series.

        Args:
            patient_id: PatientID (wildcards * and ? as the server allows).
            study_uid: restrict to one study.
            modality: e.g. "CT".
            date: StudyDate: "YYYYMMDD", a date, or a (start, end) range with None for an open end.
            filters: further attributes by keyword, e.g. {"BodyPartExamined": "HEAD"}.
            include_names: add PatientName (kept out by default so that tables shown on screen carry
                no names).
        """
        fields = _SERIES_FIELDS + ([_NAME] if include_names else [])
        query = self._filters(patient_id, None, modality, date, filters, "Modality")
        study = check_uid(study_uid, "StudyInstanceUID") if study_uid is not None else None
        items = self._call("search series", lambda: self.client.search_for_series(
            study_instance_uid=study, search_filters=query, fields=[k for _, k, _ in fields], limit=limit,
            get_remaining=limit is None))
        return _table(items, fields)

    def search_instances(self, study_uid: str, series_uid: str) -> pd.DataFrame:
        """QIDO-RS instance search within one series → sop_uid, sop_class, instance_number."""
        study, series = check_uid(study_uid, "StudyInstanceUID"), check_uid(series_uid, "SeriesInstanceUID")
        items = self._call(f"list instances of series {series}", lambda: self.client.search_for_instances(
            study_instance_uid=study, series_instance_uid=series, fields=[k for _, k, _ in _INSTANCE_FIELDS],
            get_remaining=True))
        return _table(items, _INSTANCE_FIELDS)

    # -- WADO-RS --------------------------------------------------------------------------
    def retrieve(self, study_uid: str, series_uid: str, *, mode: Literal["auto", "series", "instances"] = "auto",
                 progress: bool = True, on_instance: Callable[[int, int], None] | None = None) -> RetrievedSeries:
        """Bring one series into the cache (resuming a partial one) and return its files.

        A complete cached series is returned without any request. Otherwise the server's instance list
        is fetched and only the missing instances are retrieved: all at once (one multipart WADO-RS
        request, ``mode="series"``; the default when nothing is cached yet) or one request per instance
        with ``workers`` in parallel (``mode="instances"``; used to finish an interrupted series).
        ``on_instance(done, total)`` is called after every instance written.
        """
        from tqdm.auto import tqdm

        study, series = check_uid(study_uid, "StudyInstanceUID"), check_uid(series_uid, "SeriesInstanceUID")
        cached = self.cache.complete_files(study, series)
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
        wanted = [check_uid(s, "SOPInstanceUID") for s in listing["sop_uid"]]
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
        files = [self.cache.instance_path(study, series, s) for s in sorted(wanted)]
        return RetrievedSeries(study, series, self.cache.series_dir(study, series), files,
                               len(wanted) - n_cached, n_cached)

    def _stream_series(self, study: str, series: str, wanted: set[str], have: set[str],
                       written: Callable[[str], None]) -> None:
        """One multipart request; instances are cached as they arrive. A broken stream is not fatal:
        the instances still missing are fetched one by one afterwards (with retries)."""
        import requests

        try:
            stream = self.client.iter_series(study, series, media_types=(("application/dicom", "*"),))
            for ds in stream:
                sop = str(ds.SOPInstanceUID)
                if sop in have or sop not in wanted:
                    continue
                self.cache.put_dataset(ds)
                written(sop)
        except requests.HTTPError as e:
            fatal = fatal_error(e, f"retrieve series {series}", self.settings)
            if fatal is not None:
                raise fatal from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                ValueError):
            pass  # finish per instance below

    def _fetch_instances(self, study: str, series: str, sops: Sequence[str],
                         written: Callable[[str], None]) -> None:
        def one(sop: str) -> None:
            ds = self._call(f"retrieve instance {sop} of series {series}", lambda: self.client.retrieve_instance(
                study, series, sop, media_types=(("application/dicom", "*"),)))
            if str(ds.SOPInstanceUID) != sop:
                raise DicomWebError(f"asked for instance {sop}, the server sent {ds.SOPInstanceUID}")
            self.cache.put_dataset(ds)
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
              raise_on_failure: bool = True) -> pd.DataFrame:
        """STOW-RS: send datasets or DICOM files (e.g. SEG / SR / Parametric Map results) to the server.

        Returns one row per instance (sop_uid, series_uid, stored, reason). Instances the server refuses
        raise DicomWebStoreError naming them (or stay in the table with raise_on_failure=False).
        """
        import pydicom
        from tqdm.auto import tqdm

        items = [o if isinstance(o, pydicom.Dataset) else pydicom.dcmread(o) for o in objects]
        rows: list[dict[str, Any]] = []
        for start in tqdm(range(0, len(items), batch), desc="store", disable=not progress, leave=False):
            chunk = items[start:start + batch]
            result = self._call(f"store {len(chunk)} instance(s)", lambda c=chunk: self.client.store_instances(c))
            failed = {str(i.ReferencedSOPInstanceUID): int(getattr(i, "FailureReason", 0))
                      for i in (getattr(result, "FailedSOPSequence", None) or [])}
            for ds in chunk:
                sop = str(ds.SOPInstanceUID)
                rows.append({"sop_uid": sop, "series_uid": str(ds.SeriesInstanceUID),
                             "stored": sop not in failed,
                             "reason": f"0x{failed[sop]:04X}" if sop in failed else ""})
        table = pd.DataFrame(rows, columns=["sop_uid", "series_uid", "stored", "reason"])
        bad = table[~table["stored"]]
        if raise_on_failure and len(bad):
            raise DicomWebStoreError(
                f"the server refused {len(bad)} of {len(table)} instance(s), e.g. {bad.iloc[0]['sop_uid']} "
                f"(failure reason {bad.iloc[0]['reason']}; 0xA7xx: out of resources, 0xA9xx: data set does "
                "not match SOP class, 0xC000: cannot understand).\nFix: validate the objects, or call "
                "store(..., raise_on_failure=False) to get the table.")
        return table


def cohort_from_dicomweb(source: DicomWebSource, query: Mapping[str, Any] | None = None,
                         clinical: pd.DataFrame | str | Path | None = None, *, on: str = "patient_id",
                         choose: Callable[[pd.DataFrame], pd.Series] | None = None, retrieve: bool = True,
                         progress: bool = True, **cohort_options: Any) -> Any:
    """A medwb.Cohort from a DICOMweb series search joined with a clinical table.

    Args:
        source: the DICOMweb server.
        query: search_series keywords, e.g. {"modality": "CT", "date": ("2024-01-01", None)}.
        clinical: DataFrame or CSV with a column ``on`` matching the DICOM PatientID.
        choose: picks one series from a patient's candidates; default the one with most instances.
        retrieve: bring every chosen series into the cache now (otherwise image paths point where the
            cache will hold them; call source.retrieve later).

    Image paths are relative to ``cohort.root`` = the cache folder, so the cohort moves with its cache.
    Patients without a retrievable series and series without clinical data are listed in
    ``cohort.problems``; nothing is dropped silently.

    Example:
        >>> cohort = cohort_from_dicomweb(src, {"modality": "CT"}, "clinical.csv")   # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from medwb.cohort import Cohort, CohortError, CohortWarning

    series = source.search_series(**dict(query or {}))
    series = series[~series["modality"].isin(NON_IMAGE_MODALITIES)]
    problems: list[dict[str, Any]] = []
    rows = []
    for pid, group in tqdm(list(series.groupby("patient_id", sort=True)), desc="cohort", disable=not progress,
                           leave=False):
        best = choose(group) if choose else group.sort_values(
            ["n_instances", "series_uid"], ascending=[False, True], na_position="last").iloc[0]
        folder = source.cache.series_dir(best["study_uid"], best["series_uid"])
        image: str | None = str(folder.relative_to(source.cache.root))
        if retrieve:
            try:
                source.retrieve(best["study_uid"], best["series_uid"], progress=False)
            except DicomWebError as e:
                image = None
                problems.append({"case_id": str(pid), "column": "image", "value": best["series_uid"],
                                 "problem": f"retrieval failed: {str(e).splitlines()[0]}",
                                 "fix": "run cohort_from_dicomweb again once the server is reachable"})
        rows.append({"case_id": str(pid), "patient_id": str(pid), "image": image,
                     "study_uid": best["study_uid"], "series_uid": best["series_uid"],
                     "modality": best["modality"], "study_date": best["study_date"]})
    images = pd.DataFrame(rows, columns=["case_id", "patient_id", "image", "study_uid", "series_uid",
                                         "modality", "study_date"])
    table = images
    if clinical is not None:
        clin = pd.read_csv(clinical, dtype={on: str}) if isinstance(clinical, (str, Path)) else clinical.copy()
        if on not in clin.columns:
            raise CohortError(f"the clinical table has no column {on!r} to join on; it has {list(clin.columns)}."
                              "\nFix: pass on='<your patient id column>'.")
        clin[on] = clin[on].astype(str)
        clin = clin.drop(columns=[c for c in ("case_id", "image") if c in clin.columns and c != on])
        right = images.rename(columns={"patient_id": on}) if on != "patient_id" else images
        table = clin.merge(right, on=on, how="outer", indicator=True)
        for _, r in table[table["_merge"] == "right_only"].iterrows():
            problems.append({"case_id": r["case_id"], "column": "clinical", "value": None,
                             "problem": "image series has no clinical row",
                             "fix": f"add a row with {on}={r[on]!r} to the clinical table"})
        table.loc[table["case_id"].isna(), "case_id"] = table.loc[table["case_id"].isna(), on]
        table = table.drop(columns="_merge")
    cohort = Cohort(table.reset_index(drop=True), root=source.cache.root, warn=False, **cohort_options)
    if problems:
        cohort.problems = pd.concat([cohort.problems, pd.DataFrame(problems)], ignore_index=True)
    if len(cohort.problems):
        import warnings

        warnings.warn(f"{len(cohort.problems)} problem(s); see cohort.problems", CohortWarning, stacklevel=2)
    return cohort
