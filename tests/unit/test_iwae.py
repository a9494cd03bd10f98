"""The importance-weighted bound against an exactly integrated marginal likelihood."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as func

from prml_pipeline.sheet.vae.iwae import negative_iwae_bound
from prml_pipeline.sheet.vae.model import VAE


def tiny_model(latent_dim: int, full_covariance: bool = False, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    model = VAE([5], latent_dim=latent_dim, input_dim=6, full_covariance=full_covariance)
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.mul_(3.0)  # a sharp likelihood: the ELBO is loose, the bound has room
    return model.eval()


def exact_negative_log_likelihood(model: VAE, images: np.ndarray) -> float:
    """-log p(x) = -log integral p(x | z) N(z; 0, I) dz on a fine grid (1-D or 2-D latent)."""
    d = model.latent_dim
    axis = torch.linspace(-8.0, 8.0, 801 if d == 1 else 401, dtype=torch.float64)
    step = float(axis[1] - axis[0])
    z = axis[:, None] if d == 1 else torch.cartesian_prod(axis, axis)
    model = model.double()
    with torch.no_grad():
        logits = model.decode(z)
        x = torch.from_numpy(images.reshape(len(images), -1)).double()
        log_px_z = -func.binary_cross_entropy_with_logits(
            logits[None].expand(len(x), -1, -1), x[:, None].expand(-1, len(z), -1),
            reduction="none").sum(-1)
        log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        log_px = torch.logsumexp(log_px_z + log_pz, dim=1) + d * math.log(step)
    model.float()
    return float(-log_px.mean())


@pytest.fixture
def images() -> np.ndarray:
    return (np.random.default_rng(0).random((20, 6)) > 0.5).astype(np.uint8)


@pytest.mark.parametrize("latent_dim, full_covariance", [(1, False), (2, False), (2, True)])
def test_many_samples_reach_the_exact_likelihood(images, latent_dim, full_covariance):
    model = tiny_model(latent_dim, full_covariance)
    exact = exact_negative_log_likelihood(model, images)
    estimate = negative_iwae_bound(model, images, k=20000, seed=1)
    assert estimate == pytest.approx(exact, abs=0.02)


def test_bound_tightens_with_more_samples(images):
    model = tiny_model(2)
    exact = exact_negative_log_likelihood(model, images)
    k1, k10, k1000 = (np.mean([negative_iwae_bound(model, images, k=k, seed=s) for s in range(8)])
                      for k in (1, 10, 1000))
    assert k1 > k10 > k1000 >= exact - 0.01
    assert k1 - exact > 0.1  # the ELBO (K = 1) is visibly loose for this model


def test_estimate_is_reproducible_for_a_seed(images):
    model = tiny_model(2, full_covariance=True)
    assert negative_iwae_bound(model, images, 7, seed=3) == negative_iwae_bound(
        model, images, 7, seed=3)
    assert negative_iwae_bound(model, images, 7, seed=3) != negative_iwae_bound(
        model, images, 7, seed=4)


def test_rejects_zero_samples(images):
    with pytest.raises(ValueError, match="at least 1"):
        negative_iwae_bound(tiny_model(1), images, k=0, seed=0)
