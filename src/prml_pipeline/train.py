"""Fast, deterministic, resumable VAE training, and the trained model's outputs.

Speed on CPU comes from doing per step only what the maths needs, with no Python-side waste:
the binarized data set is one uint8 tensor on the device, each epoch's order and noise are one
draw each and a batch is one gather; the forward and backward passes of the MLPs are written out
(``addmm``/``mm`` into preallocated buffers, checked against autograd in the tests) since for
these small layers autograd's bookkeeping is a large share of the time; all parameters live in
one flat buffer so that Adam is a single fused kernel; the loss is summed on the device and read
once per epoch; denormal numbers are flushed to zero. What remains is mostly the five
784-wide matrix products per step, which run near the CPU's peak FLOP rate. On CUDA the same
step is captured once in a CUDA graph and replayed.

Determinism: the order of epoch k depends only on (seed, k), the noise comes from a generator
whose state is checkpointed, and the kernels are deterministic for a fixed thread count, so a run
resumed from a checkpoint ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
import torch.distributions as dist
from tqdm import tqdm

from prml_pipeline.artifacts import ArtifactError, atomic_path, remedy
from prml_pipeline.vae import VAE, negative_elbo

__all__ = [
    "TrainResult",
    "decode_grid",
    "latent_means",
    "load_model",
    "save_weights",
    "test_negative_elbo",
    "train_vae",
]

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
CHECKPOINT_NAME = "checkpoint.pt"
# Bump when a change to the training code changes the trajectory: old checkpoints then no
# longer match and are not resumed.
_ALGORITHM = "flat-adam-v1"
# Parameter blocks start on 64-byte boundaries (16 floats) so matmuls read aligned rows.
_ALIGN = 16


@dataclass
class TrainResult:
    """A trained model (on CPU) and how training went."""

    model: VAE
    epoch_losses: list[float] = field(default_factory=list)  # mean -ELBO per image, nats
    epoch_seconds: list[float] = field(default_factory=list)
    device: str = "cpu"
    resumed_from_epoch: int = 0


# ---------------------------------------------------------------------------------------------
# The training step


@dataclass
class _Layer:
    """Views of one affine layer y = x W^T + b into the flat parameter and gradient buffers."""

    weight: torch.Tensor
    bias: torch.Tensor
    grad_weight: torch.Tensor
    grad_bias: torch.Tensor


class _Workspace:
    """Preallocated activations for one batch size."""

    def __init__(self, model: VAE, batch: int, device: torch.device) -> None:
        def buffer(width: int) -> torch.Tensor:
            return torch.zeros(batch, width, device=device)

        d, p = model.latent_dim, model.scale_size
        self.x = buffer(model.input_dim)
        self.encoder = [buffer(h) for h in model.hidden]
        self.head = buffer(d + p)  # [mean | raw scale]
        self.scale = buffer(p)  # std (diagonal) or packed L (full)
        self.z = buffer(d)
        self.decoder = [buffer(h) for h in reversed(model.hidden)]
        self.logits = buffer(model.input_dim)
        self.grad_logits = buffer(model.input_dim)
        self.grad_head = buffer(d + p)
        # Running sums over the epoch of m^2, L^2 and log-diagonal head outputs, per element:
        # three in-place ops per step instead of a dozen tiny reductions; summed once per epoch.
        self.sum_mean_sq = buffer(d)
        self.sum_scale_sq = buffer(p)
        self.sum_log_diag = buffer(d)


def _relu_backward(grad: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
    # d relu(a)/da = 1 where the (post-ReLU) activation is positive, as autograd's ReLU does it;
    # one kernel, where a bool mask and a multiply cost ten times as much.
    return torch.ops.aten.threshold_backward(grad, activation, 0)


class _FlatAdamTrainer:
    """Hand-written forward/backward of the VAE's negative ELBO plus Adam on one flat buffer.

    The model's parameters are re-pointed into ``self.params`` so the module always shows the
    current weights. Adam is the same update as ``torch.optim.Adam(fused=True)`` (Kingma & Ba
    2015, Alg. 1) on a single tensor: m <- b1 m + (1-b1) g, v <- b2 v + (1-b2) g^2,
    theta <- theta - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps).
    """

    def __init__(self, model: VAE, learning_rate: float, device: torch.device) -> None:
        self.model = model
        self.learning_rate = learning_rate
        self.device = device
        d = model.latent_dim
        groups: list[list[torch.nn.Parameter]] = []
        for layer in model.encoder:
            groups += [[layer.weight], [layer.bias]]
        # Mean and scale heads back to back: one (d + p, h) matmul computes both.
        groups += [
            [model.mean_head.weight, model.scale_head.weight],
            [model.mean_head.bias, model.scale_head.bias],
        ]
        for layer in model.decoder:
            groups += [[layer.weight], [layer.bias]]

        offsets, total = [], 0
        for group in groups:
            offsets.append(total)
            size = sum(p.numel() for p in group)
            total += -(-size // _ALIGN) * _ALIGN
        self.params = torch.zeros(total, device=device)
        self.grads = torch.zeros(total, device=device)
        self.exp_avg = torch.zeros(total, device=device)
        self.exp_avg_sq = torch.zeros(total, device=device)
        self.step_count = torch.zeros((), device=device)  # float, as fused Adam wants
        self.bce_sum = torch.zeros((), dtype=torch.float64, device=device)

        views = []
        with torch.no_grad():
            for group, start in zip(groups, offsets, strict=True):
                offset = start
                for param in group:
                    view = self.params[offset : offset + param.numel()].view_as(param)
                    view.copy_(param)
                    param.data = view
                    offset += param.numel()
                rows = sum(p.shape[0] for p in group)
                shape = (rows, group[0].shape[1]) if group[0].dim() == 2 else (rows,)
                size = sum(p.numel() for p in group)
                views.append(
                    (
                        self.params[start : start + size].view(shape),
                        self.grads[start : start + size].view(shape),
                    )
                )
        layers = [
            _Layer(weight, bias, grad_weight, grad_bias)
            for (weight, grad_weight), (bias, grad_bias) in zip(
                views[0::2], views[1::2], strict=True
            )
        ]
        n_enc = len(model.encoder)
        self.encoder = layers[:n_enc]
        self.head = layers[n_enc]
        self.decoder = layers[n_enc + 1 :]

        rows, cols = torch.tril_indices(d, d, device=device)
        self.tril_rows, self.tril_cols = rows, cols
        self.tril_diag = rows == cols
        # z = m + L eps written as m + (L_packed * eps[cols]) @ onehot(rows).
        self.row_onehot = torch.nn.functional.one_hot(rows, d).to(self.params.dtype)
        self.log_diag_index = torch.nonzero(self.tril_diag).flatten()
        # log L_ii is raw_ii (full) or log_var_i / 2 (diagonal).
        self.log_diag_factor = 1.0 if model.full_covariance else 0.5
        self._workspaces: dict[int, _Workspace] = {}

    def workspace(self, batch: int) -> _Workspace:
        if batch not in self._workspaces:
            self._workspaces[batch] = _Workspace(self.model, batch, self.device)
        return self._workspaces[batch]

    def step(self, images: torch.Tensor, noise: torch.Tensor) -> None:
        """One Adam step on uint8 images (B, D) with noise eps (B, d); -ELBO goes to the sums."""
        self.forward_backward(images, noise)
        self.adam()

    def forward_backward(self, images: torch.Tensor, noise: torch.Tensor) -> None:
        """Gradient of the batch's -ELBO into ``self.grads``; the -ELBO's terms into the sums."""
        ws = self.workspace(images.shape[0])
        model = self.model
        d = model.latent_dim
        x = ws.x
        x.copy_(images)

        # Forward: encoder, heads, z = m + L eps, decoder logits.
        h = x
        for layer, act in zip(self.encoder, ws.encoder, strict=True):
            torch.addmm(layer.bias, h, layer.weight.t(), out=act).relu_()
            h = act
        torch.addmm(self.head.bias, h, self.head.weight.t(), out=ws.head)
        mean, raw = ws.head[:, :d], ws.head[:, d:]
        scale = ws.scale
        if model.full_covariance:
            torch.where(self.tril_diag, raw.exp(), raw, out=scale)  # L_ii = exp(raw_ii)
            torch.addmm(mean, scale * noise[:, self.tril_cols], self.row_onehot, out=ws.z)
        else:
            torch.mul(raw, 0.5, out=scale).exp_()  # std = exp(log_var / 2)
            torch.addcmul(mean, scale, noise, out=ws.z)
        g = ws.z
        for layer, act in zip(self.decoder[:-1], ws.decoder, strict=True):
            torch.addmm(layer.bias, g, layer.weight.t(), out=act).relu_()
            g = act
        last = self.decoder[-1]
        logits = torch.addmm(last.bias, g, last.weight.t(), out=ws.logits)

        # softplus(l) < 2.1e-9 for l < -20 (under 2e-6 nats per image in all): clamping the
        # reported loss there halves softplus's cost, whose log1p is slow on tiny arguments.
        clamped = torch.clamp(logits, min=-20.0, out=ws.grad_logits)
        # Loss, for the epoch's report (see epoch_loss_sum): BCE-with-logits = softplus(l) - x l.
        self.bce_sum.add_(torch.nn.functional.softplus(clamped).sum())
        self.bce_sum.sub_(torch.dot(x.view(-1), logits.view(-1)))
        ws.sum_mean_sq.addcmul_(mean, mean)
        ws.sum_scale_sq.addcmul_(scale, scale)
        ws.sum_log_diag.add_(
            raw.index_select(1, self.log_diag_index) if model.full_covariance else raw
        )

        # Backward. d BCE / d logits = sigmoid(l) - x.
        grad = torch.sigmoid(logits, out=ws.grad_logits).sub_(x)
        inputs = [ws.z, *ws.decoder]
        for k in range(len(self.decoder) - 1, -1, -1):
            layer = self.decoder[k]
            torch.mm(grad.t(), inputs[k], out=layer.grad_weight)
            torch.sum(grad, 0, out=layer.grad_bias)
            grad = grad @ layer.weight
            if k > 0:
                grad = _relu_backward(grad, inputs[k])
        grad_z = grad
        grad_mean, grad_raw = ws.grad_head[:, :d], ws.grad_head[:, d:]
        grad_mean.copy_(grad_z + mean)  # dz/dm = 1, dKL/dm = m
        if model.full_covariance:
            # dL_ij = dz_i eps_j + L_ij (from ||L||^2 / 2); diagonal: chain through exp, and
            # -log L_ii contributes -1.
            grad_scale = (grad_z[:, self.tril_rows] * noise[:, self.tril_cols]).add_(scale)
            grad_raw.copy_(torch.where(self.tril_diag, grad_scale * scale - 1, grad_scale))
        else:
            # std = exp(log_var / 2): d/dlog_var = 1/2 ((dz eps + std) std - 1).
            grad_raw.copy_(torch.addcmul(scale, grad_z, noise).mul_(scale).sub_(1).mul_(0.5))
        torch.mm(ws.grad_head.t(), h, out=self.head.grad_weight)
        torch.sum(ws.grad_head, 0, out=self.head.grad_bias)
        grad = _relu_backward(ws.grad_head @ self.head.weight, h)
        for k in range(len(self.encoder) - 1, -1, -1):
            layer = self.encoder[k]
            inp = x if k == 0 else ws.encoder[k - 1]
            torch.mm(grad.t(), inp, out=layer.grad_weight)
            torch.sum(grad, 0, out=layer.grad_bias)
            if k > 0:
                grad = _relu_backward(grad @ layer.weight, inp)

    def adam(self) -> None:
        """Adam, as torch.optim.Adam(fused=True) does it, without the optimizer's Python layer."""
        self.step_count.add_(1)
        torch._fused_adam_(
            [self.params],
            [self.grads],
            [self.exp_avg],
            [self.exp_avg_sq],
            [],
            [self.step_count],
            lr=self.learning_rate,
            beta1=ADAM_BETAS[0],
            beta2=ADAM_BETAS[1],
            weight_decay=0.0,
            eps=ADAM_EPS,
            amsgrad=False,
            maximize=False,
        )

    def reset_loss(self) -> None:
        self.bce_sum.zero_()
        for ws in self._workspaces.values():
            for total in (ws.sum_mean_sq, ws.sum_scale_sq, ws.sum_log_diag):
                total.zero_()

    def epoch_loss_sum(self, n_images: int) -> float:
        """Summed -ELBO since ``reset_loss`` over ``n_images`` images (syncs with the device).

        KL(N(m, L L^T) || N(0, I)) = 1/2 (||L||_F^2 + ||m||^2 - d) - sum_i log L_ii per image.
        """
        kl = -0.5 * n_images * self.model.latent_dim
        for ws in self._workspaces.values():
            kl += 0.5 * (ws.sum_mean_sq.double().sum() + ws.sum_scale_sq.double().sum()).item()
            kl -= self.log_diag_factor * ws.sum_log_diag.double().sum().item()
        return self.bce_sum.item() + kl

    def optimizer_state(self) -> dict[str, torch.Tensor]:
        return {
            "exp_avg": self.exp_avg,
            "exp_avg_sq": self.exp_avg_sq,
            "step": self.step_count,
        }

    def load_optimizer_state(self, state: dict[str, torch.Tensor]) -> None:
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.step_count.copy_(state["step"])


