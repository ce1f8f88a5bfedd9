"""Trainer of the masked-face inpainting model: unpaired (PatchNCE + GAN), or the supervised baseline.

One step: the generator translates the occluded faces A (and, where the recipe needs it, clean
faces B) in one forward pass that also returns the PatchNCE features of its input; one encoder
pass on the outputs gives the queries (:mod:`inpaint.step`). The critics (SN-PatchGAN on pixels
and/or heads on a frozen LPIPS trunk) are updated on (G(A) detached, B), then the generator and
the PatchNCE projection on ``lambda_gan * GAN + lambda_nce * NCE + REG`` against the updated
critics. Adam (lr 2e-4, betas 0.5, 0.999), constant then linear decay to 0 over ``decay_steps``.

Run with ``bench train CONFIG.yaml`` or ``python -m inpaint.train CONFIG.yaml``; under torchrun
it trains data-parallel (DistributedDataParallel, gloo on CPU, nccl on CUDA), each process
drawing its own batches. SIGTERM or SIGINT saves a resumable checkpoint before it stops.
Outputs in ``--out`` (see :func:`run_paths`).
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from bench.api import BenchError
from bench.data.imageio import save_png
from inpaint.checkpoint import build_generator, load_resume, save_generator, save_resume
from inpaint.config import TrainConfig, load_config
from inpaint.data import UnpairedFaces, luminance, step_batches, to_uint8
from inpaint.distributed import init_process, process_device, use_cpu_bf16
from inpaint.ema import averaged_copy, update_average
from inpaint.logs import open_log, read_rows, write_rows
from inpaint.losses import PatchSampleMLP
from inpaint.step import Critics, GeneratorStep, critic_loss, generator_gan_loss

LOSS_NAMES = ("D_real", "D_fake", "G_GAN", "NCE", "NCE_Y", "REG", "SUP", "G", "ID", "ID_NCE", "ID_SHIFT", "ID_DLIB")
VAL_NAMES = ("kid", "lpips", "psnr_mask", "id_dlib", "id_dlib_masked", "id_auc", "id_auc_masked", "id_top1", "id_top1_masked")
PREVIEW_STEP = 2**40  # the data seed of the fixed preview batch, outside any training step


def run_paths(out: Path, name: str) -> dict[str, Path]:
    """Where a run writes: small release files in ``out``, bulky logs in ``out/<name>-run``, the
    landmarks of the training pool in ``out/landmarks-cache`` (shared by runs on the same pool)."""
    run = out / f"{name}-run"
    return {"weights": out / f"{name}.safetensors", "resume": out / f"{name}.resume.safetensors",
            "landmarks": out / "landmarks-cache",
            "card": out / f"{name}.json", "log": out / f"{name}.train.csv", "split": out / f"{name}.split.json",
            "val": out / f"{name}.val.csv",
            "samples": out / f"{name}.samples.png", "run": run, "tensorboard": run / "tensorboard",
            "sample_dir": run / "samples"}


def lr_factor(step: int, steps: int, decay_steps: int) -> float:
    """CUT's schedule per step: 1 until ``steps - decay_steps``, then linear towards 0."""
    return 1.0 - max(0, step - (steps - decay_steps)) / float(decay_steps + 1)


