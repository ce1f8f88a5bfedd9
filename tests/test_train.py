"""Trainer: config validation, exact resume, outputs (checkpoints, log, card, samples), the CLI."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from safetensors import safe_open

from bench.api import BenchError
from bench.cli import main as bench_main
from inpaint.config import TrainConfig, config_from_dict, load_config
from inpaint.inpainter import ContrastiveAttention
from inpaint.train import LOSS_NAMES, lr_factor, run_paths, train


def tiny_config(lfw_root, **top) -> TrainConfig:
    raw = {"name": "cl-attn", "seed": 3, "steps": 6, "decay_steps": 3, "batch_size": 1, "threads": 1,
           "checkpoint_every": 0, "checkpoint_minutes": 0, "log_every": 2,
           "model": {"image_size": 32, "ngf": 4, "n_blocks": 2, "ndf": 4, "n_layers_d": 2},
           "loss": {"num_patches": 16, "mlp_units": 16},
           "data": {"root": str(lfw_root), "max_images": 8, "jitter": 2}}
    raw.update(top)
    return config_from_dict(raw)


def _tensors(path):
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


@pytest.mark.parametrize("raw,key", [
    ({"model": {"ngff": 3}}, "model.ngff"),
    ({"modle": {}}, "modle"),
    ({"model": {"ngf": "32"}}, "model.ngf"),
    ({"model": {"attention": "yes"}}, "model.attention"),
    ({"model": {"image_size": 30}}, "model.image_size"),
    ({"lr": -1.0}, "lr"),
    ({"data": {"mask_styles": ["balaclava"]}}, "data.mask_styles"),
    ({"loss": {"gan_mode": "wgan"}}, "loss.gan_mode"),
    ({"steps": 10, "decay_steps": 20}, "decay_steps"),
])
def test_bad_config_names_the_key(raw, key):
    with pytest.raises(BenchError, match=key.replace(".", r"\.")):
        config_from_dict(raw)


def test_bench_train_rejects_bad_config_before_training(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel:\n  image_size: 100\n  n_block: 3\n")
    assert bench_main(["train", str(bad), "--out", str(tmp_path / "out")]) == 1
    assert "model.n_block" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_shipped_configs_are_valid():
    from inpaint.inpainter import WEIGHTS

    configs = WEIGHTS.parent / "configs"
    released = load_config(configs / "cl-attn.yaml").to_dict()
    # the ablations are of the recipe before the identity terms and the moving average were added
    released["loss"]["lambda_id"], released["loss"]["lambda_id_nce"], released["ema"] = 0.0, 0.0, 0.0
    for path, changed in [("cut.yaml", {"model.attention": False}), ("unet-paired.yaml", None),
                          ("ablations/no-sn.yaml", {"model.spectral_norm": False}),
                          ("ablations/no-nce.yaml", {"loss.lambda_nce": 0.0})]:
        cfg = load_config(configs / path).to_dict()
        if changed is None:
            assert cfg["loss"]["supervised"] and cfg["model"] == {**released["model"], **{
                k: cfg["model"][k] for k in ("pixel_d", "projected_d", "ndf", "n_layers_d", "spectral_norm", "d_norm")}}
            continue
        # an ablation differs from the released recipe in its name and the one switch only
        flat = {f"{group}.{k}": v for group in ("model", "loss", "data") for k, v in cfg[group].items()}
        base = {f"{group}.{k}": v for group in ("model", "loss", "data") for k, v in released[group].items()}
        assert {k for k in flat if flat[k] != base[k]} == set(changed) and all(flat[k] == v for k, v in changed.items())
        assert {k: v for k, v in cfg.items() if k not in ("name", "model", "loss", "data")} == \
            {k: v for k, v in released.items() if k not in ("name", "model", "loss", "data")}


def test_lr_schedule_constant_then_linear():
    assert [lr_factor(s, 10, 4) for s in (0, 6)] == [1.0, 1.0]
    assert lr_factor(7, 10, 4) == pytest.approx(0.8)
    assert lr_factor(10, 10, 4) == pytest.approx(0.2)
    assert lr_factor(3, 10, 0) == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("ema", [0.0, 0.5])
def test_resume_continues_exactly(lfw_root, tmp_path, ema):
    cfg = tiny_config(lfw_root, ema=ema)
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(cfg, straight, progress=False)
    first = train(cfg, split, stop_at=3, progress=False)
    assert first["step"] == 3
    second = train(cfg, split, resume=True, progress=False)
    assert second["step"] == 6
    a = _tensors(run_paths(straight, cfg.name)["resume"])
    b = _tensors(run_paths(split, cfg.name)["resume"])
    assert a.keys() == b.keys() and any(k.startswith("opt_G.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    released = _tensors(run_paths(straight, cfg.name)["weights"])
    averaged = "G_ema." if ema else "G."  # the inference file holds the moving average when there is one
    assert {k for k in a if k.startswith(averaged)} and all(
        torch.equal(released["G." + k[len(averaged):]], v) for k, v in a.items() if k.startswith(averaged))
    if ema:
        assert not torch.equal(a["G.backbone.decoder.7.weight"], a["G_ema.backbone.decoder.7.weight"])
    init = train(tiny_config(lfw_root, steps=6), tmp_path / "one", stop_at=1, progress=False)["trainer"]
    assert not torch.equal(a["G.backbone.decoder.7.weight"], init.G.state_dict()["backbone.decoder.7.weight"])
    # the log: a row every log_every steps and at each stop; same losses where the windows match
    def rows(folder):
        with open(run_paths(folder, cfg.name)["log"]) as handle:
            return {r["step"]: r for r in csv.DictReader(handle)}

    a_rows, b_rows = rows(straight), rows(split)
    assert list(a_rows) == ["2", "4", "6"] and list(b_rows) == ["2", "3", "4", "6"]
    for step in ("2", "6"):
        assert [a_rows[step][k] for k in LOSS_NAMES] == [b_rows[step][k] for k in LOSS_NAMES]


@pytest.mark.slow
def test_outputs_of_a_run(lfw_root, tmp_path):
    cfg = tiny_config(lfw_root, steps=4, decay_steps=0)
    result = train(cfg, tmp_path, progress=False)
    paths = run_paths(tmp_path, cfg.name)
    assert set(result["losses"]) == set(LOSS_NAMES) and all(np.isfinite(list(result["losses"].values())))
    with open(paths["log"]) as handle:
        log = list(csv.DictReader(handle))
    assert [r["step"] for r in log] == ["2", "4"] and set(LOSS_NAMES) <= set(log[0])
    card = json.loads(paths["card"].read_text())
    assert card["steps_trained"] == 4 and card["data"]["split_rule"] == "identity-disjoint"
    assert (paths["card"].parent / card["train_log"]).resolve() == paths["log"].resolve()
    import hashlib

    assert card["sha256"] == hashlib.sha256(paths["weights"].read_bytes()).hexdigest()
    assert paths["samples"].is_file() and list(paths["sample_dir"].glob("step-0000004.png"))
    assert list(paths["tensorboard"].glob("events.out.tfevents.*"))
    # the inference file is small (generator only) and loads as the plugin
    assert paths["weights"].stat().st_size < paths["resume"].stat().st_size / 2
    out = ContrastiveAttention(checkpoint=paths["weights"])(np.zeros((1, 40, 40, 3), np.uint8), np.zeros((1, 40, 40), bool))
    assert out.shape == (1, 40, 40, 3)
    with pytest.raises(BenchError, match="pass --resume"):  # a fresh run never overwrites a run
        train(cfg, tmp_path, progress=False)
    with pytest.raises(BenchError, match="exceeds"):
        train(cfg, tmp_path, resume=True, stop_at=9, progress=False)


@pytest.mark.slow
def test_cli_trains_and_resumes(lfw_root, tmp_path):
    cfg = tiny_config(lfw_root, steps=4, decay_steps=2)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    assert bench_main(["train", str(path), "--out", str(tmp_path / "o"), "--steps", "2"]) == 0
    assert bench_main(["train", str(path), "--out", str(tmp_path / "o"), "--resume"]) == 0
    assert json.loads((tmp_path / "o" / "cl-attn.json").read_text())["steps_trained"] == 4
    assert bench_main(["train", str(path), "--out", str(tmp_path / "empty"), "--resume"]) == 1


def test_benchmark_measures_a_tiny_model():
    from inpaint.benchmark import format_table, generator_flops, measure, released_config
    from inpaint.checkpoint import build_generator

    cfg = released_config({"model": {"image_size": 32, "ngf": 4, "n_blocks": 2, "ndf": 4, "n_layers_d": 2,
                                     "projected_d": ""}, "loss": {"num_patches": 16}, "batch_size": 2})
    assert cfg.model.region == "given" and cfg.steps == 10
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops on threads that wait for each other crawl on a busy machine
    try:
        row = measure(cfg, repeats=1)
    finally:
        torch.set_num_threads(threads)
    assert row["train_step_s"] > 0 and row["train_step_cpu_s"] > 0 and row["infer_images_s"] > 0
    assert row["generator_gflop"] * 1e9 == generator_flops(build_generator(cfg.model), cfg)
    row["config"] = "tiny"
    table = format_table({"torch": torch.__version__, "threads": 1, "load": 0.0, "rows": [row]})
    assert "| tiny | 0.0" in table