class _CudaGraphStep:
    """``trainer.step`` for full batches captured once in a CUDA graph, replayed per batch.

    Capture needs a few eager warm-up steps (lazy cuBLAS/kernel init); they change the weights
    and Adam state, so both are saved before and restored after, leaving the trajectory as if
    the graph had never been built.
    """

    def __init__(self, trainer: _FlatAdamTrainer, batch: int) -> None:
        model, device = trainer.model, trainer.device
        self.trainer = trainer
        self.images = torch.zeros(batch, model.input_dim, dtype=torch.uint8, device=device)
        self.noise = torch.zeros(batch, model.latent_dim, device=device)
        saved = [t.clone() for t in (trainer.params, *trainer.optimizer_state().values())]
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):
                trainer.step(self.images, self.noise)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            trainer.step(self.images, self.noise)
        for target, value in zip(
            (trainer.params, *trainer.optimizer_state().values()), saved, strict=True
        ):
            target.copy_(value)
        trainer.reset_loss()

    def __call__(self, images: torch.Tensor, noise: torch.Tensor) -> None:
        self.images.copy_(images)
        self.noise.copy_(noise)
        self.graph.replay()


# ---------------------------------------------------------------------------------------------
# Seeds, fingerprints, checkpoints


def _derived_seed(*key: int) -> int:
    """A 63-bit seed from integers, well mixed (SeedSequence), for independent streams."""
    state = np.random.SeedSequence(list(key)).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


