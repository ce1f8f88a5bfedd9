"""Trainer of the unpaired contrastive inpainting model (CUT's recipe with feature attention).

One step, as in CUT (Park et al., ECCV 2020): the generator translates the concatenation of
real A (occluded) and real B (clean) in one forward pass, returning the PatchNCE features of
its input on the way; one encoder pass on the two outputs gives the queries. The discriminator
is updated on (G(A) detached, B), then the generator and the PatchNCE projection on
``lambda_gan * GAN(D(G(A))) + lambda_nce * (NCE(G(A), A) + NCE(G(B), B)) / 2``.
Adam (lr 2e-4, betas 0.5, 0.999), constant then linear decay to 0 over ``decay_steps``.

Run with ``bench train CONFIG.yaml`` or ``python -m inpaint.train CONFIG.yaml``; under torchrun
it trains data-parallel (DistributedDataParallel, gloo on CPU, nccl on CUDA), each process
drawing its own batches. Outputs in ``--out`` (see :func:`run_paths`).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from bench.api import BenchError
from bench.data.imageio import save_png
from inpaint.checkpoint import build_generator, load_resume, save_generator, save_resume
from inpaint.config import TrainConfig, load_config
from inpaint.data import UnpairedFaces, to_uint8
from inpaint.losses import PatchSampleMLP, gan_loss, nce_loss
from inpaint.networks import PatchDiscriminator

LOSS_NAMES = ("D_real", "D_fake", "G_GAN", "NCE", "NCE_Y", "G")
PREVIEW_STEP = 2**40  # the data seed of the fixed preview batch, outside any training step


def run_paths(out: Path, name: str) -> dict[str, Path]:
    """Where a run writes: small release files in ``out``, bulky logs in ``out/<name>-run``, the
    landmarks of the training pool in ``out/landmarks-cache`` (shared by runs on the same pool)."""
    run = out / f"{name}-run"
    return {"weights": out / f"{name}.safetensors", "resume": out / f"{name}.resume.safetensors",
            "landmarks": out / "landmarks-cache",
            "card": out / f"{name}.json", "log": out / f"{name}.train.csv", "split": out / f"{name}.split.json",
            "samples": out / f"{name}.samples.png", "run": run, "tensorboard": run / "tensorboard",
            "sample_dir": run / "samples"}


def lr_factor(step: int, steps: int, decay_steps: int) -> float:
    """CUT's schedule per step: 1 until ``steps - decay_steps``, then linear towards 0."""
    return 1.0 - max(0, step - (steps - decay_steps)) / float(decay_steps + 1)


class GeneratorStep(nn.Module):
    """Generator + PatchNCE projection as one module, so DistributedDataParallel sees one forward."""

    def __init__(self, generator: nn.Module, sampler: PatchSampleMLP, cfg: TrainConfig) -> None:
        super().__init__()
        self.generator, self.sampler, self.loss = generator, sampler, cfg.loss

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = real_a.shape[0]
        real = torch.cat([real_a, real_b]) if self.loss.nce_idt else real_a
        fake, feats_real = self.generator(real, return_features=True)
        zero = fake.new_zeros(())
        if self.loss.lambda_nce <= 0:
            return fake[:n], fake[n:], zero, zero
        feats_fake = self.generator.encode_features(fake)
        per_image = nce_loss(self.sampler, feats_real, feats_fake, self.loss.num_patches, self.loss.nce_temperature)
        nce_y = per_image[n:].mean() if self.loss.nce_idt else zero
        return fake[:n], fake[n:], per_image[:n].mean(), nce_y


def _distributed() -> tuple[int, int, bool]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), True
    return 0, 1, False


def _device(rank: int) -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count()
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


