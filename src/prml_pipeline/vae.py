"""Variational autoencoder of the sheet (Sec. 4): Bernoulli decoder, Gaussian encoder, 2-D latent.

Generative model p(z) = N(0, I), p(x | z) = prod_i Bernoulli(x_i | sigmoid(f(z)_i)); encoder
q(z | x) = N(m(x), L(x) L(x)^T) with L diagonal (the standard deviations, ``exp`` of half a
log-variance head) or lower triangular (the full-covariance model; diagonal made positive by
``exp``). Training minimises the negative ELBO

    -ELBO(x) = -E_q[log p(x | z)] + KL(q(z | x) || p(z)),

estimated with one reparameterised sample z = m + L eps, eps ~ N(0, I) (Kingma & Welling 2014).
Everything the likelihood decides lives here: :meth:`VAE.decode`, :func:`log_likelihood` and
:func:`pixel_means`. Training (``prml_pipeline.train``) only calls :func:`negative_elbo`.

Two of the sheet's errata are fixed here: its diagonal encoder passes the variance where
``Normal`` expects the standard deviation, and its full-covariance KL uses (1 - m) and + log det.
"""

from __future__ import annotations

import io
import os
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributions as dist
import torch.nn as nn
import torch.nn.functional as func

from prml_pipeline.artifacts import ArtifactError, atomic_path, remedy

__all__ = [
    "VAE",
    "cpu_state",
    "decode_grid",
    "kl_divergence",
    "latent_means",
    "load_model",
    "log_likelihood",
    "mean_negative_elbo",
    "negative_elbo",
    "packed_to_scale_tril",
    "pixel_means",
    "reparameterise",
    "save_weights",
    "serialize",
    "vae_from_state",
]