_NOISE_STREAM, _ORDER_STREAM = 0, 1


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of epoch ``epoch``: a function of (seed, epoch) only, never of history."""
    generator = torch.Generator().manual_seed(_derived_seed(seed, _ORDER_STREAM, epoch))
    return torch.randperm(n, generator=generator)


def _fingerprint(
    data: np.ndarray,
    hidden: list[int],
    full_covariance: bool,
    latent_dim: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    """Everything that shapes the trajectory (not ``epochs``: a longer run extends a shorter).

    The CPU thread count is included because it changes how sums are split, hence the bits.
    """
    return {
        "algorithm": _ALGORITHM,
        "torch": str(torch.__version__),
        "hidden": [int(h) for h in hidden],
        "full_covariance": bool(full_covariance),
        "latent_dim": int(latent_dim),
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "device_type": device.type,
        "cpu_threads": torch.get_num_threads() if device.type == "cpu" else None,
        "data": f"{data.shape}:{hashlib.blake2b(memoryview(data), digest_size=16).hexdigest()}",
    }


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def _serialize(obj: Any) -> bytes:
    # Saving through a buffer names the archive "archive" whatever the file is called, so equal
    # contents give equal bytes (torch.save(obj, path) names it after the path).
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _cpu_state(model: VAE) -> dict[str, torch.Tensor]:
    # clone: the parameters may be views of the flat buffer, and torch.save would store all of it.
    return {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}


def _save_checkpoint(
    path: Path,
    fingerprint: dict[str, Any],
    epoch: int,
    trainer: _FlatAdamTrainer,
    noise_generator: torch.Generator,
    losses: list[float],
    seconds: list[float],
) -> None:
    state = {
        "fingerprint": fingerprint,
        "epoch": epoch,
        "model": _cpu_state(trainer.model),
        "optimizer": {k: v.detach().cpu().clone() for k, v in trainer.optimizer_state().items()},
        "noise_rng": noise_generator.get_state(),
        "epoch_losses": list(losses),
        "epoch_seconds": list(seconds),
    }
    _atomic_write_bytes(path, _serialize(state))


def _load_checkpoint(path: Path, log: IO[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # any unreadable checkpoint means: start fresh
        print(f"checkpoint {path} is unreadable ({err}); starting fresh", file=log)
        return None


# ---------------------------------------------------------------------------------------------
# Public API


def _resolve_device(device: str | None) -> torch.device:
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda", torch.cuda.current_device())
    return resolved


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def train_vae(
    train_images: np.ndarray,
    *,
    hidden: list[int],
    full_covariance: bool,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    latent_dim: int = 2,
    device: str | None = None,
    threads: int | None = None,
    checkpoint_dir: Path | None = None,
    progress_file: IO[str] = sys.stderr,
) -> TrainResult:
    """Train a VAE by Adam on the single-sample negative ELBO, one pass over the data per epoch.

    ``train_images`` are binarized uint8 0/1 images (N, D). Each epoch visits them in an order
    drawn from (seed, epoch), in batches of ``batch_size`` (the last one smaller if N is not a
    multiple), one Adam step per batch. With ``checkpoint_dir`` the state after every epoch is
    saved atomically, and a later call with the same settings resumes from it.
    """
    data_np = np.ascontiguousarray(train_images, dtype=np.uint8).reshape(len(train_images), -1)
    torch_device = _resolve_device(device)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    # As training goes on, Adam's second moments (squares of tiny gradients, e.g. of dead ReLU
    # units) and softplus's log1p meet denormal numbers, which the CPU handles many times slower:
    # fused Adam ran at under half speed by epoch 3. Flushing denormals to zero changes values
    # only below 1.2e-38. It applies to this thread, i.e. to all the work at one thread (OpenMP
    # workers started meanwhile inherit it).
    torch.set_flush_denormal(True)
    try:
        return _train(
            data_np,
            hidden=list(hidden),
            full_covariance=full_covariance,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            latent_dim=latent_dim,
            device=torch_device,
            checkpoint_dir=checkpoint_dir,
            log=progress_file,
        )
    finally:
        torch.set_flush_denormal(False)  # torch's default
        torch.set_num_threads(previous_threads)


def _train(
    data_np: np.ndarray,
    *,
    hidden: list[int],
    full_covariance: bool,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    latent_dim: int,
    device: torch.device,
    checkpoint_dir: Path | None,
    log: IO[str],
) -> TrainResult:
    n_images, input_dim = data_np.shape
    with torch.random.fork_rng(devices=[]):  # seed the initial weights without side effects
        torch.manual_seed(seed)
        model = VAE(hidden, latent_dim, input_dim, full_covariance).to(device)
    trainer = _FlatAdamTrainer(model, learning_rate, device)
    noise_generator = torch.Generator().manual_seed(_derived_seed(seed, _NOISE_STREAM))
    losses: list[float] = []
    seconds: list[float] = []
    start_epoch = 0

    fingerprint = _fingerprint(
        data_np, hidden, full_covariance, latent_dim, batch_size, learning_rate, seed, device
    )
    checkpoint_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    if checkpoint_path is not None:
        state = _load_checkpoint(checkpoint_path, log)
        if state is not None and state.get("fingerprint") != fingerprint:
            print(f"checkpoint {checkpoint_path} is for other settings; starting fresh", file=log)
        elif state is not None and state["epoch"] > epochs:
            print(
                f"checkpoint {checkpoint_path} is past epoch {epochs} "
                f"(at {state['epoch']}); starting fresh",
                file=log,
            )
        elif state is not None:
            with torch.no_grad():
                model.load_state_dict(state["model"])
            trainer.load_optimizer_state(state["optimizer"])
            noise_generator.set_state(state["noise_rng"])
            losses, seconds = list(state["epoch_losses"]), list(state["epoch_seconds"])
            start_epoch = int(state["epoch"])
            print(f"resuming from epoch {start_epoch} ({checkpoint_path})", file=log)

    data = torch.from_numpy(data_np).to(device)  # once; batches are gathered on the device
    batch = torch.empty(batch_size, input_dim, dtype=torch.uint8, device=device)
    step = trainer.step
    n_full = n_images // batch_size * batch_size
    if device.type == "cuda" and n_full and start_epoch < epochs:
        step = _CudaGraphStep(trainer, batch_size)

    bar = tqdm(
        total=epochs,
        initial=start_epoch,
        desc=f"VAE {hidden}{' full-cov' if full_covariance else ''}",
        unit="epoch",
        file=log,
        mininterval=0,
    )
    for epoch in range(start_epoch, epochs):
        began = time.perf_counter()
        order = _epoch_order(n_images, seed, epoch).to(device)
        noise = torch.randn(n_images, latent_dim, generator=noise_generator).to(device)
        trainer.reset_loss()
        for start in range(0, n_full, batch_size):
            # Gathering each batch (not the whole shuffled epoch) spares a copy of the data set.
            torch.index_select(data, 0, order[start : start + batch_size], out=batch)
            step(batch, noise[start : start + batch_size])
        if n_full < n_images:
            trainer.step(data[order[n_full:]], noise[n_full:])
        losses.append(trainer.epoch_loss_sum(n_images) / n_images)  # the epoch's only host sync
        seconds.append(time.perf_counter() - began)
        if checkpoint_path is not None:
            _save_checkpoint(
                checkpoint_path, fingerprint, epoch + 1, trainer, noise_generator, losses, seconds
            )
        bar.set_postfix(loss=f"{losses[-1]:.2f}", s_per_epoch=f"{seconds[-1]:.2f}")
        bar.update(1)
    bar.close()

    return TrainResult(
        model=_vae_from_state(_cpu_state(model), hidden, full_covariance, latent_dim, input_dim),
        epoch_losses=losses,
        epoch_seconds=seconds,
        device=_describe(device),
        resumed_from_epoch=start_epoch,
    )


def test_negative_elbo(
    model: VAE, images: np.ndarray, batch_size: int, seed: int, device: str | None = None
) -> float:
    """Single-sample estimate of the mean negative ELBO in nats per image (deterministic in seed).

    -ELBO(x) = -log p(x | z) + KL(q(z | x) || N(0, I)), z ~ q(z | x), averaged over ``images``.
    """
    torch_device = _resolve_device(device)
    model = copy.deepcopy(model).to(torch_device).eval()
    data = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1))
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x = data[start : start + batch_size].to(torch_device)
            noise = torch.randn(len(x), model.latent_dim, generator=generator).to(torch_device)
            total += float(negative_elbo(model, x, noise=noise).double())
    return total / len(data)


test_negative_elbo.__test__ = False  # a metric, not a pytest test, despite its name


def save_weights(model: VAE, path: str | os.PathLike[str]) -> None:
    """Write the model's state dict atomically; identical weights give identical bytes."""
    _atomic_write_bytes(Path(path), _serialize(_cpu_state(model)))


