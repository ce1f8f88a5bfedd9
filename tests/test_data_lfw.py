"""LFW loading against the facts of the real protocol files and hand-built layouts."""
from __future__ import annotations

import warnings

import pytest

from bench.api import BenchError
from bench.data.lfw import LFW
from tests.conftest import make_mini_lfw


def test_real_pairs_counts(lfw_root):
    lfw = LFW(lfw_root)
    assert len(lfw.faces()) == 12794
    full = lfw.pairs()
    # Facts stated by the data's README: 5,605 of 6,000 pairs have both images.
    assert len(full.pairs) == 5605 and full.skipped == 395
    assert sum(p.same for p in full.pairs) == 2803
    assert {p.fold for p in full.pairs} == set(range(10))
    assert all(lfw.checksums()[f] == "ok" for f in ("pairs.txt", "pairsDevTrain.txt", "pairsDevTest.txt"))
    in_pairs = lfw.people_in_pairs()
    pool = [f for f in lfw.faces() if f.identity not in in_pairs]
    assert len(pool) == 1505


def test_fold_selection_and_view1(lfw_root):
    lfw = LFW(lfw_root)
    fold1 = lfw.pairs(folds=[1])
    assert {p.fold for p in fold1.pairs} == {0}
    assert len(fold1.pairs) + fold1.skipped == 600
    dev = lfw.pairs("dev-test")
    assert len(dev.pairs) + dev.skipped == 1000 and all(p.fold == -1 for p in dev.pairs)
    with pytest.raises(BenchError, match="out of range"):
        lfw.pairs(folds=[11])


PEOPLE = {"Aaron_Peirsol": 4, "Abdullah": 4, "Abel_Pacheco": 4, "Adam_Sandler": 4}


def test_missing_images_are_counted(tmp_path, lfw_root):
    root = make_mini_lfw(tmp_path / "lfw", lfw_root, PEOPLE, [
        "Aaron_Peirsol\t1\t2", "Abdullah\t1\t99",
        "Abel_Pacheco\t1\tAdam_Sandler\t1", "Aaron_Peirsol\t3\tAbdullah\t2"], "1\t2")
    result = LFW(root).pairs()
    assert result.skipped == 1 and "Abdullah/Abdullah_0099.jpg" in result.skipped_examples[0]
    assert [p.same for p in result.pairs] == [True, False, False]


def test_checksum_mismatch_warns_naming_file(tmp_path, lfw_root):
    root = make_mini_lfw(tmp_path / "lfw", lfw_root, PEOPLE, ["Aaron_Peirsol\t1\t2", "Abel_Pacheco\t1\tAdam_Sandler\t1"], "1\t1")
    with pytest.warns(UserWarning, match="pairs.txt"):
        sums = LFW(root).checksums()
    assert sums["pairs.txt"] == "mismatch"


@pytest.mark.parametrize("lines, header, message", [
    (["Aaron_Peirsol\t1\t2"], "1\t1", "announces 2 pairs but the file has 1"),
    (["Aaron_Peirsol\t1\t2", "Abdullah\t1\tAdam_Sandler\t2", "Abel_Pacheco\t1\tAdam_Sandler\t1",
      "Abel_Pacheco\t2\tAdam_Sandler\t1"], "1\t2", "different-person pair where"),
    (["../etc\t1\t2", "Abel_Pacheco\t1\tAdam_Sandler\t1"], "1\t1", "invalid person name"),
    (["Aaron_Peirsol\t1", "Abel_Pacheco\t1\tAdam_Sandler\t1"], "1\t1", "expected 3 or 4 fields"),
    (["Aaron_Peirsol\tx\t2", "Abel_Pacheco\t1\tAdam_Sandler\t1"], "1\t1", "invalid image number"),
    ([], "ten", "bad header"),
])
def test_bad_pairs_files(tmp_path, lfw_root, lines, header, message):
    root = make_mini_lfw(tmp_path / "lfw", lfw_root, PEOPLE, lines, header)
    with pytest.raises(BenchError, match=message) as info:
        LFW(root).pairs()
    assert "pairs.txt" in str(info.value)


def test_duplicated_lines_are_counted_and_warned(tmp_path, lfw_root):
    lines = ["Aaron_Peirsol\t1\t2", "Aaron_Peirsol\t1\t2", "Abel_Pacheco\t1\tAdam_Sandler\t1", "Abdullah\t1\tAdam_Sandler\t2"]
    root = make_mini_lfw(tmp_path / "lfw", lfw_root, PEOPLE, lines, "1\t2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = LFW(root).pairs()
    assert result.duplicates == 1
    assert any("duplicated pair" in str(w.message) and "line 3" in str(w.message) for w in caught)
