"""VAE model and the negative ELBO's pieces (Kingma & Welling 2014; sheet W2 errata fixed)."""

import math

import pytest
import torch
import torch.distributions as dist
import torch.nn.functional as func

from prml_pipeline.vae import (
    VAE,
    kl_diagonal,
    kl_full_covariance,
    negative_elbo,
    packed_to_scale_tril,
    reparameterise,
)

D = 2


def random_tril(batch: int, d: int, generator: torch.Generator) -> torch.Tensor:
    packed = torch.randn(batch, d * (d + 1) // 2, generator=generator, dtype=torch.float64)
    return packed_to_scale_tril(packed, d)


def standard_normal(mean: torch.Tensor) -> dist.MultivariateNormal:
    return dist.MultivariateNormal(
        torch.zeros_like(mean), scale_tril=torch.diag_embed(torch.ones_like(mean))
    )


@pytest.mark.parametrize("d", [1, 2, 5])
def test_kl_diagonal_matches_torch_distributions(d):
    g = torch.Generator().manual_seed(d)
    mean = 2 * torch.randn(64, d, generator=g, dtype=torch.float64)
    log_var = 1.5 * torch.randn(64, d, generator=g, dtype=torch.float64)
    q = dist.Normal(mean, torch.exp(0.5 * log_var))
    reference = dist.kl_divergence(q, dist.Normal(0.0, 1.0)).sum()
    assert abs(kl_diagonal(mean, log_var).item() - reference.item()) < 1e-5


@pytest.mark.parametrize("d", [1, 2, 4])
def test_kl_full_covariance_matches_torch_distributions(d):
    g = torch.Generator().manual_seed(10 + d)
    mean = 2 * torch.randn(64, d, generator=g, dtype=torch.float64)
    tril = random_tril(64, d, g)
    reference = dist.kl_divergence(
        dist.MultivariateNormal(mean, scale_tril=tril), standard_normal(mean)
    ).sum()
    assert abs(kl_full_covariance(mean, tril).item() - reference.item()) < 1e-5


def test_full_covariance_kl_reduces_to_diagonal_for_diagonal_factor():
    g = torch.Generator().manual_seed(3)
    mean = torch.randn(16, D, generator=g, dtype=torch.float64)
    log_var = torch.randn(16, D, generator=g, dtype=torch.float64)
    tril = torch.diag_embed(torch.exp(0.5 * log_var))
    torch.testing.assert_close(kl_full_covariance(mean, tril), kl_diagonal(mean, log_var))


def test_sheet_full_covariance_kl_is_caught():
    """The sheet used (1 - m) for m and + log det S; the reference check rejects that formula."""
    g = torch.Generator().manual_seed(4)
    mean = torch.randn(32, D, generator=g, dtype=torch.float64)
    tril = random_tril(32, D, g)
    cov = tril @ tril.mT
    m_diff = 1 - mean
    sheet = (
        0.5
        * (
            torch.einsum("bd,bd->b", m_diff, m_diff)
            + torch.vmap(torch.trace)(cov)
            + torch.log(torch.det(cov))
            - D
        ).sum()
    )
    reference = dist.kl_divergence(
        dist.MultivariateNormal(mean, scale_tril=tril), standard_normal(mean)
    ).sum()
    assert abs(sheet.item() - reference.item()) > 1.0
    assert abs(kl_full_covariance(mean, tril).item() - reference.item()) < 1e-5


def test_packed_to_scale_tril_layout():
    packed = torch.tensor([[0.0, 3.0, math.log(2.0)]])  # tril_indices order: (0,0) (1,0) (1,1)
    tril = packed_to_scale_tril(packed, 2)
    torch.testing.assert_close(tril, torch.tensor([[[1.0, 0.0], [3.0, 2.0]]]))


@pytest.mark.parametrize("full", [False, True])
def test_shapes_and_ranges(full):
    torch.manual_seed(0)
    model = VAE([30, 7], latent_dim=D, full_covariance=full)
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(layers) == 2 + 2 + 3 and not any(p.is_meta for p in model.parameters())
    assert [layer.out_features for layer in model.encoder] == [30, 7]
    assert [layer.out_features for layer in model.decoder] == [7, 30, 784]
    assert model.scale_head.out_features == (3 if full else 2)
    x = (torch.rand(5, 784) > 0.5).float()
    mean, scale = model.encode(x)
    assert mean.shape == (5, D)
    if full:
        assert scale.shape == (5, D, D)
        assert torch.all(torch.triu(scale, diagonal=1) == 0)
        assert torch.all(torch.diagonal(scale, dim1=-2, dim2=-1) > 0)
    else:
        assert scale.shape == (5, D) and torch.all(scale > 0)
    probs = model.decode(5 * torch.randn(6, D))
    assert probs.shape == (6, 784)
    assert torch.all((probs >= 0) & (probs <= 1))
    loss = negative_elbo(model, x, generator=torch.Generator().manual_seed(0))
    assert loss.shape == () and torch.isfinite(loss) and loss > 0


def constant_encoder(full: bool, scale_bias: list[float]) -> VAE:
    model = VAE([4], latent_dim=D, full_covariance=full)
    with torch.no_grad():
        for head in (model.mean_head, model.scale_head):
            head.weight.zero_()
        model.mean_head.bias.copy_(torch.tensor([1.0, -2.0]))
        model.scale_head.bias.copy_(torch.tensor(scale_bias))
    return model


def test_diagonal_reparameterisation_uses_standard_deviation():
    """Var[z] must be exp(log_var); the sheet's std = exp(log_var) would give exp(2 log_var)."""
    log_var = [math.log(4.0), math.log(0.25)]
    model = constant_encoder(False, log_var)
    n = 200_000
    mean, std = model.encode(torch.zeros(n, 784))
    noise = torch.randn(n, D, generator=torch.Generator().manual_seed(1))
    z = reparameterise(mean, std, noise)
    torch.testing.assert_close(z.var(0), torch.tensor([4.0, 0.25]), rtol=0.02, atol=0)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), rtol=0, atol=0.02)


