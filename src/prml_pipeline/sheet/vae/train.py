"""Training of the VAE: one short autograd loop, deterministic and resumable.

As in pytorch/examples ``vae/main.py``: the model (:mod:`.model`) gives the logits and
the posterior's parameters, :func:`.loss.negative_elbo` the loss, autograd the
gradients and Adam the step. What keeps it fast is how the data reaches the model: the binarized
data set is one uint8 tensor on the device, each epoch draws its order and its noise once, a
batch is one gather, the loss is summed on the device and read once per epoch (no Python-side
sync inside an epoch), Adam is the fused kernel, and denormal numbers are flushed to zero.

Determinism: the order and noise of epoch k are functions of (seed, k) only, the initial weights
of the seed, and the CPU kernels are deterministic for a fixed thread count, so a run resumed
from a per-epoch checkpoint ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from prml_pipeline.artifacts import atomic_path
from prml_pipeline.errors import PipelineError
from prml_pipeline.sheet.vae.loss import negative_elbo
from prml_pipeline.sheet.vae.model import VAE
from prml_pipeline.sheet.vae.weights import cpu_state, serialize, vae_from_state

__all__ = [
    "CHECKPOINT_NAME",
    "DivergenceError",
    "TrainResult",
    "TrainSettings",
    "epoch_draws",
    "train_step",
    "train_vae",
]

CHECKPOINT_NAME = "checkpoint.pt"
# Names the training algorithm in checkpoints: bump it when a change to this loop changes the
# trajectory, so that old checkpoints no longer match and are not resumed.
ALGORITHM = "autograd-adam-v1"


@dataclass(frozen=True)
class TrainSettings:
    """One model's architecture and training settings: the job's ``vae`` config subset."""

    hidden: tuple[int, ...]
    epochs: int
    full_covariance: bool = False
    latent_dim: int = 2
    batch_size: int = 50
    learning_rate: float = 1e-3
    seed: int = 42
    eval_seed: int = 0  # seed of the noise of the test-set -ELBO estimate
    name: str = "vae"  # the model's key under vae.models, for messages

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], name: str) -> TrainSettings:
        """Settings from a job's config subset (``train_cfg`` in workflow/rules/common.smk)."""
        return cls(
            hidden=tuple(int(size) for size in cfg["hidden"]),
            epochs=int(cfg["epochs"]),
            full_covariance=bool(cfg["full_covariance"]),
            latent_dim=int(cfg["latent_dim"]),
            batch_size=int(cfg["batch_size"]),
            learning_rate=float(cfg["learning_rate"]),
            seed=int(cfg["seed"]),
            eval_seed=int(cfg["eval_seed"]),
            name=name,
        )

    @property
    def label(self) -> str:
        return f"VAE {self.name} {list(self.hidden)}{' full-cov' if self.full_covariance else ''}"


class DivergenceError(PipelineError, RuntimeError):
    """Training produced a loss that is not finite; the message names the setting to change."""


@dataclass
class TrainResult:
    """A trained model (on CPU, eval mode) and how training went."""

    model: VAE
    epoch_losses: list[float] = field(default_factory=list)  # mean -ELBO per image, nats
    epoch_seconds: list[float] = field(default_factory=list)
    device: str = "cpu"
    resumed_from_epoch: int = 0


