"""The redesigned recipe: region compositing, U-Net path, frozen-trunk critics, DiffAugment,
masked PatchNCE sampling, and the trainer's unpaired / supervised / signal / validation paths."""
from __future__ import annotations

import csv
import os
import signal
import threading

import numpy as np
import pytest
import torch

from inpaint.augment import translation
from inpaint.losses import PatchSampleMLP, total_variation
from inpaint.networks import Generator
from inpaint.networks.region import RegionGenerator, soft_region
from inpaint.train import run_paths, train
from tests.test_train import tiny_config


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_soft_region_by_hand():
    mask = torch.zeros(1, 1, 9, 9)
    mask[0, 0, 4, 4] = 1
    grown = soft_region(mask, dilate=1, feather=0)
    assert grown[0, 0].nonzero().tolist() == [[y, x] for y in (3, 4, 5) for x in (3, 4, 5)]
    soft = soft_region(mask, dilate=1, feather=1)
    assert soft[0, 0, 4, 4] == 1 and soft[0, 0, 3, 3] == pytest.approx(4 / 9)  # 2x2 of the 3x3 square in its box
    assert soft[0, 0, 0, 0] == 0 and soft[0, 0, 2, 2] == pytest.approx(1 / 9)


def test_given_region_keeps_every_pixel_outside_it():
    g = RegionGenerator(Generator(ngf=4, n_blocks=2, image_size=32, in_channels=2, out_channels=1, skips=True),
                        "given", channels=1, dilate=2, feather=1)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    mask[:, :, 18:26, 6:20] = True
    out, content, region = g(x, mask)
    outside = soft_region(mask, 2, 1) == 0
    assert torch.equal(out[outside], x[outside])
    assert torch.equal(out[mask], content[mask])  # region is exactly 1 on the mask itself
    with pytest.raises(ValueError, match="mask"):
        g(x)


def test_learned_region_is_in_unit_range_and_skips_change_the_output():
    g = RegionGenerator(Generator(ngf=4, n_blocks=2, image_size=32, in_channels=1, out_channels=2, skips=True),
                        "learned", channels=1)
    out, content, region = g(torch.rand(2, 1, 32, 32) * 2 - 1)
    assert out.shape == content.shape == region.shape == (2, 1, 32, 32)
    assert region.min() >= 0 and region.max() <= 1
    assert {k.split(".")[1] for k in g.state_dict()} >= {"up1", "fuse1", "up2", "fuse2", "head"}


def test_translation_by_hand():
    torch.manual_seed(5)
    x = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    torch.manual_seed(5)
    out = translation(x, ratio=0.25)
    torch.manual_seed(5)
    dy, dx = torch.randint(-2, 3, (2,)), torch.randint(-2, 3, (2,))
    for i in range(2):
        shifted = torch.zeros(8, 8)
        for y in range(8):
            for xx in range(8):
                sy, sx = y - int(dy[i]), xx - int(dx[i])
                if 0 <= sy < 8 and 0 <= sx < 8:
                    shifted[y, xx] = x[i, 0, sy, sx]
        assert torch.equal(out[i, 0], shifted)


def test_weighted_sampling_avoids_zero_weight_locations():
    sampler = PatchSampleMLP([3], units=8)
    feat = torch.randn(2, 3, 8, 8)
    weights = torch.ones(2, 1, 8, 8)
    weights[0, :, :4] = 0  # image 0: top half never
    weights[1, :, :, 4:] = 0  # image 1: right half never
    _, ids = sampler([feat], num_patches=20, weights=weights)
    assert ids[0].shape == (2, 20)
    assert (ids[0][0] // 8 >= 4).all() and (ids[0][1] % 8 < 4).all()
    assert len(set(ids[0][0].tolist())) == 20


def test_total_variation_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]])
    # rows: |1-0|, |1-1| -> mean 0.5; columns: |1-0|, |1-1| -> 0.5
    assert total_variation(x).item() == pytest.approx(1.0)


def test_projected_critic_uses_the_frozen_trunk():
    from inpaint.networks.projected import ProjectedDiscriminator

    d = ProjectedDiscriminator("alex", layers=(0, 1))
    x = torch.rand(2, 1, 64, 64, requires_grad=True)
    logits = d(x * 2 - 1)
    assert len(logits) == 2 and all(t.shape[:2] == (2, 1) for t in logits)
    assert not any(k.startswith("_trunk") for k in d.state_dict())
    sum(t.mean() for t in logits).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradients reach the generator's image
    assert all(p.grad is None for p in d._trunk.parameters())
    plain = ProjectedDiscriminator("alex", layers=(0,), spectral_norm=False, trunk=d._trunk)
    assert not any("parametrizations" in k for k in plain.state_dict())
    assert any("parametrizations" in k for k in d.state_dict())