class Trainer:
    """Holds the networks, optimizers and outputs of one run; :meth:`fit` trains it."""

    def __init__(self, cfg: TrainConfig, out: Path, resume: bool = False) -> None:
        self.cfg, self.out = cfg, Path(out)
        self.paths = run_paths(self.out, cfg.name)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.rank, self.world, self.ddp = _distributed()
        self.device = _device(self.rank)
        self.amp = cfg.amp and self.device.type == "cuda"
        torch.manual_seed(cfg.seed)
        m = cfg.model
        self.G = build_generator(m).to(self.device)
        self.D = PatchDiscriminator(m.ndf, m.n_layers_d, m.spectral_norm, m.d_norm).to(self.device)
        self.F = PatchSampleMLP(self.G.nce_channels, cfg.loss.mlp_units).to(self.device)
        if cfg.channels_last:
            for net in (self.G, self.D):
                net.to(memory_format=torch.channels_last)
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {"G": torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas),
                     "D": torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas),
                     "F": torch.optim.Adam(self.F.parameters(), lr=cfg.lr, betas=betas)}
        self.scalers = {k: torch.amp.GradScaler("cuda", enabled=self.amp) for k in ("G", "D")}
        self.step, self.seconds = 0, 0.0
        if resume:
            self._resume()
        elif self.paths["resume"].exists():
            raise BenchError(f"{self.paths['resume']} exists: pass --resume to continue that run, or another --out")
        step_module = GeneratorStep(self.G, self.F, cfg)
        if self.ddp:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_step = DistributedDataParallel(step_module, device_ids=ids, find_unused_parameters=cfg.loss.lambda_nce <= 0)
            self.d_step = DistributedDataParallel(self.D, device_ids=ids)
        else:
            self.g_step, self.d_step = step_module, self.D
        self.data: UnpairedFaces | None = None

    def load_data(self) -> UnpairedFaces:
        """Build the training pool (rank 0 first, so the others read its landmark cache)."""
        if self.data is None:
            cfg = self.cfg
            if self.rank == 0:
                self.paths["run"].mkdir(parents=True, exist_ok=True)
                self.data = UnpairedFaces(cfg.data, cfg.model.image_size, cfg.seed, self.paths["landmarks"])
                self.data.write_split(self.paths["split"])
            if self.ddp:
                dist.barrier()
            if self.rank != 0:
                self.data = UnpairedFaces(cfg.data, cfg.model.image_size, cfg.seed, self.paths["landmarks"])
        return self.data

    def _resume(self) -> None:
        path = self.paths["resume"]
        if not path.is_file():
            raise BenchError(f"--resume: no checkpoint at {path}")
        info = load_resume(path, {"G": self.G, "D": self.D, "F": self.F}, self.opts, self.scalers)
        saved, current = info["config"]["model"], self.cfg.to_dict()["model"]
        if saved != current:  # the load above already failed on shape changes; this catches the rest
            raise BenchError(f"--resume: {path} was trained with model {saved}, the config says {current}")
        self.step, self.seconds = info["step"], float(info["extra"].get("train_seconds", 0.0))

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg, loss_cfg = self.cfg, self.cfg.loss
        factor = lr_factor(self.step, cfg.steps, cfg.decay_steps)
        for opt in self.opts.values():
            for group in opt.param_groups:
                group["lr"] = cfg.lr * factor
        real_a, real_b = self._prepare(batch["A"]), self._prepare(batch["B"])
        n = real_a.shape[0]
        with self._autocast():
            fake_b, _, loss_nce, loss_nce_y = self.g_step(real_a, real_b)
        # discriminator: fake and real in one pass (no batch statistics, so this equals two passes)
        self.D.requires_grad_(True)
        self.opts["D"].zero_grad(set_to_none=True)
        with self._autocast():
            pred = self.d_step(torch.cat([fake_b.detach(), real_b]))
            d_fake = gan_loss(pred[:n].float(), False, loss_cfg.gan_mode)
            d_real = gan_loss(pred[n:].float(), True, loss_cfg.gan_mode)
            loss_d = 0.5 * (d_fake + d_real)
        self.scalers["D"].scale(loss_d).backward()
        self.scalers["D"].step(self.opts["D"])
        self.scalers["D"].update()
        # generator and projection, against the updated discriminator
        self.D.requires_grad_(False)
        self.opts["G"].zero_grad(set_to_none=True)
        self.opts["F"].zero_grad(set_to_none=True)
        with self._autocast():
            g_gan = gan_loss(self.D(fake_b).float(), True, loss_cfg.gan_mode, for_discriminator=False)
            nce = 0.5 * (loss_nce + loss_nce_y) if loss_cfg.nce_idt else loss_nce
            loss_g = loss_cfg.lambda_gan * g_gan + loss_cfg.lambda_nce * nce
        scaler = self.scalers["G"]
        scaler.scale(loss_g).backward()
        scaler.step(self.opts["G"])
        if loss_cfg.lambda_nce > 0:
            scaler.step(self.opts["F"])
        scaler.update()
        self.step += 1
        values = (d_real, d_fake, g_gan, loss_nce, loss_nce_y, loss_g)
        return {k: float(v.detach()) for k, v in zip(LOSS_NAMES, values)}

    @torch.no_grad()
    def preview(self, count: int = 4) -> np.ndarray:
        """A grid: rows of occluded input, its translation, a clean face, its identity translation."""
        batch = self.data.batch(PREVIEW_STEP, min(count, len(self.data) // 2))
        self.G.eval()
        rows = [batch["A"], self.G(self._prepare(batch["A"])).cpu(), batch["B"], self.G(self._prepare(batch["B"])).cpu()]
        self.G.train()
        images = [np.concatenate(list(to_uint8(r)), axis=1) for r in rows]
        return np.concatenate(images, axis=0)

    def save(self, writer: Any) -> None:
        """Write the inference file, the resumable file, the sample grid and the model card."""
        from inpaint.card import write_card

        config = self.cfg.to_dict()
        extra = {"train_seconds": self.seconds, "world_size": self.world}
        save_resume(self.paths["resume"], {"G": self.G, "D": self.D, "F": self.F}, self.opts, config, self.step,
                    extra, self.scalers)
        digest = save_generator(self.paths["weights"], self.G, config, self.step, extra)
        grid = self.preview()
        save_png(self.paths["samples"], grid)
        save_png(self.paths["sample_dir"] / f"step-{self.step:07d}.png", grid)
        if writer is not None:
            writer.add_image("samples", grid, self.step, dataformats="HWC")
            writer.flush()
        write_card(self, digest)

    def fit(self, stop_at: int | None = None, progress: bool | None = None) -> dict[str, Any]:
        cfg = self.cfg
        stop = cfg.steps if stop_at is None else stop_at
        if stop > cfg.steps:
            raise BenchError(f"--steps {stop} exceeds the config's steps ({cfg.steps}); raise 'steps' in the config")
        if self.step >= stop:
            return {"step": self.step, "seconds": self.seconds, "losses": {}}
        data = self.load_data()
        main = self.rank == 0
        writer = log = None
        if main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.paths["tensorboard"]), purge_step=self.step or None)
            log = _open_log(self.paths["log"], self.step)
        show = (sys.stderr.isatty() if progress is None else progress) and main
        bar = tqdm(total=stop, initial=self.step, desc=cfg.name, disable=not show, file=sys.stderr, dynamic_ncols=True)
        window: list[dict[str, float]] = []
        last_save, losses = time.monotonic(), {}
        self.G.train(), self.D.train(), self.F.train()
        try:
            while self.step < stop:
                start = time.monotonic()
                batch = data.batch(self.step, cfg.batch_size, self.rank)
                losses = self.train_step(batch)
                self.seconds += time.monotonic() - start
                window.append(losses)
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
                if not main:
                    continue
                if self.step % cfg.log_every == 0 or self.step == stop:
                    mean = {k: float(np.mean([w[k] for w in window])) for k in LOSS_NAMES}
                    log.writerow([self.step, f"{self.seconds:.2f}", f"{cfg.lr * lr_factor(self.step - 1, cfg.steps, cfg.decay_steps):.3g}",
                                  *(f"{mean[k]:.5f}" for k in LOSS_NAMES)])
                    log.handle.flush()
                    for k, v in mean.items():
                        writer.add_scalar(f"loss/{k}", v, self.step)
                    window = []
                due_steps = cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0
                due_time = cfg.checkpoint_minutes and time.monotonic() - last_save >= 60 * cfg.checkpoint_minutes
                if due_steps or due_time or self.step == stop:
                    self.save(writer)
                    last_save = time.monotonic()
                elif cfg.sample_every and self.step % cfg.sample_every == 0:
                    writer.add_image("samples", self.preview(), self.step, dataformats="HWC")
        finally:
            bar.close()
            if main:
                log.handle.close()
                writer.close()
        return {"step": self.step, "seconds": self.seconds, "losses": losses}


