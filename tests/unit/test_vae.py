"""VAE model, the negative ELBO's pieces (Kingma & Welling 2014; sheet W2 errata fixed), weights
on disk and the trained model's outputs."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributions as dist
from torch.func import functional_call

from prml_pipeline.artifacts import save_json
from prml_pipeline.errors import ArtifactError
from prml_pipeline.sheet.vae import loss as vae_loss
from prml_pipeline.sheet.vae import model as vae_model
from prml_pipeline.sheet.vae import weights as vae_weights
from prml_pipeline.sheet.vae.loss import kl_divergence, log_likelihood, negative_elbo
from prml_pipeline.sheet.vae.model import VAE, packed_to_scale_tril, reparameterise

D = 2
# Child processes import this checkout's package, as the tests do.
CHILD_ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}


def random_tril(batch: int, d: int, generator: torch.Generator) -> torch.Tensor:
    packed = torch.randn(batch, d * (d + 1) // 2, generator=generator, dtype=torch.float64)
    return packed_to_scale_tril(packed, d)


def standard_normal(mean: torch.Tensor) -> dist.MultivariateNormal:
    return dist.MultivariateNormal(
        torch.zeros_like(mean), scale_tril=torch.diag_embed(torch.ones_like(mean))
    )


def assert_same_weights(a: VAE, b: VAE) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.mark.parametrize("d", [1, 2, 5])
def test_kl_diagonal_matches_torch_distributions(d):
    g = torch.Generator().manual_seed(d)
    mean = 2 * torch.randn(64, d, generator=g, dtype=torch.float64)
    std = torch.exp(0.75 * torch.randn(64, d, generator=g, dtype=torch.float64))
    reference = dist.kl_divergence(dist.Normal(mean, std), dist.Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(kl_divergence(mean, std), reference, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("d", [1, 2, 4])
def test_kl_full_covariance_matches_torch_distributions(d):
    g = torch.Generator().manual_seed(10 + d)
    mean = 2 * torch.randn(64, d, generator=g, dtype=torch.float64)
    tril = random_tril(64, d, g)
    reference = dist.kl_divergence(
        dist.MultivariateNormal(mean, scale_tril=tril), standard_normal(mean)
    )
    assert kl_divergence(mean, tril).shape == (64,)
    torch.testing.assert_close(kl_divergence(mean, tril), reference, rtol=1e-10, atol=1e-10)


def test_full_covariance_kl_reduces_to_diagonal_for_diagonal_factor():
    g = torch.Generator().manual_seed(3)
    mean = torch.randn(16, D, generator=g, dtype=torch.float64)
    std = torch.exp(torch.randn(16, D, generator=g, dtype=torch.float64))
    torch.testing.assert_close(
        kl_divergence(mean, torch.diag_embed(std)), kl_divergence(mean, std)
    )


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
    assert abs(kl_divergence(mean, tril).sum().item() - reference.item()) < 1e-8


def test_packed_to_scale_tril_layout():
    packed = torch.tensor([[0.0, 3.0, math.log(2.0)]])  # tril_indices order: (0,0) (1,0) (1,1)
    tril = packed_to_scale_tril(packed, 2)
    torch.testing.assert_close(tril, torch.tensor([[[1.0, 0.0], [3.0, 2.0]]]))


def test_log_likelihood_is_bernoulli_log_prob_and_broadcasts_over_samples():
    g = torch.Generator().manual_seed(5)
    logits = 3 * torch.randn(4, 6, 784, generator=g, dtype=torch.float64)  # K=4 samples, B=6
    x = (torch.rand(6, 784, generator=g) > 0.5).to(torch.uint8)
    reference = dist.Bernoulli(logits=logits).log_prob(x.double()).sum(-1)
    assert log_likelihood(logits, x).shape == (4, 6)
    torch.testing.assert_close(log_likelihood(logits, x), reference)


@pytest.mark.parametrize("full", [False, True])
def test_shapes_and_ranges(full):
    torch.manual_seed(0)
    model = VAE([30, 7], latent_dim=D, full_covariance=full)
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(layers) == 2 + 2 + 3 and not any(p.is_meta for p in model.parameters())
    assert [layer.out_features for layer in model.encoder] == [30, 7]
    assert [layer.out_features for layer in model.decoder] == [7, 30, 784]
    assert model.scale_head.out_features == (3 if full else 2)
    x = (torch.rand(5, 784) > 0.5).to(torch.uint8)
    mean, scale = model.encode(x)
    assert mean.shape == (5, D)
    if full:
        assert scale.shape == (5, D, D)
        assert torch.all(torch.triu(scale, diagonal=1) == 0)
        assert torch.all(torch.diagonal(scale, dim1=-2, dim2=-1) > 0)
    else:
        assert scale.shape == (5, D) and torch.all(scale > 0)
    q = model.posterior(x)
    assert q.batch_shape == (5,) and q.event_shape == (D,)
    torch.testing.assert_close(q.mean, mean)
    covariance = scale @ scale.mT if full else torch.diag_embed(scale.square())
    torch.testing.assert_close(q.variance, torch.diagonal(covariance, dim1=-2, dim2=-1))
    logits = model.decode(5 * torch.randn(6, D))
    assert logits.shape == (6, 784)
    probs = vae_model.pixel_means(logits)
    assert torch.all((probs >= 0) & (probs <= 1))
    loss = model_negative_elbo(model, x, torch.randn(5, D))
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
    model = constant_encoder(False, [math.log(4.0), math.log(0.25)])
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
    torch.testing.assert_close(model.posterior(torch.zeros(1, 784)).covariance_matrix[0], expected)


def model_negative_elbo(model: VAE, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    logits, mean, scale = model(x, noise)
    return negative_elbo(logits, x, mean, scale)


def reference_negative_elbo(model: VAE, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """A second formulation through torch.distributions: -log Bernoulli(x | f(z)) + KL(q || p)."""
    q = model.posterior(x)
    if isinstance(q, dist.MultivariateNormal):
        z = reparameterise(q.loc, q.scale_tril, noise)
        prior = standard_normal(q.loc)
    else:
        z = reparameterise(q.base_dist.loc, q.base_dist.scale, noise)
        prior = dist.Independent(dist.Normal(torch.zeros_like(z), torch.ones_like(z)), 1)
    likelihood = dist.Independent(dist.Bernoulli(logits=model.decode(z)), 1)
    return (dist.kl_divergence(q, prior) - likelihood.log_prob(x.to(z.dtype))).sum()


@pytest.mark.parametrize("full", [False, True])
def test_negative_elbo_and_its_gradient_match_torch_distributions(full):
    torch.manual_seed(1)
    model = VAE([16], latent_dim=D, full_covariance=full).double()
    x = (torch.rand(8, 784) > 0.6).double()
    noise = torch.randn(8, D, dtype=torch.float64)
    loss = model_negative_elbo(model, x, noise)
    expected = reference_negative_elbo(model, x, noise)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-8)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    expected_grads = torch.autograd.grad(expected, list(model.parameters()))
    for name, got, want in zip(dict(model.named_parameters()), grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-8, msg=name)


@pytest.mark.parametrize("full", [False, True])
def test_gradient_matches_finite_differences(full):
    """Autograd's gradient of the -ELBO in every parameter against central differences."""
    torch.manual_seed(2)
    model = VAE([4, 3], latent_dim=D, input_dim=8, full_covariance=full).double()
    x = (torch.rand(7, 8) > 0.5).double()
    noise = torch.randn(7, D, dtype=torch.float64)
    names = [name for name, _ in model.named_parameters()]

    def loss(*params: torch.Tensor) -> torch.Tensor:
        named = dict(zip(names, params, strict=True))
        logits, mean, scale = functional_call(model, named, (x, noise))
        return negative_elbo(logits, x, mean, scale)

    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())
    assert torch.autograd.gradcheck(loss, params, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_sum_over_batch_is_sum_of_single_images():
    torch.manual_seed(3)
    model = VAE([6], full_covariance=True)
    x = (torch.rand(4, 784) > 0.5).float()
    noise = torch.randn(4, D)
    whole = model_negative_elbo(model, x, noise)
    parts = sum(model_negative_elbo(model, x[i : i + 1], noise[i : i + 1]) for i in range(4))
    torch.testing.assert_close(whole, parts, rtol=1e-5, atol=1e-3)


# ---------------------------------------------------------------------------------------------
# Weights on disk, test-set -ELBO, latent means and decoded grids

SAVE = """
import sys, torch
from prml_pipeline.sheet.vae.model import VAE
from prml_pipeline.sheet.vae.weights import save_weights
torch.manual_seed(7)
save_weights(VAE([16, 8], full_covariance=True), sys.argv[1])
"""


@pytest.mark.slow  # fresh Python processes: seconds each
def test_save_weights_bytes_are_deterministic_across_processes(tmp_path):
    paths = [tmp_path / "a.pt", tmp_path / "nested" / "b.pt"]
    for path in paths:
        subprocess.run([sys.executable, "-c", SAVE, str(path)], check=True, env=CHILD_ENV)
    torch.manual_seed(7)
    model = VAE([16, 8], full_covariance=True)
    vae_weights.save_weights(model, tmp_path / "c.pt")
    blobs = {p.read_bytes() for p in [*paths, tmp_path / "c.pt"]}
    assert len(blobs) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "c.pt", "nested"]  # no temps
    loaded = vae_weights.load_model(paths[1])
    assert_same_weights(loaded, model)
    assert not loaded.training


