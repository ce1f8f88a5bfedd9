"""CelebA layout, its seeded pairs, the image-folder dataset and `bench data`, on layouts built here."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.api import BenchError
from bench.cli import main
from bench.data.celeba import CelebA, write_pairs
from bench.data.folder import ImageFolder


@pytest.fixture
def celeba_root(tmp_path, lfw_root) -> Path:
    """A CelebA layout made of LFW-gray images: 8 identities x 3 images, two splits."""
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    people = sorted(p for p in lfw_root.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 3)[:8]
    partition, identity, landmarks = [], [], ["24", "lefteye_x lefteye_y ..."]
    number = 0
    for pid, person in enumerate(people):
        for image in sorted(person.glob("*.jpg"))[:3]:
            number += 1
            name = f"{number:06d}.jpg"
            shutil.copy(image, root / "img_align_celeba" / name)
            partition.append(f"{name} {2 if pid < 6 else 0}")
            identity.append(f"{name} {pid + 100}")
            landmarks.append(f"{name} 60 70 100 70 80 95 65 115 95 115")
    (root / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    (root / "identity_CelebA.txt").write_text("\n".join(identity) + "\n")
    (root / "list_landmarks_align_celeba.txt").write_text("\n".join(landmarks) + "\n")
    return root


def test_celeba_test_split_and_pairs(celeba_root, tmp_path):
    data = CelebA(celeba_root, "test")
    faces = data.faces()
    assert len(faces) == 18 and {f.identity for f in faces} == {str(i) for i in range(100, 106)}
    pairs = data.pairs(n_pairs=20, seed=3).pairs
    same = [p for p in pairs if p.same]
    assert len(pairs) == 20 and len(same) == 10
    identity = {f.id: f.identity for f in faces}
    assert all((identity[p.a] == identity[p.b]) == p.same for p in pairs)
    assert len({(p.a, p.b) for p in pairs}) == 20
    assert pairs == data.pairs(n_pairs=20, seed=3).pairs
    assert pairs != data.pairs(n_pairs=20, seed=4).pairs
    write_pairs(tmp_path / "pairs.csv", pairs)
    lines = (tmp_path / "pairs.csv").read_text().splitlines()
    assert lines[0] == "a,b,same" and len(lines) == 21
    assert data.landmarks5()[faces[0].id].shape == (5, 2)


def test_celeba_errors(celeba_root, tmp_path):
    with pytest.raises(BenchError, match="missing img_align_celeba"):
        CelebA(tmp_path)
    with pytest.raises(BenchError, match="split 'dev' unknown"):
        CelebA(celeba_root, "dev")
    (celeba_root / "list_eval_partition.txt").write_text("../../etc/passwd 2\n")
    with pytest.raises(BenchError, match="escapes the image folder"):
        CelebA(celeba_root).faces()


def test_image_folder(bench_data):
    folder = ImageFolder(bench_data / "att-faces")
    faces = folder.faces()
    assert len(faces) == 400 and faces[0].id.endswith(".png") and folder.pairs().pairs == []


def test_data_check_cli(lfw_root, celeba_root, capsys):
    assert main(["data", "check", str(lfw_root)]) == 0
    out = capsys.readouterr().out
    assert "12794 images" in out and "5605 usable pairs, 395 skipped" in out and "pairs.txt            ok" in out
    assert main(["data", "check", str(celeba_root)]) == 0
    assert "test: 18 images present" in capsys.readouterr().out


def test_data_fetch_fails_fast_with_instructions(tmp_path, capsys, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert main(["data", "fetch", "celeba", "--to", str(tmp_path), "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach" in err and "img_align_celeba.zip" in err
