"""scripts/train_bundle.py: a run packed into folders continues from them as from the data folder."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inpaint.train import run_paths, train
from tests.test_train import tiny_config

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_bundle.py"


@pytest.mark.slow
def test_packed_run_resumes_on_the_same_faces(lfw_root, tmp_path):
    cfg = tiny_config(lfw_root, steps=4, decay_steps=0)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(cfg.to_dict()))
    first = tmp_path / "first"
    train(cfg, first, stop_at=2, progress=False)
    paths = run_paths(first, cfg.name)
    bundle = tmp_path / "bundle"
    subprocess.run([sys.executable, str(SCRIPT), "pack", str(config), str(bundle), "--items", "data,resume",
                    "--landmarks", str(paths["landmarks"]), "--resume", str(paths["resume"])], check=True)
    assert (bundle / "lfw" / "pairs.txt").is_file() and list((bundle / "landmarks-cache").glob("*.npz"))
    out, snapshots = tmp_path / "second", tmp_path / "snapshots"
    done = subprocess.run([sys.executable, str(SCRIPT), "train", str(config), "--bundle", str(bundle), "--out", str(out),
                           "--snapshots", str(snapshots)], check=True, capture_output=True, text=True)
    assert "steps 2 -> 4" in done.stdout
    assert sorted(p.name for p in snapshots.iterdir()) == [f"{cfg.name}-4.safetensors"]
    split = json.loads(run_paths(out, cfg.name)["split"].read_text())
    original = json.loads(paths["split"].read_text())
    assert split["ids"] == original["ids"] and split["root"] == str(bundle / "lfw")
