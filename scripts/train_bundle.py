"""Train on a machine that has neither the data folder nor the asset cache (a borrowed GPU machine
with no network): ``pack`` gathers what one run needs into folders, ``train`` runs it from them.

    # here (BENCH_DATA set, assets cached):
    python scripts/train_bundle.py pack CONFIG.yaml BUNDLE --items data,facenet
    python scripts/train_bundle.py pack CONFIG.yaml BUNDLE2 --items trunk,resume --resume R.resume.safetensors
    # there:
    python scripts/train_bundle.py train CONFIG.yaml --bundle BUNDLE BUNDLE2 --out OUT --minutes 7 --snapshots DIR

Items: ``data`` (the images of the training pool, pairs.txt and the pool's landmark cache),
``facenet`` (the identity term's FaceNet as a state dict; convolution and linear weights in
float16, which is what CUDA autocast computes them in), ``trunk`` (the projected critic's LPIPS
asset, as cached), ``resume`` (a resume file, optionally without the moving average, which then
restarts from the generator). ``train`` stops after ``--minutes`` of wall time through the trainer's
own SIGTERM path (it saves), and copies each saved inference file to ``--snapshots`` with its step.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pack(args: argparse.Namespace) -> None:
    from inpaint.config import load_config

    cfg, out = load_config(args.config), Path(args.bundle)
    items = set(args.items.split(","))
    out.mkdir(parents=True, exist_ok=True)
    if "data" in items:
        from bench.data.lfw import LFW
        from inpaint.data import default_root, training_pool

        lfw = LFW(Path(cfg.data.root) if cfg.data.root else default_root())
        pool = training_pool(lfw, cfg.data.split)
        for face in pool:
            target = out / "lfw" / face.id
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(face.path, target)
        shutil.copyfile(lfw.protocol_file("pairs.txt"), out / "lfw" / "pairs.txt")
        (out / "landmarks-cache").mkdir(exist_ok=True)
        for npz in Path(args.landmarks).glob("landmarks-*.npz"):
            shutil.copyfile(npz, out / "landmarks-cache" / npz.name)
        print(f"data: {len(pool)} images")
    if "facenet" in items:
        import torch
        from safetensors.torch import save_file

        from inpaint.identity import load_facenet

        def computed_in_half(key: str) -> bool:  # convolutions and the bottleneck's linear layer
            return ".conv." in key or key.startswith("bottleneck.")

        state = {k: v.half() if computed_in_half(k) else v for k, v in load_facenet().state_dict().items()}
        save_file({k: v.contiguous() for k, v in state.items()}, str(out / "facenet.safetensors"))
        print(f"facenet: {len(state)} tensors")
    if "trunk" in items:
        from bench.assets import cache_dir

        net = cfg.model.projected_d or "alex"
        (out / "cache").mkdir(exist_ok=True)
        for name in (f"lpips-{net}-v0.1.safetensors", f"lpips-{net}-v0.1.safetensors.json"):
            shutil.copyfile(cache_dir() / name, out / "cache" / name)
    if "resume" in items:
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(args.resume, "pt") as handle:
            meta = handle.metadata()
            tensors = {k: handle.get_tensor(k) for k in handle.keys()
                       if not (args.drop_ema and k.startswith("G_ema."))}
        save_file(tensors, str(out / "resume.safetensors"), metadata=meta)
    for path in sorted(out.rglob("*.safetensors")):
        print(f"{path.relative_to(out)}: {path.stat().st_size / 1e6:.1f} MB")


def _find(bundles: list[Path], name: str) -> Path | None:
    return next((b / name for b in bundles if (b / name).exists()), None)


def train(args: argparse.Namespace) -> None:
    bundles = [Path(b) for b in args.bundle]
    cache = _find(bundles, "cache")
    if cache is not None:
        os.environ["BENCH_CACHE"] = str(cache)
    os.environ["BENCH_OFFLINE"] = "1"
    import torch
    from safetensors.torch import load_file

    import inpaint.identity
    from bench.recognizers.facenet_torch import InceptionResnetV1
    from inpaint.config import load_config
    from inpaint.train import Trainer

    facenet = _find(bundles, "facenet.safetensors")
    if facenet is not None:
        def load_facenet() -> InceptionResnetV1:
            net = InceptionResnetV1()
            net.load_state_dict({k: v.float() for k, v in load_file(str(facenet)).items()})
            return net.requires_grad_(False)

        inpaint.identity.load_facenet = load_facenet
    cfg = load_config(args.config)
    cfg.data.root = str(_find(bundles, "lfw"))
    out = Path(args.out)
    (out / "landmarks-cache").mkdir(parents=True, exist_ok=True)
    for npz in _find(bundles, "landmarks-cache").glob("*.npz"):
        shutil.copyfile(npz, out / "landmarks-cache" / npz.name)
    resume = _find(bundles, "resume.safetensors")
    if resume is not None:
        shutil.copyfile(resume, out / f"{cfg.name}.resume.safetensors")
    print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}, "
          f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}", flush=True)
    trainer = Trainer(cfg, out, resume=resume is not None)
    if args.snapshots:
        snapshots, save = Path(args.snapshots), trainer.save

        def save_and_keep(writer) -> None:
            save(writer)
            snapshots.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(trainer.paths["weights"], snapshots / f"{cfg.name}-{trainer.step}.safetensors")
            print(f"saved step {trainer.step} after {trainer.seconds:.0f} s", flush=True)

        trainer.save = save_and_keep
    start, seconds = trainer.step, trainer.seconds
    if args.minutes:
        timer = threading.Timer(60 * args.minutes, lambda: os.kill(os.getpid(), signal.SIGTERM))
        timer.daemon = True
        timer.start()
    result = trainer.fit(stop_at=args.steps, progress=False)
    took = trainer.seconds - seconds
    print(f"{cfg.name}: steps {start} -> {result['step']} in {took:.0f} s of training "
          f"({(result['step'] - start) / max(took, 1e-9):.1f} steps/s); stopped by {result['stopped_by']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="gather a run's data and weights into BUNDLE")
    p.add_argument("config", type=Path)
    p.add_argument("bundle", type=Path)
    p.add_argument("--items", default="data,facenet,trunk", help="comma-separated: data, facenet, trunk, resume")
    p.add_argument("--landmarks", type=Path, default=ROOT / "inpaint" / "weights" / "landmarks-cache",
                   help="folder with the pool's landmarks-*.npz (a run's landmarks-cache)")
    p.add_argument("--resume", type=Path, help="resume file to pack (item resume)")
    p.add_argument("--drop-ema", action="store_true", help="leave the moving average out of the packed resume file")
    t = sub.add_parser("train", help="train from bundles")
    t.add_argument("config", type=Path)
    t.add_argument("--bundle", nargs="+", required=True, help="bundle folders, searched in order")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--minutes", type=float, default=0.0, help="stop (and save) after this much wall time; 0 = off")
    t.add_argument("--steps", type=int, default=None, help="stop after this step")
    t.add_argument("--snapshots", type=Path, help="copy each saved inference file here, named by step")
    args = parser.parse_args()
    pack(args) if args.command == "pack" else train(args)


if __name__ == "__main__":
    main()