def _recipe(lfw_root, **overrides):
    model = {"image_size": 32, "ngf": 4, "n_blocks": 2, "ndf": 4, "n_layers_d": 2, "channels": 1, "skips": True,
             "region": "given"}
    loss = {"num_patches": 16, "mlp_units": 16, "gan_mode": "hinge", "nce_idt": False, "nce_hole_weight": 0.0,
            "diff_augment": True}
    model.update(overrides.pop("model", {}))
    loss.update(overrides.pop("loss", {}))
    return tiny_config(lfw_root, model=model, loss=loss, **overrides)


@pytest.mark.slow
def test_given_region_recipe_trains_and_validates(lfw_root, tmp_path):
    cfg = _recipe(lfw_root, steps=3, decay_steps=0, validate_minutes=1e-6, bf16=True,
                  model={"projected_d": "alex", "image_size": 128}, data={"root": str(lfw_root), "max_images": 24, "val_images": 6})
    result = train(cfg, tmp_path, progress=False)
    assert result["step"] == 3 and all(np.isfinite(list(result["losses"].values())))
    paths = run_paths(tmp_path, cfg.name)
    with open(paths["val"]) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["step"] for r in rows] == ["0", "1", "2", "3"]
    assert all(0 <= float(r["lpips"]) < 1 and np.isfinite(float(r["kid"])) for r in rows)
    trainer = result["trainer"]
    train_ids = {f.id for f in trainer.data.faces}
    assert len(trainer.data.val_faces) == 6 and not train_ids & {f.id for f in trainer.data.val_faces}
    assert "A_clean" not in trainer.data.batch(0, 2)  # unpaired batches hold no clean twin
    # the markdown card: from the JSON card, with a run's scores for this model
    import json

    from inpaint.card import markdown

    metrics = tmp_path / "metrics.csv"
    metrics.write_text("dataset,mask,method,recognizer,metric,value,ci_low,ci_high,n\n"
                       "LFW-gray,surgical,cl-attn (given),,lpips,0.1234,,,9\n"
                       "LFW-gray,surgical,cl-attn (given),dlib,acc,0.95,,,9\n"
                       "LFW-gray,surgical,telea,,lpips,0.2,,,9\n")
    card = json.loads(paths["card"].read_text())
    text = markdown(card, metrics)
    assert "3 steps of batch 1" in text and f"LPIPS {float(rows[-1]['lpips']):.4f}" in text
    assert "| 0.1234 |" in text and "dlib 95.00%" in text and "0.2000" not in text


@pytest.mark.slow
def test_blind_and_supervised_recipes_train(lfw_root, tmp_path):
    blind = _recipe(lfw_root, steps=2, decay_steps=0, model={"region": "learned"},
                    loss={"lambda_region_clean": 1.0, "lambda_region_area": 0.1, "lambda_region_tv": 0.1})
    losses = train(blind, tmp_path / "blind", progress=False)["losses"]
    assert losses["REG"] > 0 and losses["SUP"] == 0
    paired = _recipe(lfw_root, name="unet-paired", steps=2, decay_steps=0,
                     loss={"supervised": True, "lambda_gan": 0.0, "lambda_nce": 0.0})
    result = train(paired, tmp_path / "paired", progress=False)
    assert result["losses"]["SUP"] > 0 and result["losses"]["G_GAN"] == 0 and result["trainer"].D is None
    from inpaint.inpainter import PairedUNet

    out = PairedUNet(checkpoint=run_paths(tmp_path / "paired", "unet-paired")["weights"])(
        np.zeros((1, 40, 40, 3), np.uint8), np.ones((1, 40, 40), bool))
    assert out.shape == (1, 40, 40, 3)


@pytest.mark.slow
def test_sigterm_saves_a_resumable_checkpoint(lfw_root, tmp_path):
    cfg = _recipe(lfw_root, steps=10_000, decay_steps=0)
    log = run_paths(tmp_path, cfg.name)["log"]
    done = threading.Event()

    def stop_when_training() -> None:  # the log opens once the handlers are in place
        while not done.wait(0.2):
            if log.is_file():
                done.wait(1.0)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    thread = threading.Thread(target=stop_when_training, daemon=True)
    thread.start()
    try:
        result = train(cfg, tmp_path, progress=False)
    finally:
        done.set()
    assert result["stopped_by"] == "SIGTERM" and 0 < result["step"] < 10_000
    resumed = train(cfg, tmp_path, resume=True, stop_at=result["step"] + 1, progress=False)
    assert resumed["step"] == result["step"] + 1


