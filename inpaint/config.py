"""Training configuration: dataclasses, YAML loading and validation.

A config file is YAML read with ``yaml.safe_load`` and checked against these dataclasses before
anything else happens: an unknown key, a value of the wrong type or an impossible value
raises :class:`bench.api.BenchError` naming the key path (e.g. ``model.image_size``).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.api import BenchError

MASK_STYLES = ("surgical", "n95", "kn95", "cloth")


@dataclass
class ModelConfig:
    image_size: int = 128
    ngf: int = 32
    n_blocks: int = 6
    attention: bool = True
    ndf: int = 32
    n_layers_d: int = 3
    spectral_norm: bool = True
    d_norm: str = "none"  # "none" or "instance"
    channels: int = 3  # 1: a luminance model (the training faces are grayscale)
    skips: bool = False  # U-Net path from the encoder to the decoder
    region: str = "none"  # "none" (whole image regenerated), "given" (mask known), "learned" (blind)
    region_dilate: int = 3  # pixels at the model size by which a given mask is grown
    region_feather: int = 2  # pixels of soft edge around it
    pixel_d: bool = True  # the PatchGAN on pixels
    projected_d: str = ""  # "", "alex" or "vgg": heads on a frozen LPIPS trunk as a second discriminator


@dataclass
class LossConfig:
    gan_mode: str = "lsgan"  # "lsgan" or "hinge"
    lambda_gan: float = 1.0
    lambda_nce: float = 1.0
    nce_idt: bool = True
    num_patches: int = 256
    nce_temperature: float = 0.07
    mlp_units: int = 256
    nce_hole_weight: float = 1.0  # how likely a PatchNCE location inside the region is (1 = uniform, as CUT)
    lambda_projected: float = 1.0  # weight of the projected discriminator against the pixel one
    diff_augment: bool = False  # DiffAugment on every image the discriminators see
    lambda_region_clean: float = 0.0  # blind: mean of the region map on clean faces (should be 0)
    lambda_region_area: float = 0.0  # blind: mean of the region map on occluded faces (keep it small)
    lambda_region_tv: float = 0.0  # blind: total variation of the region map (keep it smooth)
    supervised: bool = False  # the paired baseline: L1 + LPIPS(VGG) against the clean original; no GAN
    lambda_l1: float = 1.0
    lambda_perceptual: float = 1.0
    lambda_id: float = 0.0  # identity consistency: 1 - cos(FaceNet(G(x)), FaceNet(x)) (inpaint/identity.py)
    lambda_id_nce: float = 0.0  # contrastive identity: own input against the batch's and id_queue earlier inputs
    lambda_id_shift: float = 0.0  # identity-neutral fill: each face's FaceNet move from input to output near the batch's mean
    lambda_id_dlib: float = 0.0  # identity consistency through dlib's ResNet: 1 - cos(dlib(G(x)), dlib(x))
    id_target: str = "input"  # whose identity the terms keep: the occluded "input", or "clean" (supervised only)
    id_queue: int = 256
    id_temperature: float = 0.1


@dataclass
class DataConfig:
    root: str = ""  # default: $BENCH_DATA/lfw-gray
    split: str = "identity-disjoint"  # "identity-disjoint" or "not-in-pairs"
    mask_styles: list[str] = field(default_factory=lambda: list(MASK_STYLES))
    flip: bool = True
    jitter: int = 4  # pixels of random crop offset at the model size
    max_images: int = 0  # 0 = the whole pool (a smaller pool is for tests)
    val_images: int = 0  # faces held out of the pool for validation (never trained on)
    real_masked: str = ""  # a folder of real masked photos (relative: under $BENCH_DATA); its train half joins domain A
    real_fraction: float = 0.0  # chance that an occluded sample is a real masked face instead of a synthetic one


@dataclass
class TrainConfig:
    name: str = "cl-attn"
    seed: int = 0
    steps: int = 20000
    decay_steps: int = 10000  # linear decay to 0 over the last decay_steps (CUT's n_epochs_decay)
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    checkpoint_every: int = 500  # steps; 0 = only at the end (and by time)
    checkpoint_minutes: float = 10.0  # also checkpoint when this much time passed; 0 = off
    log_every: int = 10
    sample_every: int = 0  # TensorBoard image grid; 0 = at checkpoints only
    threads: int = 0  # torch.set_num_threads; 0 = leave torch's default
    workers: int = 0  # processes that prepare batches ahead (for GPUs); 0 = in the training process
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    channels_last: bool = False  # NHWC tensors: faster with cuDNN, slower on CPU (docs/model.md)
    bf16: bool = False  # bfloat16 autocast on the CPU
    validate_minutes: float = 0.0  # score the validation faces every this many training minutes; 0 = off
    ema: float = 0.0  # decay of an exponential moving average of the generator's weights (released, validated); 0 = off
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise BenchError(f"{where}: expected a mapping, got {type(value).__name__}")
        return _build(hint, value, where + ".")
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise BenchError(f"{where}: expected a list, got {type(value).__name__}")
        return [_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            if option is type(None) and value is None:
                return None
        return _check_type(value, next(a for a in typing.get_args(hint) if a is not type(None)), where)
    if hint is bool:
        if not isinstance(value, bool):
            raise BenchError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BenchError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BenchError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise BenchError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} at {where}")


def _build(cls: type, raw: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise BenchError(f"unknown key {prefix}{unknown[0]} (known: {', '.join(sorted(names))})")
    values = {k: _check_type(v, hints[k], prefix + k) for k, v in raw.items()}
    return cls(**values)


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check values that types alone do not catch; raise BenchError naming the key."""
    m, l, d = cfg.model, cfg.loss, cfg.data
    checks = [
        (m.image_size >= 32 and m.image_size % 4 == 0, "model.image_size", "must be a multiple of 4 and at least 32"),
        (2 ** (m.n_layers_d + 1) <= m.image_size, "model.n_layers_d", "too many layers for model.image_size"),
        (m.ngf >= 1, "model.ngf", "must be positive"),
        (m.ndf >= 1, "model.ndf", "must be positive"),
        (m.n_blocks >= 2, "model.n_blocks", "must be at least 2"),
        (m.n_layers_d >= 1, "model.n_layers_d", "must be at least 1"),
        (m.d_norm in ("none", "instance"), "model.d_norm", "must be 'none' or 'instance'"),
        (l.gan_mode in ("lsgan", "hinge"), "loss.gan_mode", "must be 'lsgan' or 'hinge'"),
        (l.num_patches >= 2, "loss.num_patches", "must be at least 2"),
        (l.nce_temperature > 0, "loss.nce_temperature", "must be positive"),
        (l.mlp_units >= 1, "loss.mlp_units", "must be positive"),
        (l.lambda_gan >= 0 and l.lambda_nce >= 0, "loss.lambda_gan/lambda_nce", "must be non-negative"),
        (m.channels in (1, 3), "model.channels", "must be 1 or 3"),
        (m.region in ("none", "given", "learned"), "model.region", "must be 'none', 'given' or 'learned'"),
        (m.region_dilate >= 0 and m.region_feather >= 0, "model.region_dilate/region_feather", "must be >= 0"),
        (m.projected_d in ("", "alex", "vgg"), "model.projected_d", "must be '', 'alex' or 'vgg'"),
        (l.supervised or m.pixel_d or m.projected_d, "model.pixel_d/projected_d", "an unpaired model needs a discriminator"),
        (not (m.region == "given" and l.nce_idt), "loss.nce_idt",
         "must be false with model.region 'given' (a clean face has no mask: its output is itself)"),
        (0 <= l.nce_hole_weight <= 1, "loss.nce_hole_weight", "must be in [0, 1]"),
        (min(l.lambda_projected, l.lambda_region_clean, l.lambda_region_area, l.lambda_region_tv,
             l.lambda_l1, l.lambda_perceptual, l.lambda_id, l.lambda_id_nce, l.lambda_id_shift, l.lambda_id_dlib) >= 0, "loss.lambda_*",
         "must be non-negative"),
        (l.id_target in ("input", "clean"), "loss.id_target", "must be 'input' or 'clean'"),
        (l.id_target == "input" or l.supervised, "loss.id_target",
         "'clean' needs a supervised model (an unpaired model never sees the clean twin)"),
        (l.id_queue >= 0 and l.id_temperature > 0, "loss.id_queue/id_temperature", "must be >= 0 and positive"),
        (d.val_images >= 0, "data.val_images", "must be >= 0"),
        (cfg.validate_minutes >= 0, "validate_minutes", "must be >= 0"),
        (0 <= cfg.ema < 1, "ema", "must be in [0, 1)"),
        (d.split in ("identity-disjoint", "not-in-pairs"), "data.split", "must be 'identity-disjoint' or 'not-in-pairs'"),
        (bool(d.mask_styles) and all(s in MASK_STYLES for s in d.mask_styles), "data.mask_styles",
         f"must be a non-empty subset of {list(MASK_STYLES)}"),
        (0 <= d.jitter < m.image_size // 4, "data.jitter", "must be in [0, image_size / 4)"),
        (d.max_images == 0 or d.max_images >= 4, "data.max_images", "must be 0 (all) or at least 4"),
        (0 <= d.real_fraction <= 1, "data.real_fraction", "must be in [0, 1]"),
        (d.real_fraction == 0 or bool(d.real_masked), "data.real_masked", "must name a folder when real_fraction > 0"),
        (not (l.supervised and d.real_fraction > 0), "data.real_fraction",
         "must be 0 for a supervised model (a real masked face has no clean twin)"),
        (cfg.steps >= 1, "steps", "must be at least 1"),
        (0 <= cfg.decay_steps <= cfg.steps, "decay_steps", "must be between 0 and steps"),
        (cfg.batch_size >= 1, "batch_size", "must be at least 1"),
        (cfg.lr > 0, "lr", "must be positive"),
        (0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1, "beta1/beta2", "must be in [0, 1)"),
        (cfg.checkpoint_every >= 0 and cfg.checkpoint_minutes >= 0, "checkpoint_every/checkpoint_minutes", "must be >= 0"),
        (cfg.log_every >= 1, "log_every", "must be at least 1"),
        (cfg.threads >= 0, "threads", "must be >= 0"),
        (cfg.workers >= 0, "workers", "must be >= 0"),
        (bool(cfg.name) and "/" not in cfg.name and not cfg.name.startswith("."), "name", "must be a plain file name"),
    ]
    for ok, key, message in checks:
        if not ok:
            raise BenchError(f"config key {key}: {message}")
    return cfg


def config_from_dict(raw: dict | None, source: str = "config") -> TrainConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BenchError(f"{source}: expected a mapping at the top level")
    try:
        return validate(_build(TrainConfig, raw))
    except BenchError as exc:
        raise BenchError(f"{source}: {exc}") from None


def load_config(path: Path | str) -> TrainConfig:
    """Read and validate a YAML training config."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise BenchError(f"{path}: invalid YAML ({exc})") from None
    return config_from_dict(raw, str(path))
