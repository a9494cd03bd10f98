"""The VAE of the sheet (Sec. 4): Bernoulli decoder, Gaussian encoder, 2-D latent.

Generative model p(z) = N(0, I), p(x | z) = prod_i Bernoulli(x_i | sigmoid(f(z)_i)); encoder
q(z | x) = N(m(x), L(x) L(x)^T) with L diagonal (the standard deviations, ``exp`` of half a
log-variance head) or lower triangular (the full-covariance model; diagonal made positive by
``exp``). The loss is in :mod:`.loss`; everything the likelihood decides is :meth:`VAE.decode`,
:func:`pixel_means` here and :func:`.loss.log_likelihood`.

The sheet's erratum of the diagonal encoder is fixed here: it passes the variance where
``Normal`` expects the standard deviation.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import torch
import torch.distributions as dist
import torch.nn as nn

__all__ = [
    "VAE",
    "decode_grid",
    "image_batches",
    "latent_means",
    "packed_to_scale_tril",
    "pixel_means",
    "reparameterise",
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

    def spec(self) -> dict[str, Any]:
        """The arguments that rebuild this architecture: ``VAE(**model.spec())``. Saved with
        the weights (:mod:`.weights`), so that a weights file describes its own model."""
        return {"hidden": list(self.hidden), "latent_dim": self.latent_dim,
                "input_dim": self.input_dim, "full_covariance": self.full_covariance}

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


def pixel_means(logits: torch.Tensor) -> torch.Tensor:
    """E[x | z] = sigmoid(f(z)), pixel probabilities in [0, 1]."""
    return torch.sigmoid(logits)


def image_batches(images: np.ndarray, batch_size: int) -> list[torch.Tensor]:
    data = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1))
    return list(torch.split(data, batch_size))


def latent_means(model: VAE, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Posterior means m(x) for each image, (N, latent_dim) float32."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model.encode(x)[0] for x in image_batches(images, batch_size)]).numpy()


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