def test_pilot_table_compares_at_equal_cpu_time(tmp_path):
    from inpaint.curves import equal_budget_table, main, read_runs

    header = "step,seconds,cpu_seconds,kid,lpips,psnr_mask\n"
    (tmp_path / "a.val.csv").write_text(header + "0,0,0,0.3,0.4,14\n100,60,60,0.2,0.3,15\n200,120,120,0.1,0.2,16\n")
    (tmp_path / "b.val.csv").write_text(header + "0,0,0,0.3,0.4,14\n50,58,61,0.25,0.35,14.5\n")
    runs = read_runs([str(tmp_path / "a.val.csv"), f"{tmp_path / 'b.val.csv'}=variant B"])
    table = equal_budget_table(runs)
    assert "| a | 100 | 1.0 | 0.2000 | 0.3000 | 15.00 |" in table  # a's row nearest to b's 61 CPU-s
    assert "| variant B | 50 | 1.0 | 0.2500 |" in table
    assert main([str(tmp_path / "a.val.csv"), "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.val.csv")])


def test_pilot_table_shows_identity_when_every_log_has_it(tmp_path):
    from inpaint.curves import equal_budget_table, main, read_runs

    header = "step,seconds,cpu_seconds,kid,lpips,psnr_mask,id_dlib,id_dlib_masked\n"
    (tmp_path / "a.val.csv").write_text(header + "0,0,0,0.3,0.4,14,0.90,0.93\n100,60,60,0.2,0.3,15,0.94,0.93\n")
    (tmp_path / "b.val.csv").write_text(header + "0,0,0,0.3,0.4,14,0.90,0.93\n50,58,61,0.25,0.35,14.5,0.91,0.93\n")
    table = equal_budget_table(read_runs([str(tmp_path / "a.val.csv"), str(tmp_path / "b.val.csv")]))
    assert "| a | 100 | 1.0 | 0.2000 | 0.3000 | 15.00 | 0.9400 (0.9300) |" in table
    averaged = equal_budget_table(read_runs([str(tmp_path / "a.val.csv"), str(tmp_path / "b.val.csv")]), window=1.1)
    assert "| a | 0-100 (2) | 0.5 | 0.2500 | 0.3500 | 14.50 | 0.9200 (0.9300) |" in averaged
    old = tmp_path / "old.val.csv"  # a log written before identity was measured
    old.write_text("step,seconds,cpu_seconds,kid,lpips,psnr_mask\n0,0,0,0.3,0.4,14\n")
    assert "dlib id" not in equal_budget_table(read_runs([str(tmp_path / "a.val.csv"), str(old)]))
    assert main([str(tmp_path / "a.val.csv"), str(old), "--out", str(tmp_path / "c.png")]) == 0


@pytest.mark.slow
def test_cpu_budget_stops_and_saves(lfw_root, tmp_path):
    cfg = _recipe(lfw_root, steps=10_000, decay_steps=0)
    result = train(cfg, tmp_path, progress=False, cpu_budget=1.0)
    trainer = result["trainer"]
    assert result["stopped_by"].startswith("cpu-budget") and 0 < result["step"] < 10_000
    assert trainer.cpu_seconds >= 1.0 and run_paths(tmp_path, cfg.name)["resume"].is_file()
    again = train(cfg, tmp_path, resume=True, progress=False, cpu_budget=1.0)  # budget already spent
    assert again["step"] == result["step"]
    done = train(cfg, tmp_path, resume=True, stop_at=result["step"], progress=False)  # nothing left to train
    assert done["stopped_by"] == "already-done" and done["step"] == result["step"]


class _DistanceIdentity(torch.nn.Module):
    """Stands in for FaceNet: ``ID`` is the mean absolute difference to the reference face."""

    def terms(self, out, reference):
        return {"ID": (out - reference).abs().mean(dim=(1, 2, 3))}


@pytest.mark.parametrize("target", ["input", "clean"])
def test_identity_terms_compare_with_the_chosen_face(lfw_root, target):
    from inpaint.checkpoint import build_generator
    from inpaint.step import GeneratorStep

    cfg = _recipe(lfw_root, loss={"supervised": True, "lambda_gan": 0.0, "lambda_nce": 0.0, "lambda_id": 1.0,
                                  "id_target": target})
    generator = build_generator(cfg.model)
    step = GeneratorStep(generator, PatchSampleMLP(generator.nce_channels, 16), cfg, lambda out, _: out.new_zeros(len(out)),
                         _DistanceIdentity())
    masked, clean = torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 1, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 16:] = 1
    terms = step(masked, mask, masked, clean)
    reference = clean if target == "clean" else masked
    assert torch.allclose(terms["ID"], (terms["fake_a"] - reference).abs().mean())


def test_clean_identity_target_needs_a_supervised_model(lfw_root):
    from bench.api import BenchError

    with pytest.raises(BenchError, match="loss.id_target"):
        _recipe(lfw_root, loss={"lambda_id": 1.0, "id_target": "clean"})