def test_weights_get_the_file_mode_of_every_artifact(tmp_path):
    vae_weights.save_weights(VAE([4]), tmp_path / "weights.pt")
    save_json(tmp_path / "metrics.json", {"a": 1})
    modes = {(tmp_path / name).stat().st_mode for name in ("weights.pt", "metrics.json")}
    assert len(modes) == 1 and modes.pop() & 0o777 != 0o600


@pytest.mark.parametrize("cut", [0, 10, 0.5])
def test_load_model_rejects_truncated_file(tmp_path, cut):
    path = tmp_path / "weights.pt"
    vae_weights.save_weights(VAE([8]), path)
    blob = path.read_bytes()
    path.write_bytes(blob[: int(len(blob) * cut) if isinstance(cut, float) else cut])
    with pytest.raises(ArtifactError, match="weights.pt") as err:
        vae_weights.load_model(path)
    assert err.value.rule == "train_vae" and err.value.path == str(path)


def test_load_model_rejects_missing_file_and_a_file_without_or_off_its_spec(tmp_path):
    path = tmp_path / "weights.pt"
    with pytest.raises(ArtifactError, match="weights.pt is missing"):
        vae_weights.load_model(path)
    torch.save(vae_weights.cpu_state(VAE([8])), path)  # a bare state dict, as once saved
    with pytest.raises(ArtifactError, match="holds no model spec"):
        vae_weights.load_model(path)
    torch.save({"spec": {**VAE([8]).spec(), "hidden": [9]},
                "state": vae_weights.cpu_state(VAE([8]))}, path)
    with pytest.raises(ArtifactError, match="do not fit the saved spec"):
        vae_weights.load_model(path)