def test_full_reparameterisation_has_covariance_l_lt():
    model = constant_encoder(True, [math.log(2.0), 0.5, math.log(0.5)])
    n = 200_000
    mean, tril = model.encode(torch.zeros(n, 784))
    z = reparameterise(mean, tril, torch.randn(n, D, generator=torch.Generator().manual_seed(2)))
    expected = tril[0] @ tril[0].T  # [[4, 1], [1, 0.5]]
    torch.testing.assert_close(torch.cov(z.T), expected, rtol=0.03, atol=0.01)


@pytest.mark.parametrize("full", [False, True])
def test_negative_elbo_is_bce_plus_exact_kl(full):
    torch.manual_seed(1)
    model = VAE([16], latent_dim=D, full_covariance=full)
    x = (torch.rand(8, 784) > 0.6).float()
    noise = torch.randn(8, D)
    mean, scale = model.encode(x)
    q = dist.MultivariateNormal(mean, scale_tril=scale if full else torch.diag_embed(scale))
    z = reparameterise(mean, scale, noise)
    expected = (
        func.binary_cross_entropy(model.decode(z), x, reduction="sum")
        + dist.kl_divergence(q, standard_normal(mean)).sum()
    )
    torch.testing.assert_close(negative_elbo(model, x, noise=noise), expected, rtol=1e-5, atol=1e-3)


def test_negative_elbo_noise_from_generator_is_reproducible():
    torch.manual_seed(2)
    model = VAE([8])
    x = (torch.rand(4, 784) > 0.5).float()
    a = negative_elbo(model, x, generator=torch.Generator().manual_seed(5))
    b = negative_elbo(model, x, generator=torch.Generator().manual_seed(5))
    c = negative_elbo(model, x, generator=torch.Generator().manual_seed(6))
    assert a.item() == b.item() != c.item()
