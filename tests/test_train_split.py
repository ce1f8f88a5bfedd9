"""The training pool never contains an image of pairs.txt (any fold), whatever the rule."""
from __future__ import annotations

import json

import pytest

from bench.api import BenchError
from bench.data.lfw import LFW
from inpaint.config import DataConfig
from inpaint.data import UnpairedFaces, pair_image_ids, training_pool


def _pairs_txt_ids(root):
    """Independent reading of pairs.txt: every image named by any line of any fold."""
    ids, people = set(), set()
    for line in (root / "pairs.txt").read_text().splitlines()[1:]:
        f = line.split()
        if len(f) == 3:
            ids |= {f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg", f"{f[0]}/{f[0]}_{int(f[2]):04d}.jpg"}
            people.add(f[0])
        elif len(f) == 4:
            ids |= {f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg", f"{f[2]}/{f[2]}_{int(f[3]):04d}.jpg"}
            people |= {f[0], f[2]}
    return ids, people


@pytest.mark.parametrize("rule", ["identity-disjoint", "not-in-pairs"])
def test_pool_excludes_every_pair_image(lfw_root, rule):
    lfw = LFW(lfw_root)
    pool = training_pool(lfw, rule)
    ids, people = _pairs_txt_ids(lfw_root)
    assert len(ids) == 7701  # the README's count of distinct images in pairs.txt
    assert pair_image_ids(lfw) == ids
    pool_ids = {f.id for f in pool}
    assert not pool_ids & ids
    if rule == "identity-disjoint":
        assert len(pool) == 1505 and not {f.identity for f in pool} & people
    else:
        assert len(pool) == 5357


def test_unknown_rule(lfw_root):
    with pytest.raises(BenchError, match="split rule"):
        training_pool(LFW(lfw_root), "everything")


def test_written_split_names_rule_and_ids(lfw_root, tmp_path):
    data = UnpairedFaces(DataConfig(root=str(lfw_root), max_images=6), 32, seed=0, cache_dir=tmp_path)
    data.write_split(tmp_path / "split.json")
    split = json.loads((tmp_path / "split.json").read_text())
    ids, _ = _pairs_txt_ids(lfw_root)
    assert split["rule"] == "identity-disjoint"
    assert split["ids"] == [f.id for f in data.faces] and len(split["ids"]) + len(split["excluded_no_landmarks"]) == 6
    assert not set(split["ids"]) & ids
    assert list(tmp_path.glob("landmarks-*.npz"))  # cached for the next run


def test_worker_batches_equal_in_process_batches(lfw_root, tmp_path):
    """Batches prepared ahead in worker processes are the batches of the same steps drawn in
    process, in step order (a run with workers sees the data of a run without)."""
    import torch

    from inpaint.data import step_batches

    import cv2
    import numpy as np

    data = UnpairedFaces(DataConfig(root=str(lfw_root), max_images=12), 32, seed=0, cache_dir=tmp_path)
    # OpenCV's thread pool in use before the workers start (forked workers then hang)
    cv2.resize(np.zeros((2000, 2000), np.float32), (999, 999))
    ahead = list(step_batches(data, 5, 9, 2, paired=True, workers=2))
    assert len(ahead) == 4
    for step, batch in zip(range(5, 9), ahead):
        reference = data.batch(step, 2, paired=True)
        assert batch.keys() == reference.keys()
        for key in reference:
            assert torch.equal(batch[key], reference[key]), (step, key)
    assert not torch.equal(ahead[0]["A"], ahead[1]["A"])
