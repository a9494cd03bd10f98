"""Variational autoencoder of the sheet (Sec. 4): Bernoulli decoder, Gaussian encoder, 2-D latent.

Generative model p(z) = N(0, I), p(x | z) = prod_i Bernoulli(x_i | sigmoid(f(z))_i); encoder
q(z | x) = N(m(x), S(x)) with S diagonal (``exp`` of a log-variance head) or full (S = L L^T with
L lower triangular, its diagonal made positive by ``exp``). Training minimises the negative ELBO

    -ELBO(x) = -E_q[log p(x | z)] + KL(q(z | x) || p(z)),

estimated with one reparameterised sample z = m + L eps, eps ~ N(0, I) (Kingma & Welling 2014).

Two of the sheet's errata are fixed here: its diagonal encoder passes the variance where
``Normal`` expects the standard deviation, and its full-covariance KL uses (1 - m) and + log det.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn as nn
import torch.nn.functional as func

__all__ = [
    "VAE",
    "kl_diagonal",
    "kl_full_covariance",
    "negative_elbo",
    "packed_to_scale_tril",
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
        self.scale_head = nn.Linear(hidden[-1], self.scale_size)
        self.decoder = nn.ModuleList(
            nn.Linear(a, b) for a, b in pairwise([latent_dim, *reversed(hidden), input_dim])
        )

    @property
    def scale_size(self) -> int:
        """Outputs of ``scale_head``: d (log-variances) or d(d+1)/2 (packed Cholesky factor)."""
        d = self.latent_dim
        return d * (d + 1) // 2 if self.full_covariance else d

    def encode_raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, d) and the raw scale head output (log-variance or packed Cholesky factor)."""
        h = x.reshape(x.shape[0], -1).to(self.mean_head.weight.dtype)
        for layer in self.encoder:
            h = torch.relu(layer(h))
        return self.mean_head(h), self.scale_head(h)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, d) and scale: std (B, d) if diagonal, else ``scale_tril`` L (B, d, d)."""
        mean, raw = self.encode_raw(x)
        if self.full_covariance:
            return mean, packed_to_scale_tril(raw, self.latent_dim)
        return mean, torch.exp(0.5 * raw)  # std = exp(log_var / 2)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits f(z) (B, input_dim)."""
        h = z
        for layer in self.decoder[:-1]:
            h = torch.relu(layer(h))
        return self.decoder[-1](h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities sigmoid(f(z)) in [0, 1], (B, input_dim)."""
        return torch.sigmoid(self.decode_logits(z))


def packed_to_scale_tril(packed: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """(B, d(d+1)/2) head output -> lower-triangular L (B, d, d) with diagonal exp(packed_ii)."""
    rows, cols = torch.tril_indices(latent_dim, latent_dim, device=packed.device)
    values = torch.where(rows == cols, torch.exp(packed), packed)
    tril = packed.new_zeros(packed.shape[0], latent_dim, latent_dim)
    tril[:, rows, cols] = values
    return tril


def kl_diagonal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(m, diag(exp(log_var))) || N(0, I)) summed over batch and dimensions.

    KL = -1/2 sum_j (1 + log sigma_j^2 - m_j^2 - sigma_j^2)   (Kingma & Welling 2014, App. B).
    """
    return -0.5 * torch.sum(1 + log_var - mean.square() - log_var.exp())


def kl_full_covariance(mean: torch.Tensor, scale_tril: torch.Tensor) -> torch.Tensor:
    """KL(N(m, S) || N(0, I)) with S = L L^T, summed over the batch.

    KL = 1/2 (tr S + m^T m - d - log det S),  tr S = ||L||_F^2,  log det S = 2 sum_i log L_ii.
    """
    d = mean.shape[-1]
    trace = scale_tril.square().sum(dim=(-2, -1))
    log_det = 2 * torch.log(torch.diagonal(scale_tril, dim1=-2, dim2=-1)).sum(-1)
    return 0.5 * torch.sum(trace + mean.square().sum(-1) - d - log_det)


def reparameterise(mean: torch.Tensor, scale: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """z = m + L eps: ``scale`` is the std (B, d) or ``scale_tril`` (B, d, d)."""
    if scale.dim() == 3:
        return mean + torch.einsum("bij,bj->bi", scale, noise)
    return mean + scale * noise


def negative_elbo(
    model: VAE,
    x: torch.Tensor,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Single-sample negative ELBO summed over the batch (nats), differentiable.

    -ELBO = sum_i BCE(x_i, sigmoid(f(z)_i)) + KL(q(z | x) || N(0, I)),  z = m + L eps.
    ``noise`` is eps (B, d); without it eps is drawn from ``generator``.
    """
    x = x.reshape(x.shape[0], -1).to(model.mean_head.weight.dtype)
    mean, raw = model.encode_raw(x)
    if noise is None:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    if model.full_covariance:
        scale = packed_to_scale_tril(raw, model.latent_dim)
        kl = kl_full_covariance(mean, scale)
    else:
        scale = torch.exp(0.5 * raw)  # std, not the variance the sheet passed
        kl = kl_diagonal(mean, raw)
    logits = model.decode_logits(reparameterise(mean, scale, noise))
    return func.binary_cross_entropy_with_logits(logits, x, reduction="sum") + kl
