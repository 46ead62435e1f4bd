"""Turn values that come from data (UIDs, patient ids, case ids, labels) into safe file names.

safe_name() makes one path component out of any value: no separators, no '..', no NUL or control
characters, no leading dot, a bounded length; a value it had to change gets a short hash of the
original, so that two different values never share a name. inside() checks that a path built under
a folder stays in it. Nothing here reads or writes files; medwb's writers (de-identification,
pipeline, exports) build every data-derived path through these two.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = ["safe_name", "inside", "PathEscapeError"]

_ALLOWED = re.compile(r"[^A-Za-z0-9._-]+")
# names Windows reserves whatever the extension; refused everywhere so that outputs can be copied there
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


class PathEscapeError(ValueError):
    """A path built from data would lie outside the folder it belongs in."""


def safe_name(value: object, *, fallback: str = "_", max_length: int = 96) -> str:
    """One file-name component for ``value``: letters, digits, '.', '_' and '-' only.

    Any other run of characters (path separators, '..' steps, NUL, spaces, non-ASCII) becomes '_';
    leading dots and separators are dropped, so the result is never '.', '..', hidden or absolute.
    Values that are already safe (UIDs, pseudonyms such as SUBJ-0001) come back unchanged; a value
    that had to change, or is longer than ``max_length``, gets '-' and 10 hex digits of its SHA-256,
    so distinct values give distinct names.

    Args:
        value: anything; ``str(value)`` is used.
        fallback: the stem used when nothing safe is left (e.g. an empty value).
        max_length: the longest name returned (at least 16).

    Example:
        >>> safe_name("1.2.840.113619.2.55.3")
        '1.2.840.113619.2.55.3'
        >>> safe_name("../../etc/passwd")
        'etc_passwd-3754d6cb3a'
        >>> safe_name("/abs/path") == safe_name("abs/path")
        False
        >>> len(safe_name("x" * 1000)) <= 96
        True
    """
    if max_length < 16:
        raise ValueError(f"max_length is {max_length}. Fix: pass max_length=16 or more (room for the hash).")
    text = str(value)
    name = _ALLOWED.sub("_", text).lstrip("._-").rstrip(".")
    changed = name != text or not name or name.split(".")[0].upper() in _RESERVED
    if not name or name.split(".")[0].upper() in _RESERVED:
        name = f"{fallback}{name}" if name else fallback
    if changed or len(name) > max_length:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        name = f"{name[:max_length - 11].rstrip('.')}-{digest}"
    return name


def inside(path: str | Path, root: str | Path) -> Path:
    """``path`` resolved, after checking that it lies inside ``root`` (symbolic links followed).

    Raises:
        PathEscapeError: naming both paths, when ``path`` would leave ``root``.

    Example:
        >>> inside(tmp_path / "a" / "b.dcm", tmp_path) == (tmp_path / "a" / "b.dcm").resolve()
        True
    """
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise PathEscapeError(f"the path {path} leaves the folder {root}. Fix: build each part from data "
                              "with medwb.paths.safe_name().")
    return resolved