@pytest.mark.parametrize("hidden, full_covariance", [([8], False), ([16, 4], True)])
def test_a_weights_file_describes_its_model(tmp_path, hidden, full_covariance):
    torch.manual_seed(3)
    model = VAE(hidden, latent_dim=2, full_covariance=full_covariance)
    vae_weights.save_weights(model, tmp_path / "w.pt")
    loaded = vae_weights.load_model(tmp_path / "w.pt")
    assert loaded.spec() == {"hidden": hidden, "latent_dim": 2, "input_dim": 784,
                             "full_covariance": full_covariance}
    assert_same_weights(loaded, model)


def test_loading_leaves_the_global_rng_alone(tmp_path):
    vae_weights.save_weights(VAE([8]), tmp_path / "w.pt")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    vae_weights.load_model(tmp_path / "w.pt")
    assert torch.equal(torch.rand(3), expected)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return (np.random.default_rng(0).random((120, 784)) > 0.7).astype(np.uint8)


def test_mean_negative_elbo_is_deterministic_in_seed(images):
    torch.manual_seed(4)
    model = VAE([12], full_covariance=True)
    a = vae_loss.mean_negative_elbo(model, images, batch_size=50, seed=0)
    b = vae_loss.mean_negative_elbo(model, images, batch_size=50, seed=0)
    c = vae_loss.mean_negative_elbo(model, images, batch_size=50, seed=1)
    assert a == b != c
    generator = torch.Generator().manual_seed(0)
    expected = 0.0
    for start in range(0, 120, 50):
        x = torch.from_numpy(images[start : start + 50]).float()
        noise = torch.randn(len(x), D, generator=generator)
        expected += reference_negative_elbo(model, x, noise).item()
    assert a == pytest.approx(expected / 120, rel=1e-6)


def test_latent_means_and_decode_grid(images):
    torch.manual_seed(5)
    model = VAE([12])
    means = vae_model.latent_means(model, images[:25], batch_size=10)
    assert means.shape == (25, 2) and means.dtype == np.float32
    np.testing.assert_allclose(
        means, model.posterior(torch.from_numpy(images[:25])).mean.detach().numpy(), rtol=1e-6
    )
    grid = vae_model.decode_grid(model, grid_size=3, quantile_low=0.1, quantile_high=0.9)
    assert grid.shape == (9, 28, 28) and grid.min() >= 0 and grid.max() <= 1
    lo, hi = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor([0.1, 0.9])).tolist()
    # The sheet's ordering: row-major, z1 increasing along a row, z2 decreasing down rows.
    for index, z in [(0, [lo, hi]), (2, [hi, hi]), (4, [0.0, 0.0]), (6, [lo, lo]), (8, [hi, lo])]:
        expected = torch.sigmoid(model.decode(torch.tensor([z]))).reshape(28, 28)
        np.testing.assert_allclose(grid[index], expected.detach().numpy(), rtol=1e-5, atol=1e-6)
