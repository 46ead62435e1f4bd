"""cohort_from_dicomweb: a medwb.Cohort from a DICOMweb series search joined with a clinical table."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from medwb.io.dicomweb.client import DicomWebSource
from medwb.io.dicomweb.config import DicomWebError, DicomWebWarning

__all__ = ["cohort_from_dicomweb", "NON_IMAGE_MODALITIES"]

#: Series of these modalities hold no image volume (results, documents, presentation states).
NON_IMAGE_MODALITIES = frozenset({"SR", "SEG", "PR", "KO", "RTSTRUCT", "RTPLAN", "RTDOSE", "REG", "DOC", "PLAN"})


def cohort_from_dicomweb(source: DicomWebSource, query: Mapping[str, Any] | None = None,
                         clinical: pd.DataFrame | str | Path | None = None, *, on: str = "patient_id",
                         choose: Callable[[pd.DataFrame], pd.Series] | None = None, retrieve: bool = True,
                         deidentify: Any = None, progress: bool = True, **cohort_options: Any) -> Any:
    """A medwb.Cohort from a DICOMweb series search joined with a clinical table.

    Args:
        source: the DICOMweb server.
        query: search_series keywords, e.g. {"modality": "CT", "date": ("2024-01-01", None)}.
        clinical: DataFrame or CSV with a column ``on`` matching the DICOM PatientID.
        choose: picks one series from a patient's candidates; default the one with most instances.
        retrieve: bring every chosen series into the cache now (otherwise image paths point where the
            cache will hold them; call source.retrieve later).
        deidentify: a medwb.deid.Deidentifier applied on import: images become de-identified copies
            under ``<cache>/deidentified/<pseudonym>/...``, and case ids, patient ids, UIDs and study dates
            in the table become pseudonyms, mapped UIDs and shifted dates (the mapping stays in the
            Deidentifier's PseudonymMap, apart from the data). Other clinical columns are kept as given.

    Image paths are relative to ``cohort.root`` = the cache folder, so the cohort moves with its cache.
    Patients without a retrievable series, series without clinical data, series whose search result
    is malformed (a UID that is not one) and series the server sends malformed (a part that is not DICOM,
    a deadline missed) are listed in ``cohort.problems``; the rest of the cohort still loads, and nothing
    is dropped silently.

    Example:
        >>> import pandas as pd
        >>> from medwb.export.series import write_series
        >>> from medwb.io.dicomweb import DicomWebSource
        >>> from medwb.io.dicomweb.orthanc import LocalOrthanc
        >>> ct = medwb.Volume.from_geometry(np.zeros((4, 8, 8), np.int16), modality="CT")
        >>> files = [*write_series(ct, tmp_path / "a", patient_id="P-1"),
        ...          *write_series(ct, tmp_path / "b", patient_id="P-2")]
        >>> pacs = LocalOrthanc(tmp_path / "pacs").start()
        >>> src = DicomWebSource(pacs.dicomweb_url, username=pacs.auth[0], password=pacs.auth[1],
        ...                      cache=tmp_path / "cache")
        >>> _ = src.store(files, progress=False)
        >>> clinical = pd.DataFrame({"patient_id": ["P-1", "P-2"], "age": [61, 70]})  # or a CSV path
        >>> cohort = cohort_from_dicomweb(src, {"modality": "CT"}, clinical, progress=False)
        >>> cohort.table[["case_id", "age", "modality"]].values.tolist(), cohort.volume("P-1").shape
        ([['P-1', 61, 'CT'], ['P-2', 70, 'CT']], (4, 8, 8))
        >>> pacs.stop()
    """
    from tqdm.auto import tqdm

    from medwb.cohort import Cohort, CohortError, CohortWarning

    with warnings.catch_warnings():  # malformed results are reported in cohort.problems instead
        warnings.simplefilter("ignore", DicomWebWarning)
        series = source.search_series(**dict(query or {}))
    problems: list[dict[str, Any]] = [
        {"case_id": p["patient_id"] or f"(search result {p['result']})", "column": "image", "value": p["uid"],
         "problem": f"malformed search result from the server: {p['problem']}",
         "fix": "report it to the PACS administrator; the other series were loaded"}
        for p in series.attrs["problems"].to_dict("records")]
    series = series[~series["modality"].isin(NON_IMAGE_MODALITIES)]
    rows = []
    for pid, group in tqdm(list(series.groupby("patient_id", sort=True)), desc="cohort", disable=not progress,
                           leave=False):
        best = choose(group) if choose else group.sort_values(
            ["n_instances", "series_uid"], ascending=[False, True], na_position="last").iloc[0]
        image: str | None = None
        try:  # check_uid (in series_dir) refuses a UID that a choose() function made up
            image = str(source.cache.series_dir(best["study_uid"], best["series_uid"]).relative_to(source.cache.root))
            if retrieve:
                source.retrieve(best["study_uid"], best["series_uid"], progress=False)
        except (DicomWebError, ValueError) as e:
            image = None
            problems.append({"case_id": str(pid), "column": "image", "value": best["series_uid"],
                             "problem": f"retrieval failed: {source.settings.scrub(str(e).splitlines()[0])}",
                             "fix": "run cohort_from_dicomweb again once the server is reachable; if the "
                                    "server sends malformed data, report it to the PACS administrator"})
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
    if deidentify is not None:
        table, problems = _deidentify(table, problems, on, source, deidentify, progress)
    cohort = Cohort(table.reset_index(drop=True), root=source.cache.root, warn=False, **cohort_options)
    if problems:
        cohort.problems = pd.concat([cohort.problems, pd.DataFrame(problems)], ignore_index=True)
    if len(cohort.problems):
        warnings.warn(f"{len(cohort.problems)} problem(s); see cohort.problems", CohortWarning, stacklevel=2)
    return cohort


def _deidentify(table: pd.DataFrame, problems: list[dict[str, Any]], on: str, source: DicomWebSource,
                deid: Any, progress: bool) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Replace images by de-identified copies and identifiers by pseudonyms (see cohort_from_dicomweb)."""
    import datetime as dt

    from tqdm.auto import tqdm

    table = table.copy()
    out_root = source.cache.root / "deidentified"
    mapping = deid.mapping
    for i in tqdm(range(len(table)), desc="de-identify", disable=not progress, leave=False):
        image = table.at[i, "image"] if "image" in table else None
        if isinstance(image, str) and image:
            done = deid.folder(source.cache.root / image, out_root, progress=False)
            if len(done):
                table.at[i, "image"] = str(Path(done["destination"].iloc[0]).parent.relative_to(source.cache.root))
    original = table[on].astype(str)
    pseudonyms = {pid: mapping.pseudonym(pid) for pid in original.unique()}
    table["case_id"] = original.map(pseudonyms)
    table[on] = table["case_id"]
    if "patient_id" in table and on != "patient_id":
        table["patient_id"] = table["case_id"]
    for col in ("study_uid", "series_uid"):
        if col in table and deid.uids == "map":
            table[col] = [mapping.uid(u) if isinstance(u, str) and u else u for u in table[col]]
    if "study_date" in table:
        def shift(pid: str, d: Any) -> Any:
            if not deid.retain_dates or not isinstance(d, str) or len(d) < 8:
                return None
            day = dt.datetime.strptime(d[:8], "%Y%m%d") + dt.timedelta(days=mapping.date_shift(pid))
            return day.strftime("%Y%m%d")

        table["study_date"] = [shift(pid, d) for pid, d in zip(original, table["study_date"])]
    for prob in problems:
        prob["case_id"] = pseudonyms.get(str(prob["case_id"]), mapping.pseudonym(str(prob["case_id"])))
        if isinstance(prob.get("value"), str) and prob["column"] == "image" and deid.uids == "map":
            prob["value"] = mapping.uid(prob["value"])
        prob["fix"] = "see the data manager: the fix names identifiers" if "=" in str(prob["fix"]) else prob["fix"]
    if mapping.path is not None:
        mapping.save()
    return table, problems
