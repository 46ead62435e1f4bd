"""Fixtures for the reader-study tests: the Van Dyke study (published data) and PostgreSQL helpers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "published"  # published studies' ratings (a "data/" folder would be git-ignored)


def read_lrc(path: Path) -> pd.DataFrame:
    """An ROC study in the MRMC .lrc text format (as shipped with RJafroc: inst/extdata/datasets/VD.lrc):
    a title line, the first reader's id, the modality names, a line of 'L' (large = diseased), then
    per reader (its id first, except for the first reader): the non-diseased cases' ratings (one column per modality, then the case number) up to '*', the diseased ones up to
    '*'; '#' ends the file."""
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    modalities = [m.strip('"') for m in lines[2].split()]
    rows, i, reader = [], 4, lines[1]  # the first reader's id comes before the modality lines
    while lines[i] != "#":
        if i > 4:
            reader = lines[i]
            i += 1
        for truth in (0, 1):
            while lines[i] != "*":
                *ratings, case = lines[i].split()
                for mod, r in zip(modalities, ratings):
                    rows.append({"reader": reader, "modality": mod, "case": int(case), "truth": truth,
                                 "rating": float(r)})
                i += 1
            i += 1
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def vandyke() -> pd.DataFrame:
    """Van Dyke et al. (1993) cine-MRI vs spin-echo MRI: 5 readers × 2 modalities × 114 cases (45 diseased).
    The text is RJafroc's inst/extdata/datasets/VD.lrc (its dataset02; MRMCaov's VanDyke)."""
    return read_lrc(DATA / "VD.lrc")


# -- a throwaway PostgreSQL cluster (Debian package postgresql) -----------------------------------

def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_url():
    """A SQLAlchemy URL of a PostgreSQL server started for the session on 127.0.0.1 (initdb + pg_ctl on a
    temporary directory; as root, the server runs as the unprivileged user 'nobody'); stopped at the end."""
    import os
    import shutil
    import socket
    import subprocess
    import tempfile

    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin "
                    "(apt-get install postgresql; listed in .ci/apt-test.txt)")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')")
    root = Path(tempfile.mkdtemp(prefix="medwb-pg-"))
    data = root / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "nobody", "nogroup")
        prefix = ["runuser", "-u", "nobody", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "medwb", "--no-sync")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log.txt"), "-w", "-t", "60",
        "-o", f"-k {root} -p {port} -h 127.0.0.1 -F", "start")
    try:
        yield f"postgresql+psycopg://medwb@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
