"""Real masked photos in training: the fixed train / held-out split of a photo folder, the
occluded domain drawing real crops with their segmented regions, and the config checks."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from bench.api import BenchError
from bench.data.imageio import list_images
from bench.photos.faces import collect_faces
from bench.photos.subsets import select, subset_of
from bench.protocol import load as load_protocol
from inpaint.config import DataConfig, config_from_dict
from inpaint.data import UnpairedFaces, resize, resize_masks


def test_split_halves_the_real_folder_by_path_alone(bench_data):
    photos = list_images(bench_data / "masked-real-dev")
    train, held = select(photos, "train"), select(photos, "held-out")
    assert len(photos) == 396 and not set(train) & set(held) and sorted(train + held) == sorted(photos)
    assert 0.4 < len(held) / len(photos) < 0.6
    # the rule: parity of the first byte of the SHA-256 of the relative path
    assert all((hashlib.sha256(p.encode()).digest()[0] % 2 == 0) == (p in held) for p in photos)
    # a photo keeps its half whatever else is in the folder
    assert select(photos[::3], "held-out") == [p for p in photos[::3] if p in held]
    assert select(photos, "all") == photos
    with pytest.raises(BenchError, match="subset 'test' unknown"):
        select(photos, "test")


def test_protocol_subset_is_for_photos_only(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("dataset: {kind: lfw, root: /x, subset: held-out}\nmethods: [masked]\n")
    with pytest.raises(BenchError, match="dataset.subset: only a photos dataset"):
        load_protocol(path)
    path.write_text("dataset: {kind: photos, root: /x, subset: half}\nmethods: [masked]\n")
    with pytest.raises(BenchError, match="dataset.subset: 'half' unknown"):
        load_protocol(path)
    path.write_text("dataset: {kind: photos, root: /x, subset: held-out}\nmethods: [masked]\n")
    assert load_protocol(path).dataset.subset == "held-out"


def _names_in(subset: str, count: int) -> list[str]:
    names = (f"p{i:03d}.jpg" for i in range(1000))
    return [n for n in names if subset_of(n) == subset][:count]


def test_occluded_domain_draws_real_faces_with_their_regions(bench_data, lfw_root, tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    sources = [bench_data / "masked-real-dev" / "0002" / name for name in ("0001.jpg", "0008.jpg")]
    train_names, held_names = _names_in("train", 2), _names_in("held-out", 1)
    for src, name in zip(sources + sources[:1], train_names + held_names):
        shutil.copy(src, folder / name)
    cfg = DataConfig(root=str(lfw_root), max_images=8, real_masked=str(folder), real_fraction=1.0, jitter=0, flip=False)
    data = UnpairedFaces(cfg, 64, seed=0, cache_dir=tmp_path)
    assert sorted(set(data.real.photos)) == sorted(train_names)  # the held-out photo is never drawn
    expected = collect_faces(folder, train_names, "independent")
    batch = data.batch(step=3, batch_size=2)
    crops = resize(expected.crops, 64).astype(np.float32) / 127.5 - 1
    masks = resize_masks(expected.regions, 64)
    for image, mask in zip(batch["A"].numpy(), batch["mask_A"].numpy()):
        k = int(np.argmin([np.abs(image.transpose(1, 2, 0) - c).max() for c in crops]))
        assert np.abs(image.transpose(1, 2, 0) - crops[k]).max() < 1e-5 and (mask == masks[k]).all()
    data.write_split(tmp_path / "split.json")
    real = json.loads((tmp_path / "split.json").read_text())["real_masked"]
    assert real["photos"] == sorted(train_names) and real["fraction"] == 1.0 and real["faces"] == len(expected.crops)
    assert list(tmp_path.glob("real-faces-*.npz"))  # cached for the next run
    with pytest.raises(BenchError, match="supervised model"):
        config_from_dict({"loss": {"supervised": True}, "data": {"real_masked": str(folder), "real_fraction": 0.5}})


def test_real_fraction_needs_a_folder():
    with pytest.raises(BenchError, match="data.real_masked: must name a folder"):
        config_from_dict({"data": {"real_fraction": 0.5}})
    with pytest.raises(BenchError, match="data.real_fraction: must be in"):
        config_from_dict({"data": {"real_masked": "x", "real_fraction": 1.5}})
