"""The trained models as benchmark inpainters (cl-attn, cut, unet-paired): loading, resizing, compositing, errors."""
from __future__ import annotations

import hashlib

import cv2

import numpy as np
import pytest
import torch

import inpaint.inpainter as plugin
from bench.api import BenchError, Unavailable
from bench.registry import create, resolve
from inpaint.checkpoint import build_generator, save_generator
from inpaint.config import TrainConfig
from inpaint.data import luminance, resize, to_tensor, to_uint8


def _checkpoint(tmp_path, attention: bool, size: int = 32, step: int = 7, **model):
    cfg = TrainConfig(name="cl-attn" if attention else "cut")
    cfg.model.image_size, cfg.model.ngf, cfg.model.n_blocks, cfg.model.attention = size, 4, 2, attention
    for key, value in model.items():
        setattr(cfg.model, key, value)
    cfg.loss.nce_idt = cfg.model.region != "given"
    torch.manual_seed(0)
    g = build_generator(cfg.model)
    with torch.no_grad():  # non-trivial weights, so that the output is not flat grey
        for p in g.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    path = tmp_path / f"{cfg.name}.safetensors"
    save_generator(path, g, cfg.to_dict(), step)
    return path, g.eval()


def _faces(n=3, size=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_registered():
    assert resolve("inpainter", "cl-attn") is plugin.ContrastiveAttention
    assert resolve("inpainter", "cut") is plugin.CUT
    assert resolve("inpainter", "unet-paired") is plugin.PairedUNet


def _gray_faces(n=3, size=40, seed=0):
    return np.repeat(_faces(n, size, seed)[..., :1], 3, axis=3)


def test_given_region_changes_only_the_dilated_mask(tmp_path):
    path, _ = _checkpoint(tmp_path, attention=True, region="given", channels=1, skips=True,
                          region_dilate=2, region_feather=1)
    inp = plugin.ContrastiveAttention(checkpoint=path, region_dilate=None)  # the checkpoint's margin
    assert inp.needs_mask is True and inp.describe()["region"] == "given" and inp.describe()["region_dilate"] == 2
    images = _gray_faces()
    masks = np.zeros(images.shape[:3], bool)
    masks[:, 22:34, 8:30] = True
    out = inp(images, masks)
    # the margin at 40 px is the model's (2 + 1 px at 32) scaled by 40/32 and rounded: 2 + 1 px
    grown = cv2.dilate(masks.astype(np.uint8)[0], np.ones((7, 7), np.uint8)).astype(bool)
    np.testing.assert_array_equal(out[:, ~grown], images[:, ~grown])
    assert (out[:, masks[0]] != images[:, masks[0]]).any()
    # a gray face stays gray: the luminance model fills all three channels alike
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    # the default margin is 1 px at the model size: 1 + 1 px at 40 px; nothing outside changes
    narrow = plugin.ContrastiveAttention(checkpoint=path)
    assert narrow.describe()["region_dilate"] == 1
    out = narrow(images, masks)
    grown = cv2.dilate(masks.astype(np.uint8)[0], np.ones((5, 5), np.uint8)).astype(bool)
    np.testing.assert_array_equal(out[:, ~grown], images[:, ~grown])
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(BenchError, match="region_dilate"):
            plugin.ContrastiveAttention(checkpoint=path, region_dilate=bad)


def test_learned_region_blends_with_its_own_map(tmp_path):
    path, g = _checkpoint(tmp_path, attention=False, size=40, region="learned", channels=1)
    inp = plugin.CUT(checkpoint=path, flip_average=False)
    assert inp.needs_mask is False
    images = _gray_faces()
    out = inp(images, np.zeros(images.shape[:3], bool))
    with torch.no_grad():
        x = luminance(to_tensor(images))
        _, content, region = g(x)
    expected = to_uint8((region * content + (1 - region) * to_tensor(images)))
    np.testing.assert_array_equal(out, expected)


def test_flip_average_is_mirror_equivariant_and_differs_from_one_pass(tmp_path):
    path, _ = _checkpoint(tmp_path, attention=True, region="given", channels=1, skips=True)
    assert plugin.ContrastiveAttention(checkpoint=path).describe()["test_time"] == "one pass"  # the default
    inp = plugin.ContrastiveAttention(checkpoint=path, flip_average=True)
    assert "mirror" in inp.describe()["test_time"]
    images = _gray_faces()
    masks = np.zeros(images.shape[:3], bool)
    masks[:, 20:34, 6:26] = True  # not symmetric: the mirrored face has another mask
    out = inp(images, masks)
    mirrored = inp(images[:, :, ::-1].copy(), masks[:, :, ::-1].copy())
    assert np.abs(mirrored[:, :, ::-1].astype(int) - out.astype(int)).max() <= 1
    single = plugin.ContrastiveAttention(checkpoint=path)(images, masks)
    assert (single != out).any()
    with pytest.raises(BenchError, match="flip_average"):
        plugin.ContrastiveAttention(checkpoint=path, flip_average="yes")


def test_supervised_and_unpaired_checkpoints_are_kept_apart(tmp_path):
    path, _ = _checkpoint(tmp_path, attention=True)
    with pytest.raises(BenchError, match="unpaired"):
        plugin.PairedUNet(checkpoint=path)


def test_missing_release_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(plugin, "WEIGHTS", tmp_path)
    with pytest.raises(Unavailable, match="bench train inpaint/configs/cl-attn.yaml"):
        plugin.ContrastiveAttention()
    with pytest.raises(Unavailable, match="not found"):
        plugin.CUT(checkpoint=tmp_path / "nope.safetensors")


def test_translates_at_model_size_and_resizes_back(tmp_path):
    path, g = _checkpoint(tmp_path, attention=True)
    inp = create("inpainter", "cl-attn", checkpoint=str(path), device="cpu", batch_size=2, flip_average=False)
    images = _faces()
    masks = np.zeros(images.shape[:3], dtype=bool)
    out = inp(images, masks)
    assert out.shape == images.shape and out.dtype == np.uint8
    with torch.no_grad():
        expected = resize(to_uint8(g(to_tensor(resize(images, 32)))[0]), 40)
    np.testing.assert_array_equal(out, expected)
    # masks are ignored; the batch size does not change the result (no batch statistics)
    # (up to float rounding of a different batch shape: at most 1 grey level)
    other = plugin.ContrastiveAttention(checkpoint=path, batch_size=1, flip_average=False)(images, np.ones_like(masks))
    assert np.abs(other.astype(int) - out.astype(int)).max() <= 1


def test_model_size_input_is_not_resampled(tmp_path):
    path, g = _checkpoint(tmp_path, attention=False)
    images = _faces(size=32)
    out = plugin.CUT(checkpoint=path, flip_average=False)(images, np.zeros(images.shape[:3], bool))
    with torch.no_grad():
        np.testing.assert_array_equal(out, to_uint8(g(to_tensor(images))[0]))


def test_describe_reports_hash_and_steps(tmp_path):
    path, _ = _checkpoint(tmp_path, attention=False, step=123)
    facts = plugin.CUT(checkpoint=path).describe()
    assert facts["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert facts["steps_trained"] == 123 and facts["attention"] is False and facts["image_size"] == 32


def test_wrong_kind_of_checkpoint_and_bad_input(tmp_path):
    path, _ = _checkpoint(tmp_path, attention=True)
    with pytest.raises(BenchError, match="cl-attn"):
        plugin.CUT(checkpoint=path)
    inp = plugin.ContrastiveAttention(checkpoint=path)
    with pytest.raises(BenchError, match="uint8"):
        inp(_faces().astype(np.float32), np.zeros((3, 40, 40), bool))
    with pytest.raises(BenchError, match="masks"):
        inp(_faces(), np.zeros((3, 41, 40), bool))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(BenchError, match="garbage.safetensors"):
        plugin.ContrastiveAttention(checkpoint=garbage)


def test_released_checkpoints_load_when_present():
    for cls in (plugin.ContrastiveAttention, plugin.CUT):
        path = plugin.WEIGHTS / f"{cls.name}.safetensors"
        if not path.is_file():
            continue
        inp = cls()
        out = inp(_faces(n=1, size=160), np.zeros((1, 160, 160), bool))
        assert out.shape == (1, 160, 160, 3)
        card = path.with_suffix(".json")
        if card.is_file():
            import json

            facts = json.loads(card.read_text())
            assert facts["sha256"] == inp.describe()["sha256"]
            assert facts["steps_trained"] == inp.describe()["steps_trained"]


def test_onnx_export_matches_torch(tmp_path, capsys):
    from bench.cli import main as bench_main

    path, _ = _checkpoint(tmp_path, attention=True, size=32, region="given", channels=1, skips=True)
    onnx_file = tmp_path / "model.onnx"
    assert bench_main(["export", "cl-attn", str(onnx_file), "--checkpoint", str(path)]) == 0
    assert "max difference from torch" in capsys.readouterr().out and onnx_file.stat().st_size > 10_000
    import onnxruntime as ort

    from inpaint.export import example_inputs

    g = plugin.ContrastiveAttention(checkpoint=path).generator
    image, mask = example_inputs(g, batch=5, seed=3)
    out = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"]).run(
        ["output"], {"image": image.numpy(), "mask": mask.numpy()})[0]
    with torch.no_grad():
        want = g(image, mask > 0.5)[0].numpy()
    assert np.abs(out - want).max() < 1e-4
    assert bench_main(["export", "telea", str(tmp_path / "x.onnx")]) == 1