class Trainer:
    """Holds the networks, optimizers and outputs of one run; :meth:`fit` trains it."""

    def __init__(self, cfg: TrainConfig, out: Path, resume: bool = False) -> None:
        self.cfg, self.out = cfg, Path(out)
        self.paths = run_paths(self.out, cfg.name)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.rank, self.world, self.ddp = init_process()
        self.device = process_device(self.rank)
        self.amp = cfg.amp and self.device.type == "cuda"
        self.bf16 = use_cpu_bf16(cfg.bf16, self.device, announce=self.rank == 0)
        torch.manual_seed(cfg.seed)
        self.G = build_generator(cfg.model).to(self.device)
        self.D = None if cfg.loss.supervised else Critics(cfg).to(self.device)
        self.F = PatchSampleMLP(self.G.nce_channels, cfg.loss.mlp_units).to(self.device)
        perceptual = None
        if cfg.loss.supervised and cfg.loss.lambda_perceptual > 0:
            from inpaint.networks.projected import frozen_trunk

            perceptual = frozen_trunk("vgg").to(self.device)
        if cfg.channels_last:
            for net in (self.G, self.D):
                if net is not None:
                    net.to(memory_format=torch.channels_last)
        betas = (cfg.beta1, cfg.beta2)
        self.modules = {"G": self.G, "F": self.F} | ({"D": self.D} if self.D is not None else {})
        self.opts = {k: torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=betas) for k, net in self.modules.items()}
        self.scalers = {k: torch.amp.GradScaler("cuda", enabled=self.amp) for k in ("G", "D")}
        self.step, self.seconds, self.cpu_seconds = 0, 0.0, 0.0
        self.data: UnpairedFaces | None = None
        self.G_ema = averaged_copy(self.G) if cfg.ema > 0 else None
        if not resume and self.paths["resume"].exists():
            raise BenchError(f"{self.paths['resume']} exists: pass --resume to continue that run, or another --out")
        self.identity = None
        if max(cfg.loss.lambda_id, cfg.loss.lambda_id_nce, cfg.loss.lambda_id_shift) > 0:
            self.identity = self._identity_loss("facenet")
        self.identity_dlib = self._identity_loss("dlib") if cfg.loss.lambda_id_dlib > 0 else None
        if resume:
            self._resume()
        step_module = GeneratorStep(self.G, self.F, cfg, perceptual, self.identity, self.identity_dlib)
        if self.ddp:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_step = DistributedDataParallel(step_module, device_ids=ids, find_unused_parameters=True)
            self.d_step = DistributedDataParallel(self.D, device_ids=ids) if self.D is not None else None
        else:
            self.g_step, self.d_step = step_module, self.D
        self.stop_requested: str | None = None
        self.validator = None
        self.cpu_budget: float | None = None

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

    def _identity_loss(self, recognizer: str) -> torch.nn.Module:
        """The recognizer with the mean crop of the training pool in the model frame (the
        contrastive queue on FaceNet's only)."""
        from inpaint.identity import IdentityLoss, mean_crop_theta, mean_dlib_chip_theta

        data, size = self.load_data(), self.cfg.model.image_size
        landmarks = data.landmarks * (size / data.images.shape[1])
        theta = mean_crop_theta(landmarks, size) if recognizer == "facenet" else mean_dlib_chip_theta(landmarks, size)
        queue = self.cfg.loss.id_queue if recognizer == "facenet" and self.cfg.loss.lambda_id_nce > 0 else 0
        return IdentityLoss(theta, queue=queue, temperature=self.cfg.loss.id_temperature,
                            recognizer=recognizer).to(self.device)

    def _resume(self) -> None:
        path = self.paths["resume"]
        if not path.is_file():
            raise BenchError(f"--resume: no checkpoint at {path}")
        info = load_resume(path, self.modules, self.opts, self.scalers, self._optional_state())
        saved, current = info["config"]["model"], self.cfg.to_dict()["model"]
        if saved != current:  # the load above already failed on shape changes; this catches the rest
            raise BenchError(f"--resume: {path} was trained with model {saved}, the config says {current}")
        if "G_ema" in info["missing"]:
            self.G_ema.load_state_dict(self.G.state_dict())  # the average starts here
        self.step, self.seconds = info["step"], float(info["extra"].get("train_seconds", 0.0))
        self.cpu_seconds = float(info["extra"].get("cpu_seconds", 0.0))

    def _optional_state(self) -> dict[str, torch.nn.Module]:
        """Resume state that only some configs have (older resume files may lack it)."""
        state = {"G_ema": self.G_ema} if self.G_ema is not None else {}
        if self.identity is not None and self.identity.memory is not None:
            state["id_queue"] = self.identity.memory
        return state

    def _autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.float16)
        if self.bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.cfg.model.channels == 1 and x.shape[1] == 3:
            x = luminance(x)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg, loss_cfg = self.cfg, self.cfg.loss
        factor = lr_factor(self.step, cfg.steps, cfg.decay_steps)
        for opt in self.opts.values():
            for group in opt.param_groups:
                group["lr"] = cfg.lr * factor
        real_a, real_b = self._prepare(batch["A"]), self._prepare(batch["B"])
        mask_a = batch["mask_A"][:, None].to(self.device)
        clean_a = self._prepare(batch["A_clean"]) if "A_clean" in batch else None
        with self._autocast():
            terms = self.g_step(real_a, mask_a, real_b, clean_a)
        fake_a, zero = terms["fake_a"], terms["NCE"].new_zeros(())
        d_real = d_fake = g_gan = zero
        if self.D is not None:
            weights = self.D.weights
            self.D.requires_grad_(True)
            self.opts["D"].zero_grad(set_to_none=True)
            with self._autocast():
                loss_d, d_real, d_fake = critic_loss(self.d_step, weights, fake_a, real_b, loss_cfg.gan_mode)
            self.scalers["D"].scale(loss_d).backward()
            self.scalers["D"].step(self.opts["D"])
            self.scalers["D"].update()
            self.D.requires_grad_(False)  # the G step against the updated critics computes no D gradients
            with self._autocast():
                g_gan = generator_gan_loss(self.D, weights, fake_a, loss_cfg.gan_mode)
        self.opts["G"].zero_grad(set_to_none=True)
        self.opts["F"].zero_grad(set_to_none=True)
        nce = 0.5 * (terms["NCE"] + terms["NCE_Y"]) if loss_cfg.nce_idt else terms["NCE"]
        loss_g = (loss_cfg.lambda_gan * g_gan + loss_cfg.lambda_nce * nce + terms["REG"] + terms["SUP"]
                  + loss_cfg.lambda_id * terms["ID"] + loss_cfg.lambda_id_nce * terms["ID_NCE"]
                  + loss_cfg.lambda_id_shift * terms["ID_SHIFT"] + loss_cfg.lambda_id_dlib * terms["ID_DLIB"])
        scaler = self.scalers["G"]
        scaler.scale(loss_g).backward()
        scaler.step(self.opts["G"])
        if loss_cfg.lambda_nce > 0:
            scaler.step(self.opts["F"])
        scaler.update()
        if self.G_ema is not None:
            update_average(self.G_ema, self.G, cfg.ema)
        self.step += 1
        values = {**terms, "D_real": d_real, "D_fake": d_fake, "G_GAN": g_gan, "G": loss_g}
        return {k: float(torch.as_tensor(values[k]).detach()) for k in LOSS_NAMES}

    @property
    def released(self) -> torch.nn.Module:
        """The generator that is saved for inference and validated: the moving average when on."""
        return self.G_ema if self.G_ema is not None else self.G

    @torch.no_grad()
    def preview(self, count: int = 4) -> np.ndarray:
        """A grid: occluded inputs, their outputs, the region maps (when composited), clean faces and
        (when the recipe translates them) their outputs."""
        batch = self.data.batch(PREVIEW_STEP, min(count, len(self.data) // 2))
        G = self.released
        G.eval()
        real_a, real_b, mask = self._prepare(batch["A"]), self._prepare(batch["B"]), batch["mask_A"][:, None].to(self.device)
        fake_a, _, region_a = G(real_a, mask)
        rows = [real_a, fake_a] + ([region_a * 2 - 1] if G.region != "none" else []) + [real_b]
        if G.region != "given":
            rows.append(G(real_b)[0])
        self.G.train()
        images = [np.concatenate(list(to_uint8(r.expand(-1, 3, -1, -1) if r.shape[1] == 1 else r)), axis=1) for r in rows]
        return np.concatenate(images, axis=0)

    def save(self, writer: Any) -> None:
        """Write the inference file, the resumable file, the sample grid and the model card."""
        from inpaint.card import write_card

        config = self.cfg.to_dict()
        extra = {"train_seconds": self.seconds, "cpu_seconds": self.cpu_seconds, "world_size": self.world}
        modules = self.modules | self._optional_state()
        save_resume(self.paths["resume"], modules, self.opts, config, self.step, extra, self.scalers)
        digest = save_generator(self.paths["weights"], self.released, config, self.step, extra)
        grid = self.preview()
        save_png(self.paths["samples"], grid)
        save_png(self.paths["sample_dir"] / f"step-{self.step:07d}.png", grid)
        if writer is not None:
            writer.add_image("samples", grid, self.step, dataformats="HWC")
            writer.flush()
        write_card(self, digest)

    def validate(self, writer: Any) -> dict[str, float]:
        """Score the held-out validation faces and append a row to ``<name>.val.csv``."""
        from inpaint.validate import Validator

        if self.validator is None:
            self.validator = Validator(self.data, self.cfg.seed, self.device)
        scores = self.validator(self.released)
        self.G.train()
        path = self.paths["val"]
        rows = read_rows(path, self.step)
        rows = [r for r in rows if int(r[0]) < self.step]
        rows.append([self.step, f"{self.seconds:.2f}", f"{self.cpu_seconds:.2f}", *(f"{scores[k]:.5f}" for k in VAL_NAMES)])
        write_rows(path, ["step", "seconds", "cpu_seconds", *VAL_NAMES], rows)
        if writer is not None:
            for k, v in scores.items():
                writer.add_scalar(f"val/{k}", v, self.step)
        return scores

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stop_requested = signal.Signals(signum).name

    def fit(self, stop_at: int | None = None, progress: bool | None = None,
            cpu_budget: float | None = None) -> dict[str, Any]:
        """Train until step ``stop_at`` (default: the config's steps), or until the run's CPU
        seconds reach ``cpu_budget``, or a SIGTERM / SIGINT; save at the end either way."""
        self.cpu_budget = cpu_budget
        cfg = self.cfg
        stop = cfg.steps if stop_at is None else stop_at
        if stop > cfg.steps:
            raise BenchError(f"--steps {stop} exceeds the config's steps ({cfg.steps}); raise 'steps' in the config")
        if self.step >= stop:
            return {"step": self.step, "seconds": self.seconds, "losses": {}, "stopped_by": "already-done"}
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._fit(stop, progress)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _fit(self, stop: int, progress: bool | None) -> dict[str, Any]:
        cfg = self.cfg
        data = self.load_data()
        main = self.rank == 0
        writer = log = None
        if main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.paths["tensorboard"]), purge_step=self.step or None)
            log = open_log(self.paths["log"], self.step, list(LOSS_NAMES))
        validating = main and cfg.validate_minutes > 0 and len(data.val_faces) > 0
        if validating and not read_rows(self.paths["val"], self.step):
            self.validate(writer)  # the starting point of the curves
        show = (sys.stderr.isatty() if progress is None else progress) and main
        bar = tqdm(total=stop, initial=self.step, desc=cfg.name, disable=not show, file=sys.stderr, dynamic_ncols=True)
        window: list[dict[str, float]] = []
        last_save, last_val, losses = time.monotonic(), self.seconds, {}
        self.G.train(), self.F.train()
        if self.D is not None:
            self.D.train()
        feed = step_batches(data, self.step, stop, cfg.batch_size, self.rank, cfg.loss.supervised, cfg.workers,
                            pin_memory=self.device.type == "cuda")
        try:
            while self.step < stop and self.stop_requested is None:
                if self.cpu_budget is not None and self.cpu_seconds >= self.cpu_budget:
                    self.stop_requested = f"cpu-budget {self.cpu_budget:.0f} s"
                    break
                start, cpu_start = time.monotonic(), time.process_time()
                batch = next(feed)
                losses = self.train_step(batch)
                self.seconds += time.monotonic() - start
                self.cpu_seconds += time.process_time() - cpu_start
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
                if validating and (self.seconds - last_val >= 60 * cfg.validate_minutes or self.step == stop):
                    self.validate(writer)
                    last_val = self.seconds
                due_steps = cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0
                due_time = cfg.checkpoint_minutes and time.monotonic() - last_save >= 60 * cfg.checkpoint_minutes
                if due_steps or due_time or self.step == stop:
                    self.save(writer)
                    last_save = time.monotonic()
                elif cfg.sample_every and self.step % cfg.sample_every == 0:
                    writer.add_image("samples", self.preview(), self.step, dataformats="HWC")
            if self.stop_requested and main and self.step < stop:
                if validating:
                    self.validate(writer)
                self.save(writer)
                why = (f"{self.stop_requested} of CPU time used" if self.stop_requested.startswith("cpu-budget")
                       else f"{self.stop_requested} received")
                print(f"{cfg.name}: {why}; saved step {self.step} to {self.paths['resume']}",
                      file=sys.stderr)
        finally:
            feed.close()
            bar.close()
            if main:
                log.handle.close()
                writer.close()
        return {"step": self.step, "seconds": self.seconds, "losses": losses, "stopped_by": self.stop_requested}


def train(cfg: TrainConfig, out: Path | str, resume: bool = False, stop_at: int | None = None,
          progress: bool | None = None, cpu_budget: float | None = None) -> dict[str, Any]:
    """Train (or continue) a run; return ``{"step", "seconds", "losses", "stopped_by", "trainer"}``."""
    trainer = Trainer(cfg, Path(out), resume=resume)
    result = trainer.fit(stop_at, progress, cpu_budget)
    result["trainer"] = trainer
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="training config (YAML); see inpaint/configs/")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/<name>.resume.safetensors")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop after this step (default: the config's steps; the schedule stays the config's)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: runs/<name>)")
    parser.add_argument("--cpu-budget", type=float, default=None, metavar="SECONDS",
                        help="stop once the run has used this many CPU seconds in training steps, counted "
                             "over the whole run (equal-budget pilots and ablations)")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    out = args.out or Path("runs") / cfg.name
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result = train(cfg, out, resume=args.resume, stop_at=args.steps, cpu_budget=args.cpu_budget)
    trainer = result["trainer"]
    if trainer.rank == 0 and result["stopped_by"] == "already-done":
        print(f"{cfg.name}: the run is already at step {result['step']}; nothing trained, nothing written")
    elif trainer.rank == 0:
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