def epoch_draws(
    n: int, latent_dim: int, seed: int, epoch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The visiting order (n,) and the noise eps (n, latent_dim) of one epoch, on the CPU.

    A function of (seed, epoch) only, never of what ran before: a resumed run draws the same.
    """
    mixed = np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint32)
    generator = torch.Generator().manual_seed(int(mixed[0]) << 32 | int(mixed[1]))
    order = torch.randperm(n, generator=generator)
    return order, torch.randn(n, latent_dim, generator=generator)


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """One Adam step on the batch's single-sample negative ELBO; returns the loss (no sync).

    ``x`` (B, D) float pixels, ``noise`` the eps (B, d) of z = m + L eps.
    """
    logits, mean, scale = model(x, noise)
    loss = negative_elbo(logits, x, mean, scale)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def train_vae(
    train_images: np.ndarray,
    settings: TrainSettings,
    *,
    device: str | None = None,
    threads: int | None = None,
    checkpoint_dir: Path | None = None,
    progress_file: IO[str] = sys.stderr,
) -> TrainResult:
    """Train a VAE by Adam on the single-sample negative ELBO, one pass over the data per epoch.

    ``train_images`` are binarized uint8 0/1 images (N, ...). Each epoch visits them in an order
    drawn from (seed, epoch), in batches of ``batch_size`` (the last one smaller if N is not a
    multiple), one Adam step per batch. ``device`` defaults to CUDA when available. With
    ``checkpoint_dir`` the state after every epoch is saved atomically, and a later call with the
    same settings, data, device type and thread count resumes from it. A loss that is not
    finite stops training with :class:`DivergenceError`.
    """
    images = np.ascontiguousarray(train_images, dtype=np.uint8).reshape(len(train_images), -1)
    torch_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if torch_device.type == "cuda" and torch_device.index is None:
        torch_device = torch.device("cuda", torch.cuda.current_device())
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    # Adam's second moments of tiny gradients (e.g. of dead ReLU units) become denormal numbers,
    # which the CPU handles many times slower; flushing them to zero changes values only below
    # 1.2e-38. It applies to this thread, i.e. to all the work at one thread.
    torch.set_flush_denormal(True)
    try:
        return _train(images, settings, torch_device, checkpoint_dir, progress_file)
    finally:
        torch.set_flush_denormal(False)  # torch's default
        torch.set_num_threads(previous_threads)


def _train(
    images: np.ndarray,
    settings: TrainSettings,
    device: torch.device,
    checkpoint_dir: Path | None,
    log: IO[str],
) -> TrainResult:
    n_images, input_dim = images.shape
    with torch.random.fork_rng(devices=[]):  # seed the initial weights without side effects
        torch.manual_seed(settings.seed)
        model = VAE(list(settings.hidden), settings.latent_dim, input_dim, settings.full_covariance)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, fused=True)
    losses: list[float] = []
    seconds: list[float] = []

    fingerprint = _fingerprint(images, settings, device)
    checkpoint = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    state = _load_checkpoint(checkpoint, fingerprint, settings.epochs, log)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        losses, seconds = list(state["epoch_losses"]), list(state["epoch_seconds"])
        print(f"resuming from epoch {state['epoch']} ({checkpoint})", file=log)
    start_epoch = len(losses)

    data = torch.from_numpy(images).to(device)  # once; batches are gathered on the device
    bar = tqdm(total=settings.epochs, initial=start_epoch, desc=settings.label, unit="epoch",
               file=log, mininterval=0)
    with bar:
        for epoch in range(start_epoch, settings.epochs):
            began = time.perf_counter()
            losses.append(_epoch(model, optimizer, data, settings, epoch))
            seconds.append(time.perf_counter() - began)
            if checkpoint is not None:
                _save_checkpoint(checkpoint, fingerprint, model, optimizer, losses, seconds)
            bar.set_postfix(loss=f"{losses[-1]:.2f}", s_per_epoch=f"{seconds[-1]:.2f}")
            bar.update(1)

    return TrainResult(
        model=vae_from_state(cpu_state(model), model.spec()),
        epoch_losses=losses,
        epoch_seconds=seconds,
        device=_describe(device),
        resumed_from_epoch=start_epoch,
    )


def _epoch(model: VAE, optimizer: torch.optim.Optimizer, data: torch.Tensor,
           settings: TrainSettings, epoch: int) -> float:
    """One pass over ``data`` (on the model's device) in the epoch's order; the mean -ELBO per
    image. A loss that is not finite raises :class:`DivergenceError`."""
    n_images = len(data)
    device = data.device
    order, noise = (t.to(device) for t in epoch_draws(n_images, settings.latent_dim,
                                                      settings.seed, epoch))
    total = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, n_images, settings.batch_size):
        end = start + settings.batch_size
        total += train_step(model, optimizer, data[order[start:end]].float(), noise[start:end])
    loss_per_image = total.item() / n_images  # the epoch's only sync with the device
    if not math.isfinite(loss_per_image):
        raise DivergenceError(
            f"training of model '{settings.name}' (seed {settings.seed}) diverged in epoch "
            f"{epoch + 1} of {settings.epochs}: the mean -ELBO per image is "
            f"{loss_per_image}. Lower "
            f"vae.learning_rate (now {settings.learning_rate:g}; the sheet uses 0.001) "
            "in the config and rerun."
        )
    return loss_per_image


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


# ---------------------------------------------------------------------------------------------
# Checkpoints


def _fingerprint(
    images: np.ndarray, settings: TrainSettings, device: torch.device
) -> dict[str, Any]:
    """Everything that shapes the trajectory (not ``epochs``: a longer run extends a shorter).

    The CPU thread count is included because it changes how sums are split, hence the bits.
    """
    ignored = ("epochs", "eval_seed", "name")
    shaping = {key: value for key, value in asdict(settings).items() if key not in ignored}
    digest = hashlib.blake2b(memoryview(images), digest_size=16).hexdigest()
    return {
        **shaping,
        "hidden": list(settings.hidden),
        "algorithm": ALGORITHM,
        "torch": str(torch.__version__),
        "device_type": device.type,
        "cpu_threads": torch.get_num_threads() if device.type == "cpu" else None,
        "data": f"{images.shape}:{digest}",
    }


def _save_checkpoint(
    path: Path,
    fingerprint: dict[str, Any],
    model: VAE,
    optimizer: torch.optim.Optimizer,
    losses: list[float],
    seconds: list[float],
) -> None:
    payload = serialize({
        "fingerprint": fingerprint,
        "epoch": len(losses),
        "model": cpu_state(model),
        "optimizer": optimizer.state_dict(),
        "epoch_losses": list(losses),
        "epoch_seconds": list(seconds),
    })
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def _load_checkpoint(
    path: Path | None, fingerprint: dict[str, Any], epochs: int, log: IO[str]
) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it continues this run, else None (saying why in the log)."""
    if path is None or not path.is_file():
        return None
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # any unreadable checkpoint means: start fresh
        print(f"checkpoint {path} is unreadable ({err}); starting fresh", file=log)
        return None
    if state.get("fingerprint") != fingerprint:
        print(f"checkpoint {path} is for other settings; starting fresh", file=log)
        return None
    if state["epoch"] > epochs:
        print(f"checkpoint {path} is past epoch {epochs} (at {state['epoch']}); starting fresh",
              file=log)
        return None
    return state