class _Log:
    def __init__(self, handle: Any) -> None:
        self.handle, self.writer = handle, csv.writer(handle)

    def writerow(self, row: list[Any]) -> None:
        self.writer.writerow(row)


def _open_log(path: Path, step: int) -> _Log:
    """Open the CSV log for appending, dropping rows past ``step`` (left by a run that died
    after its last checkpoint)."""
    header = ["step", "seconds", "lr", *LOSS_NAMES]
    rows: list[list[str]] = []
    if path.is_file() and step > 0:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [r for r in list(csv.reader(handle))[1:] if r and int(r[0]) <= step]
    handle = open(path, "w", newline="", encoding="utf-8")
    log = _Log(handle)
    log.writerow(header)
    for row in rows:
        log.writerow(row)
    return log


def train(cfg: TrainConfig, out: Path | str, resume: bool = False, stop_at: int | None = None,
          progress: bool | None = None) -> dict[str, Any]:
    """Train (or continue) a run; return ``{"step", "seconds", "losses", "trainer"}``."""
    trainer = Trainer(cfg, Path(out), resume=resume)
    result = trainer.fit(stop_at, progress)
    result["trainer"] = trainer
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="training config (YAML); see inpaint/configs/")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/<name>.resume.safetensors")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop after this step (default: the config's steps; the schedule stays the config's)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: runs/<name>)")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    out = args.out or Path("runs") / cfg.name
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result = train(cfg, out, resume=args.resume, stop_at=args.steps)
    trainer = result["trainer"]
    if trainer.rank == 0:
        print(f"{cfg.name}: step {result['step']} ({started} .. now), {result['seconds']:.0f} s of training; "
              f"weights {trainer.paths['weights']}")
    if trainer.ddp:
        dist.destroy_process_group()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaint.train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except BenchError as exc:
        print(f"inpaint.train: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
