"""Gaussian mixture conditioning (Bishop Ex. 9.10, sheet W2)."""

import numpy as np
import pytest

from prml_pipeline.sheet.mixture import (
    condition_mixture,
    mixture_pdf,
    sample_conditional,
    sample_mixture,
)

# Sheet mixture: equal weights, means (1, 1) and (3, 5), identity covariances.
WEIGHTS = np.array([0.5, 0.5])
MEANS = np.array([[1.0, 1.0], [3.0, 5.0]])
COVS = np.stack([np.eye(2), np.eye(2)])

# A correlated three-component mixture so conditional means actually shift.
W3 = np.array([0.2, 0.5, 0.3])
M3 = np.array([[0.0, 1.0, -1.0], [2.0, -1.0, 0.5], [-1.5, 0.0, 2.0]])
C3 = np.array(
    [
        [[1.0, 0.6, 0.2], [0.6, 2.0, -0.3], [0.2, -0.3, 0.8]],
        [[0.5, -0.2, 0.1], [-0.2, 1.0, 0.4], [0.1, 0.4, 1.5]],
        [[2.0, 0.9, -0.5], [0.9, 1.2, 0.0], [-0.5, 0.0, 0.7]],
    ]
)


def normal_pdf_1d(x, mean, var):
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)


@pytest.mark.parametrize("x1", [1.0, 2.0, 3.0])
def test_sheet_weights_are_density_ratios(x1):
    new_w, cond_means, cond_covs = condition_mixture(WEIGHTS, MEANS, COVS, [x1], [0])
    dens = WEIGHTS * normal_pdf_1d(x1, MEANS[:, 0], 1.0)
    np.testing.assert_allclose(new_w, dens / dens.sum(), atol=1e-12)
    # Identity covariances: x2 is independent of x1 within each component.
    np.testing.assert_allclose(cond_means, [[1.0], [5.0]], atol=1e-12)
    np.testing.assert_allclose(cond_covs, np.ones((2, 1, 1)), atol=1e-12)


