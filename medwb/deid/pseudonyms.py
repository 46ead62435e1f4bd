"""Consistent pseudonyms for a cohort, kept apart from the data.

A PseudonymMap remembers, per original PatientID, the pseudonym and the date shift given, and holds the
secret key that maps UIDs (HMAC-SHA256 → a 2.25 UID), so that every file of a patient — today's and
next month's — gets the same pseudonym, the same shift and consistent UIDs. The file holds the
originals: it is written with mode 0600 and must live outside the de-identified data (medwb refuses
to write it inside the output folder).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from medwb.io.dicomweb.cache import atomic_write

__all__ = ["PseudonymMap"]


class PseudonymMap:
    """Original patient identity → pseudonym, date shift (days) and a UID key.

    Args:
        path: JSON file to load from / save to (None: in memory only).
        prefix: pseudonyms are ``{prefix}-0001``, ``{prefix}-0002``, ... in order of first sight.
        max_shift_days: date shifts are drawn uniformly from [-max_shift_days, -1].

    Example:
        >>> m = PseudonymMap(prefix="SUBJ")
        >>> m.pseudonym("MRN-77"), m.pseudonym("MRN-12"), m.pseudonym("MRN-77")
        ('SUBJ-0001', 'SUBJ-0002', 'SUBJ-0001')
        >>> m.uid("1.2.3") == m.uid("1.2.3") != "1.2.3"
        True
    """

    def __init__(self, path: str | Path | None = None, *, prefix: str = "SUBJ", max_shift_days: int = 365) -> None:
        self.path = Path(path).expanduser() if path is not None else None
        self.prefix = prefix
        self.max_shift_days = int(max_shift_days)
        self._patients: dict[str, dict[str, Any]] = {}
        self._key = secrets.token_hex(32)
        if self.path is not None and self.path.exists():
            data = json.loads(self.path.read_text())
            self.prefix = data.get("prefix", prefix)
            self.max_shift_days = int(data.get("max_shift_days", max_shift_days))
            self._patients = data["patients"]
            self._key = data["uid_key"]

    def __repr__(self) -> str:  # never shows an original identifier
        return f"PseudonymMap({len(self._patients)} patients, prefix={self.prefix!r}, path={self.path})"

    def __len__(self) -> int:
        return len(self._patients)

    def _entry(self, patient_id: str, patient_name: str | None = None) -> dict[str, Any]:
        key = str(patient_id)
        entry = self._patients.get(key)
        if entry is None:
            entry = {"pseudonym": f"{self.prefix}-{len(self._patients) + 1:04d}",
                     "shift_days": -(1 + secrets.randbelow(max(self.max_shift_days, 1))), "names": []}
            self._patients[key] = entry
        if patient_name and patient_name not in entry["names"]:
            entry["names"].append(str(patient_name))
        return entry

    def pseudonym(self, patient_id: str, patient_name: str | None = None) -> str:
        """The patient's pseudonym (assigned on first sight)."""
        return str(self._entry(patient_id, patient_name)["pseudonym"])

    def date_shift(self, patient_id: str) -> int:
        """Days added to every date of this patient (negative; the same for all of their files)."""
        return int(self._entry(patient_id)["shift_days"])

    def uid(self, original: str) -> str:
        """A new UID for ``original``: the same for the same key, unrelated to the original without it."""
        digest = hmac.new(bytes.fromhex(self._key), str(original).encode(), hashlib.sha256).digest()
        return f"2.25.{int.from_bytes(digest[:16], 'big')}"

    def originals(self) -> list[str]:
        """Every original identifier held (patient ids and names): what a PHI scan looks for."""
        out: list[str] = []
        for pid, entry in self._patients.items():
            out.append(pid)
            out.extend(entry["names"])
        return out

    def table(self) -> Any:
        """pandas table original_id → pseudonym, shift_days (holds identifiers: do not display it)."""
        import pandas as pd

        return pd.DataFrame([{"original_id": k, "pseudonym": v["pseudonym"], "shift_days": v["shift_days"]}
                             for k, v in self._patients.items()])

    def save(self, path: str | Path | None = None) -> Path:
        """Write the map (mode 0600, atomically)."""
        target = Path(path).expanduser() if path is not None else self.path
        if target is None:
            raise ValueError("this PseudonymMap has no file.\nFix: save(path) with a path outside the data, "
                             "e.g. ~/.config/medwb/deid/<project>.json")
        data = {"prefix": self.prefix, "max_shift_days": self.max_shift_days, "uid_key": self._key,
                "patients": self._patients}
        atomic_write(target, json.dumps(data, indent=1).encode())
        os.chmod(target, 0o600)
        self.path = target
        return target
