"""Importance-weighted estimate of the test log-likelihood (Burda, Grosse & Salakhutdinov 2016).

For K samples z_k ~ q(z | x),

    log p(x) >= L_K(x) = E[ log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x) ],

with L_1 the ELBO, L_K non-decreasing in K and L_K -> log p(x) as K grows. We report the
single-draw estimate of -L_K in nats per image, averaged over the test set: lower is better and,
up to sampling noise, at most the -ELBO.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.distributions as dist

from prml_pipeline.sheet.vae.loss import log_likelihood
from prml_pipeline.sheet.vae.model import VAE, reparameterise

# Rows of decoder output held at once (K samples x images), about 25 MB of float32 logits.
_ROWS_PER_CHUNK = 8192


def log_weights(model: VAE, x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """log p(x | z_k) + log p(z_k) - log q(z_k | x) for K draws per image: (K, B)."""
    mean, scale = model.encode(x)
    q = model.posterior(x)
    eps = torch.randn((k, *mean.shape), generator=generator).to(mean.device)
    z = reparameterise(mean, scale, eps)
    log_pz = dist.Normal(0.0, 1.0).log_prob(z).sum(-1)
    return log_likelihood(model.decode(z), x) + log_pz - q.log_prob(z)


def per_image_bounds(
    model: VAE, images: np.ndarray, k: int, seed: int, device: str = "cpu"
) -> dict[str, np.ndarray]:
    """Per test image, in nats: ``neg_iwae``, -L_K, and ``neg_elbo``, the -ELBO estimated
    from the same K draws (the mean of -log w_k). Deterministic for a seed on the CPU.

    Their means are the test-set values; their spread over images gives the standard error
    of those means, and two models' values on the same images give paired differences."""
    if k < 1:
        raise ValueError(f"the number of importance samples must be at least 1, got {k}")
    model = model.to(device).eval()
    data = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1))
    generator = torch.Generator().manual_seed(seed)
    batch = max(1, _ROWS_PER_CHUNK // k)
    iwae, elbo = [], []
    with torch.no_grad():
        for start in range(0, len(data), batch):
            weights = log_weights(model, data[start : start + batch].to(device), k,
                                  generator).double()
            iwae.append(-(torch.logsumexp(weights, dim=0) - math.log(k)).cpu().numpy())
            elbo.append(-weights.mean(dim=0).cpu().numpy())
    return {"neg_iwae": np.concatenate(iwae), "neg_elbo": np.concatenate(elbo)}


def negative_iwae_bound(
    model: VAE, images: np.ndarray, k: int, seed: int, device: str = "cpu"
) -> float:
    """-L_K averaged over ``images`` in nats per image (deterministic for a seed on the CPU)."""
    return float(per_image_bounds(model, images, k, seed, device)["neg_iwae"].mean())