class VAE(nn.Module):
    """ReLU MLP encoder/decoder; the decoder mirrors the encoder's hidden sizes in reverse.

    ``scale_head`` outputs the log-variance (diagonal) or the d(d+1)/2 entries of the Cholesky
    factor L of the covariance in ``torch.tril_indices`` order, with ``exp`` applied to the
    diagonal ones. The Cholesky parametrisation replaces the sheet's "hacky psd transform"
    (A^T A + 0.1 I): it covers every covariance, needs no margin, and gives log det S for free.
    """

    def __init__(
        self,
        hidden: list[int],
        latent_dim: int = 2,
        input_dim: int = 784,
        full_covariance: bool = False,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden must list at least one layer size")
        self.hidden = list(hidden)
        self.latent_dim = latent_dim
        self.input_dim = input_dim
        self.full_covariance = full_covariance
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise([input_dim, *hidden]))
        self.mean_head = nn.Linear(hidden[-1], latent_dim)
        scale_size = latent_dim * (latent_dim + 1) // 2 if full_covariance else latent_dim
        self.scale_head = nn.Linear(hidden[-1], scale_size)
        self.decoder = nn.ModuleList(
            nn.Linear(a, b) for a, b in pairwise([latent_dim, *reversed(hidden), input_dim])
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters: mean m (B, d) and scale L, the standard deviations (B, d) if
        diagonal, else ``scale_tril`` (B, d, d). ``x`` is (B, ...) pixels, any dtype."""
        h = x.reshape(x.shape[0], -1).to(self.mean_head.weight.dtype)
        for layer in self.encoder:
            h = torch.relu(layer(h))
        raw_scale = self.scale_head(h)
        if self.full_covariance:
            return self.mean_head(h), packed_to_scale_tril(raw_scale, self.latent_dim)
        return self.mean_head(h), torch.exp(0.5 * raw_scale)  # std = exp(log_var / 2)

    def posterior(self, x: torch.Tensor) -> dist.Distribution:
        """q(z | x) with batch shape (B,) and event shape (d,)."""
        mean, scale = self.encode(x)
        if self.full_covariance:
            return dist.MultivariateNormal(mean, scale_tril=scale)
        return dist.Independent(dist.Normal(mean, scale), 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits f(z) (..., input_dim) of p(x | z) for latents z (..., d)."""
        h = z
        for layer in self.decoder[:-1]:
            h = torch.relu(layer(h))
        return self.decoder[-1](h)

    def forward(
        self, x: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits of p(x | z) at z = m + L eps for noise eps (B, d), with m and L."""
        mean, scale = self.encode(x)
        return self.decode(reparameterise(mean, scale, noise)), mean, scale


def packed_to_scale_tril(packed: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """(B, d(d+1)/2) head output -> lower-triangular L (B, d, d) with diagonal exp(packed_ii)."""
    rows, cols = torch.tril_indices(latent_dim, latent_dim, device=packed.device)
    values = torch.where(rows == cols, torch.exp(packed), packed)
    tril = packed.new_zeros(packed.shape[0], latent_dim, latent_dim)
    tril[:, rows, cols] = values
    return tril


def reparameterise(mean: torch.Tensor, scale: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """z = m + L eps: ``scale`` is the std (B, d) or ``scale_tril`` (B, d, d)."""
    if scale.dim() == mean.dim() + 1:
        return mean + (scale @ noise.unsqueeze(-1)).squeeze(-1)
    return mean + scale * noise


def log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) = sum_i [x_i log sigmoid(f_i) + (1 - x_i) log(1 - sigmoid(f_i))], summed
    over pixels: shape ``logits.shape[:-1]``. ``x`` (B, D) broadcasts against logits
    (..., B, D), e.g. K samples of z per image."""
    x = x.reshape(x.shape[0], -1).to(logits.dtype).expand_as(logits)
    return -func.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def pixel_means(logits: torch.Tensor) -> torch.Tensor:
    """E[x | z] = sigmoid(f(z)), pixel probabilities in [0, 1]."""
    return torch.sigmoid(logits)


def kl_divergence(mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """KL(N(m, L L^T) || N(0, I)) per image (B,), in closed form for either posterior.

    KL = 1/2 (tr S + m^T m - d - log det S),  with S = L L^T:  tr S = ||L||_F^2 and
    log det S = 2 sum_i log L_ii. For the diagonal posterior L = diag(sigma) and this is
    -1/2 sum_j (1 + log sigma_j^2 - m_j^2 - sigma_j^2) (Kingma & Welling 2014, App. B).
    """
    diagonal = scale if scale.dim() == mean.dim() else torch.diagonal(scale, dim1=-2, dim2=-1)
    trace = scale.square().flatten(start_dim=1).sum(-1)
    d = mean.shape[-1]
    return 0.5 * (trace + mean.square().sum(-1) - d) - torch.log(diagonal).sum(-1)


def negative_elbo(
    logits: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Single-sample negative ELBO summed over the batch (nats), differentiable:

    -ELBO = sum_b [ -log p(x_b | z_b) + KL(N(m_b, L_b L_b^T) || N(0, I)) ],  z_b = m_b + L_b eps_b,

    with ``logits`` the decoder's output at z (see :meth:`VAE.forward`).
    """
    return kl_divergence(mean, scale).sum() - log_likelihood(logits, x).sum()


# ---------------------------------------------------------------------------------------------
# Trained models: weights on disk, test-set -ELBO, latent means, decoded grids


def serialize(obj: Any) -> bytes:
    """``torch.save`` bytes that depend only on ``obj`` (saving to a path would name the archive
    after the file, so equal contents would give different bytes)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as CPU tensors (copies)."""
    return {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}


def save_weights(model: VAE, path: str | os.PathLike[str]) -> None:
    """Write the model's state dict atomically; identical weights give identical bytes."""
    payload = serialize(cpu_state(model))
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def vae_from_state(
    state: dict[str, torch.Tensor],
    hidden: list[int],
    full_covariance: bool,
    latent_dim: int = 2,
    input_dim: int = 784,
) -> VAE:
    """A VAE (eval mode) holding ``state``'s tensors, built without initialising weights."""
    with torch.device("meta"):  # no initialisation, no draws from the global RNG
        model = VAE(list(hidden), latent_dim, input_dim, full_covariance)
    model.load_state_dict(state, assign=True)
    return model.eval()


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
        return vae_from_state(state, hidden, full_covariance, latent_dim)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ArtifactError(
            f"{path}: weights do not fit a VAE with hidden={hidden}, "
            f"full_covariance={full_covariance} ({err}). Remedy: {remedy(path, 'train_vae')}"
        ) from None


def _image_batches(images: np.ndarray, batch_size: int) -> list[torch.Tensor]:
    data = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1))
    return list(torch.split(data, batch_size))


def mean_negative_elbo(
    model: VAE, images: np.ndarray, batch_size: int, seed: int, device: str = "cpu"
) -> float:
    """Single-sample estimate of the mean negative ELBO in nats per image (deterministic in seed).

    -ELBO(x) = -log p(x | z) + KL(q(z | x) || N(0, I)), z ~ q(z | x), averaged over ``images``;
    the noise of each batch is drawn on the CPU from one generator seeded with ``seed``.
    """
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    model.eval()
    with torch.no_grad():
        for batch in _image_batches(images, batch_size):
            x = batch.to(device)
            noise = torch.randn(len(x), model.latent_dim, generator=generator).to(device)
            logits, mean, scale = model(x, noise)
            total += float(negative_elbo(logits, x, mean, scale).double())
    return total / len(images)


def latent_means(model: VAE, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Posterior means m(x) for each image, (N, latent_dim) float32."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model.encode(x)[0] for x in _image_batches(images, batch_size)]).numpy()


def decode_grid(
    model: VAE, grid_size: int, quantile_low: float, quantile_high: float
) -> np.ndarray:
    """Decoded images E[x | z] (grid_size^2, 28, 28) on a quantile grid of the prior (the sheet's
    plot_model).

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
        images = pixel_means(model.decode(latents))
    return images.reshape(-1, 28, 28).numpy()
