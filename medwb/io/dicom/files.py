"""Find the files under a folder tree, safely: symlink loops and unreadable folders are reported, not fatal.

walk_files() follows directory symlinks (exports often link series folders) but enters each real folder
once: a link back to a folder already on the way down (a loop, which would otherwise end in ELOOP) or to
one already listed is skipped and reported as a (path, reason) pair, so scan() can put it in its problems
table and load_series() can warn. Nothing here opens a file.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["walk_files", "list_files"]


def walk_files(folder: str | os.PathLike, recursive: bool = True) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(every regular, non-hidden file under ``folder``, sorted; [(path, reason)] for what was skipped).

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "a").mkdir(); _ = (root / "a" / "f").write_text("x")
        >>> (root / "a" / "back").symlink_to(root, target_is_directory=True)
        >>> files, skipped = walk_files(root)
        >>> [f.name for f in files], [(p.name, why.split(":")[0]) for p, why in skipped]
        (['f'], [('back', 'directory symlink loop')])
    """
    root = Path(folder)
    out: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    start = os.stat(root)
    seen: dict[tuple[int, int], Path] = {(start.st_dev, start.st_ino): root}
    # each entry: (folder, the real folders above it, itself included) -- a link to one of those is a loop
    stack: list[tuple[Path, frozenset[tuple[int, int]]]] = [(root, frozenset({(start.st_dev, start.st_ino)}))]
    while stack:
        d, ancestors = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError as exc:
            skipped.append((d, f"cannot list the folder ({exc.strerror or exc}). Fix: check its permissions."))
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir()  # follows symlinks
                is_file = not is_dir and e.is_file()
            except OSError as exc:  # e.g. ELOOP on a link that points at itself
                skipped.append((Path(e.path), f"unreadable link ({exc.strerror or exc}). Fix: remove or repair it."))
                continue
            if is_dir and recursive:
                try:
                    st = os.stat(e.path)
                except OSError as exc:
                    skipped.append((Path(e.path), f"cannot enter the folder ({exc.strerror or exc})."))
                    continue
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    skipped.append((Path(e.path), f"directory symlink loop: it leads back to {seen.get(key, '?')}, "
                                                  "which is being scanned already; not followed. "
                                                  "Fix: remove the link if it is a mistake."))
                    continue
                if key in seen:
                    skipped.append((Path(e.path), f"same folder as {seen[key]} (through a directory symlink), "
                                                  "which is listed already; not listed twice."))
                    continue
                seen[key] = Path(e.path)
                stack.append((Path(e.path), ancestors | {key}))
            elif is_file:
                out.append(Path(e.path))
    return sorted(out), skipped


def list_files(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Every regular, non-hidden file under ``folder`` (sorted), DICOM or not; loops are not followed."""
    return walk_files(folder, recursive)[0]
