"""The VAE's loss: the negative ELBO and its two parts (Kingma & Welling 2014).

    -ELBO(x) = -E_q[log p(x | z)] + KL(q(z | x) || p(z)),

estimated with one reparameterised sample z = m + L eps, eps ~ N(0, I). Training
(:mod:`.train`) only calls :func:`negative_elbo`. The sheet's erratum of the full-covariance KL
((1 - m) and + log det) is fixed in :func:`kl_divergence`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as func

from prml_pipeline.sheet.vae.model import VAE, image_batches

__all__ = ["kl_divergence", "log_likelihood", "mean_negative_elbo", "negative_elbo"]


def log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) = sum_i [x_i log sigmoid(f_i) + (1 - x_i) log(1 - sigmoid(f_i))], summed
    over pixels: shape ``logits.shape[:-1]``. ``x`` (B, D) broadcasts against logits
    (..., B, D), e.g. K samples of z per image."""
    x = x.reshape(x.shape[0], -1).to(logits.dtype).expand_as(logits)
    return -func.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


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
        for batch in image_batches(images, batch_size):
            x = batch.to(device)
            noise = torch.randn(len(x), model.latent_dim, generator=generator).to(device)
            logits, mean, scale = model(x, noise)
            total += float(negative_elbo(logits, x, mean, scale).double())
    return total / len(images)