def load_model(
    path: str | os.PathLike[str], hidden: list[int], full_covariance: bool, latent_dim: int = 2
) -> VAE:
    """Load weights written by :func:`save_weights` into a fresh VAE (on CPU, eval mode)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} is missing. Remedy: {remedy(path, 'train_vae')}")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # zip, pickle and EOF errors differ by how the file broke
        raise ArtifactError(
            f"{path} is not a readable weights file ({err}). Remedy: {remedy(path, 'train_vae')}"
        ) from None
    try:
        return _vae_from_state(state, hidden, full_covariance, latent_dim)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ArtifactError(
            f"{path}: weights do not fit a VAE with hidden={hidden}, "
            f"full_covariance={full_covariance} ({err}). Remedy: {remedy(path, 'train_vae')}"
        ) from None


def _vae_from_state(
    state: dict[str, torch.Tensor],
    hidden: list[int],
    full_covariance: bool,
    latent_dim: int,
    input_dim: int = 784,
) -> VAE:
    # Built on the meta device and given the tensors: no initialisation, no global RNG draws.
    with torch.device("meta"):
        model = VAE(list(hidden), latent_dim, input_dim, full_covariance)
    model.load_state_dict(state, assign=True)
    return model.eval()


def latent_means(model: VAE, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Encoder means m(x) for each image, (N, latent_dim) float32."""
    data = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1))
    out = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            out.append(model.encode_raw(data[start : start + batch_size])[0])
    return torch.cat(out).numpy()


def decode_grid(
    model: VAE, grid_size: int, quantile_low: float, quantile_high: float
) -> np.ndarray:
    """Decoded images (grid_size^2, 28, 28) on a quantile grid of the prior (sheet's plot_model).

    Each axis takes ``grid_size`` evenly spaced quantiles in [low, high] mapped through the
    standard normal inverse CDF; the ordering is the sheet's
    ``cartesian_prod(space.flip(0), space).flip(1)``: row-major with z_2 decreasing down rows.
    """
    if model.latent_dim != 2:
        raise ValueError(f"decode_grid needs a 2-D latent space, got {model.latent_dim}")
    space = torch.linspace(quantile_low, quantile_high, steps=grid_size)
    grid = torch.cartesian_prod(space.flip(0), space).flip(1)
    latents = dist.Normal(0.0, 1.0).icdf(grid)
    model.eval()
    with torch.no_grad():
        images = model.decode(latents)
    return images.reshape(-1, 28, 28).numpy()
