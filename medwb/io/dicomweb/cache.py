"""An on-disk cache of DICOM instances keyed by Study / Series / SOP Instance UID.

Layout: ``<root>/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm``. Every file is written to a temporary
name in the same folder and renamed into place, so a crash or a dropped connection never leaves a
half-written instance under its final name. A series counts as complete only once ``.complete.json``
(written the same way, listing every SOP Instance UID the server reported and each file's size) is
present and every listed file exists with that size; until then a retrieval resumes by fetching only the
missing instances.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["SeriesCache", "default_cache_dir", "check_uid"]

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
MARKER = ".complete.json"
_COUNTER = itertools.count()


def default_cache_dir() -> Path:
    env = os.environ.get("MEDWB_DICOMWEB_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "medwb" / "dicomweb"


def check_uid(uid: object, what: str = "UID") -> str:
    """A DICOM UID as a string, refusing anything that could escape the cache folder.

    Every path built from a UID (a search result, a multipart part, a marker file) goes through here:
    only ASCII digits and single dots, at most 64 characters, so no '..', '/', drive or NUL can pass.

    Example:
        >>> check_uid("1.2.840.10008.1")
        '1.2.840.10008.1'
        >>> check_uid("../../etc")
        Traceback (most recent call last):
        ...
        ValueError: UID '../../etc' is not a DICOM UID (digits and dots, at most 64 characters).
        Fix: take the UID from a search result (study_uid / series_uid / sop_uid columns).
    """
    s = str(uid).strip()
    if len(s) > 64 or not _UID.fullmatch(s):
        raise ValueError(f"{what} {s!r} is not a DICOM UID (digits and dots, at most 64 characters).\n"
                         "Fix: take the UID from a search result (study_uid / series_uid / sop_uid columns).")
    return s


def atomic_write(path: Path, data: bytes, durable: bool = False) -> None:
    """Write bytes to ``path`` through a temporary file in the same folder and an atomic rename.

    The rename makes a crash of this process (or a dropped connection) leave either the whole file or
    none; ``durable=True`` adds an fsync so that a power cut cannot either (slow: ~5 ms a file).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}-{threading.get_ident()}-{next(_COUNTER)}.part"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class SeriesCache:
    """Instances on disk, by UID.

    Example:
        >>> import tempfile
        >>> cache = SeriesCache(tempfile.mkdtemp())
        >>> cache.is_complete("1.2.3", "1.2.3.4")
        False
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"SeriesCache({str(self.root)!r})"

    def series_dir(self, study_uid: str, series_uid: str) -> Path:
        return self.root / check_uid(study_uid, "StudyInstanceUID") / check_uid(series_uid, "SeriesInstanceUID")

    def instance_path(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        return self.series_dir(study_uid, series_uid) / f"{check_uid(sop_uid, 'SOPInstanceUID')}.dcm"

    def has_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> bool:
        return self.instance_path(study_uid, series_uid, sop_uid).is_file()

    def put_instance(self, study_uid: str, series_uid: str, sop_uid: str, data: bytes) -> Path:
        path = self.instance_path(study_uid, series_uid, sop_uid)
        atomic_write(path, data)
        return path

    def put_dataset(self, dataset: Any) -> Path:
        """Store a pydicom Dataset under its own UIDs (as a DICOM Part 10 file)."""
        from io import BytesIO

        buf = BytesIO()
        dataset.save_as(buf, enforce_file_format=True)
        return self.put_instance(dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID,
                                 buf.getvalue())

    def cached_sops(self, study_uid: str, series_uid: str) -> set[str]:
        folder = self.series_dir(study_uid, series_uid)
        if not folder.is_dir():
            return set()
        return {p.stem for p in folder.glob("*.dcm") if not p.name.startswith(".") and p.stat().st_size > 0}

    def clean_partial(self, study_uid: str, series_uid: str) -> int:
        """Remove temporary files left by an interrupted write; returns how many."""
        folder = self.series_dir(study_uid, series_uid)
        n = 0
        for p in folder.glob(".*.part") if folder.is_dir() else []:
            p.unlink(missing_ok=True)
            n += 1
        return n

    def mark_complete(self, study_uid: str, series_uid: str, sop_uids: Iterable[str], source: str = "") -> Path:
        sops = [check_uid(s, "SOPInstanceUID") for s in sop_uids]  # order kept: files are listed in it
        missing = [s for s in sops if not self.has_instance(study_uid, series_uid, s)]
        if missing:
            raise RuntimeError(f"cannot mark series {series_uid} complete: {len(missing)} instance(s) missing, "
                               f"e.g. {missing[0]}")
        sizes = [self.instance_path(study_uid, series_uid, s).stat().st_size for s in sops]
        info = {"study_uid": study_uid, "series_uid": series_uid, "sop_uids": sops, "sizes": sizes,
                "source": source, "completed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = self.series_dir(study_uid, series_uid) / MARKER
        atomic_write(path, json.dumps(info, indent=1).encode(), durable=True)
        return path

    def complete_files(self, study_uid: str, series_uid: str) -> list[Path] | None:
        """The files of a complete series (as listed in its marker), or None when it is not complete."""
        marker = self.series_dir(study_uid, series_uid) / MARKER
        if not marker.is_file():
            return None
        try:
            info = json.loads(marker.read_text())
            sops, sizes = info["sop_uids"], info.get("sizes")
        except (json.JSONDecodeError, KeyError):
            return None
        try:  # check_uid (in instance_path) refuses a tampered marker's UIDs: the series is not complete
            paths = [self.instance_path(study_uid, series_uid, s) for s in sops]
            actual = [p.stat().st_size for p in paths]
        except (FileNotFoundError, ValueError, TypeError):
            return None
        return paths if sizes is None or actual == sizes else None

    def is_complete(self, study_uid: str, series_uid: str) -> bool:
        return self.complete_files(study_uid, series_uid) is not None

    def forget(self, study_uid: str, series_uid: str) -> None:
        """Delete a cached series (complete or not)."""
        import shutil

        shutil.rmtree(self.series_dir(study_uid, series_uid), ignore_errors=True)