def test_sheet_weight_values():
    # Ratio of the two component likelihoods at x1 is exp(+-2) at x1 = 1 and 3.
    w1, _, _ = condition_mixture(WEIGHTS, MEANS, COVS, [1.0], [0])
    w2, _, _ = condition_mixture(WEIGHTS, MEANS, COVS, [2.0], [0])
    w3, _, _ = condition_mixture(WEIGHTS, MEANS, COVS, [3.0], [0])
    sig = 1 / (1 + np.exp(-2.0))
    np.testing.assert_allclose(w1, [sig, 1 - sig], atol=1e-12)
    np.testing.assert_allclose(w2, [0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(w3, [1 - sig, sig], atol=1e-12)
    assert round(w1[0], 2) == 0.88


def conditional_density(weights, means, covs, x1, x2_points):
    """Density of the conditional mixture over x_b at the given 1-D points."""
    new_w, cond_means, cond_covs = condition_mixture(weights, means, covs, [x1], [0])
    return mixture_pdf(x2_points[:, None], new_w, cond_means, cond_covs)


@pytest.mark.parametrize(
    ("weights", "means", "covs"),
    [(WEIGHTS, MEANS, COVS), (W3[:2] / W3[:2].sum(), M3[:2, :2], C3[:2, :2, :2])],
)
@pytest.mark.parametrize("x1", [-0.5, 1.0, 2.0, 3.0])
def test_conditional_is_joint_over_marginal(weights, means, covs, x1):
    grid = np.linspace(-20.0, 25.0, 20001)
    on_line = np.column_stack([np.full_like(grid, x1), grid])
    joint_on_grid = mixture_pdf(on_line, weights, means, covs)
    p_x1 = np.sum((joint_on_grid[1:] + joint_on_grid[:-1]) / 2 * np.diff(grid))
    x2 = np.array([-1.0, 0.5, 1.0, 2.7, 5.0, 7.5])
    joint = mixture_pdf(np.column_stack([np.full_like(x2, x1), x2]), weights, means, covs)
    np.testing.assert_allclose(
        conditional_density(weights, means, covs, x1, x2), joint / p_x1, atol=1e-8
    )


def test_conditioning_on_two_of_three_dims():
    observed_dims, x_a = [2, 0], np.array([0.7, -0.4])  # x_a = (x_2, x_0), x_b = x_1
    new_w, cond_means, cond_covs = condition_mixture(W3, M3, C3, x_a, observed_dims)
    assert new_w.shape == (3,) and cond_means.shape == (3, 1) and cond_covs.shape == (3, 1, 1)
    grid = np.linspace(-15.0, 15.0, 20001)
    pts = np.column_stack([np.full_like(grid, x_a[1]), grid, np.full_like(grid, x_a[0])])
    joint = mixture_pdf(pts, W3, M3, C3)
    p_a = np.sum((joint[1:] + joint[:-1]) / 2 * np.diff(grid))
    np.testing.assert_allclose(
        mixture_pdf(grid[:, None], new_w, cond_means, cond_covs), joint / p_a, atol=1e-8
    )


def test_monte_carlo_conditional_mean():
    samples, _ = sample_mixture(WEIGHTS, MEANS, COVS, 200_000, seed=0)
    near = samples[np.abs(samples[:, 0] - 2.0) < 0.02, 1]
    assert near.size > 1000
    new_w, cond_means, _ = condition_mixture(WEIGHTS, MEANS, COVS, [2.0], [0])
    expected = float(new_w @ cond_means[:, 0])
    assert expected == pytest.approx(3.0)
    stderr = near.std(ddof=1) / np.sqrt(near.size)
    assert abs(near.mean() - expected) < 4 * stderr


def test_sample_mixture_statistics_and_determinism():
    samples, comps = sample_mixture(W3, M3, C3, 200_000, seed=1)
    again, comps_again = sample_mixture(W3, M3, C3, 200_000, seed=1)
    np.testing.assert_array_equal(samples, again)
    np.testing.assert_array_equal(comps, comps_again)
    assert samples.shape == (200_000, 3) and comps.shape == (200_000,)
    np.testing.assert_allclose(np.bincount(comps) / comps.size, W3, atol=0.005)
    for k in range(3):
        chosen = samples[comps == k]
        np.testing.assert_allclose(chosen.mean(axis=0), M3[k], atol=0.03)
        np.testing.assert_allclose(np.cov(chosen.T), C3[k], atol=0.05)


def test_mixture_pdf_integrates_to_one():
    axis = np.linspace(-6.0, 10.0, 641)
    g0, g1 = np.meshgrid(axis, axis, indexing="ij")
    dens = mixture_pdf(np.column_stack([g0.ravel(), g1.ravel()]), WEIGHTS, MEANS, COVS)
    assert dens.sum() * (axis[1] - axis[0]) ** 2 == pytest.approx(1.0, abs=1e-6)


def test_sample_conditional_outputs():
    out = sample_conditional(WEIGHTS, MEANS, COVS, [1.0], [0], 500, seed=42)
    assert set(out) == {"weights", "means", "covariances", "samples"}
    assert out["samples"].shape == (500, 1)
    np.testing.assert_allclose(out["weights"].sum(), 1.0)
    again = sample_conditional(WEIGHTS, MEANS, COVS, [1.0], [0], 500, seed=42)
    np.testing.assert_array_equal(out["samples"], again["samples"])


def test_far_tail_observation_is_stable():
    # Direct density ratios would be 0/0 here; log-space normalisation is not.
    new_w, _, _ = condition_mixture(WEIGHTS, MEANS, COVS, [1000.0], [0])
    assert np.all(np.isfinite(new_w))
    np.testing.assert_allclose(new_w, [0.0, 1.0], atol=1e-12)


def test_zero_weight_component_is_allowed():
    new_w, _, _ = condition_mixture([0.0, 1.0], MEANS, COVS, [1.0], [0])
    np.testing.assert_allclose(new_w, [0.0, 1.0])


@pytest.mark.parametrize(
    ("weights", "means", "covs", "match"),
    [
        (WEIGHTS, MEANS, np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]), "positive definite"),
        (WEIGHTS, MEANS, np.stack([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]]), "symmetric"),
        ([0.5, 0.6], MEANS, COVS, "sum to 1"),
        ([1.5, -0.5], MEANS, COVS, "non-negative"),
        (WEIGHTS, MEANS[:, :1], COVS, "covariances must have shape"),
        ([1.0], MEANS, COVS, "means must have shape"),
    ],
)
def test_invalid_parameters_raise(weights, means, covs, match):
    with pytest.raises(ValueError, match=match):
        condition_mixture(weights, means, covs, [1.0], [0])


@pytest.mark.parametrize(
    ("value", "dims", "match"),
    [
        ([1.0], [2], "observed_dims"),
        ([1.0, 2.0], [0, 1], "nothing left"),
        ([1.0, 2.0], [0], "entries"),
    ],
)
def test_invalid_observation_raises(value, dims, match):
    with pytest.raises(ValueError, match=match):
        condition_mixture(WEIGHTS, MEANS, COVS, value, dims)
