"""Bayesian linear regression with prior N(0, I) (Bishop Sec. 3.3, sheet W1)."""

import numpy as np
import pytest

from prml_pipeline.sheet.regression import (
    log_posterior_grid,
    posterior,
    predictive_variance_grid,
    run_experiment,
    sample_dataset,
)

THETA = [-1.0, 1.0]
NOISE_VAR = 0.1


def test_posterior_matches_precision_form():
    x, y = sample_dataset([0.5, -1.0], [2.0, 0.3], THETA, NOISE_VAR, 30, seed=3)
    s = 0.1
    mean, cov = posterior(x, y, s)
    # Bishop eqs. 3.53-3.54 with alpha = 1, beta = 1/s.
    cov_ref = np.linalg.inv(np.eye(2) + x.T @ x / s)
    mean_ref = cov_ref @ x.T @ y / s
    np.testing.assert_allclose(mean, mean_ref, atol=1e-10)
    np.testing.assert_allclose(cov, cov_ref, atol=1e-10)
    np.testing.assert_array_equal(cov, cov.T)


def test_posterior_with_no_information_is_prior():
    mean, cov = posterior(np.zeros((3, 2)), np.zeros(3), 0.5)
    np.testing.assert_allclose(mean, 0.0)
    np.testing.assert_allclose(cov, np.eye(2))


def test_log_posterior_grid_points_and_orientation():
    mean = np.array([0.3, -0.7])
    cov = np.array([[0.5, 0.2], [0.2, 0.4]])
    axis = np.linspace(-2.0, 2.0, 9)
    grid = log_posterior_grid(mean, cov, axis)
    assert grid.shape == (9, 9)
    inv = np.linalg.inv(cov)
    norm = 2 * np.pi * np.sqrt(np.linalg.det(cov))
    for i, j in [(0, 0), (2, 7), (6, 1), (4, 4)]:
        diff = np.array([axis[i], axis[j]]) - mean
        expected = np.log(np.exp(-0.5 * diff @ inv @ diff) / norm)
        assert grid[i, j] == pytest.approx(expected, abs=1e-12)
    # Asymmetric mean: rows must be theta_0, so the maximum row is near mean[0].
    i_max, j_max = np.unravel_index(np.argmax(grid), grid.shape)
    assert axis[i_max] == pytest.approx(0.5) and axis[j_max] == pytest.approx(-0.5)


def test_log_posterior_grid_normalises():
    mean = np.array([0.1, 0.2])
    cov = np.array([[0.3, -0.1], [-0.1, 0.2]])
    axis = np.linspace(-5.0, 5.0, 801)
    cell = (axis[1] - axis[0]) ** 2
    total = np.exp(log_posterior_grid(mean, cov, axis)).sum() * cell
    assert total == pytest.approx(1.0, abs=1e-6)


def test_predictive_variance_at_points():
    cov = np.array([[0.5, 0.2], [0.2, 0.4]])
    axis = np.array([-1.0, 0.0, 2.0])
    grid = predictive_variance_grid(cov, 0.1, axis)
    assert grid[1, 1] == pytest.approx(0.1)
    # x = (x_0, x_1) = (2, -1): 0.1 + 0.5*4 + 2*0.2*(-2) + 0.4*1 = 1.7
    assert grid[2, 0] == pytest.approx(1.7, abs=1e-12)
    # (x_0, x_1) = (-1, 2): 0.1 + 0.5 - 0.8 + 1.6 = 1.4, distinguishing rows from columns.
    assert grid[0, 2] == pytest.approx(1.4, abs=1e-12)


def test_sample_dataset_deterministic_and_distributed():
    a = sample_dataset([1.0, 0.0], [0.1, 1.0], THETA, NOISE_VAR, 20, seed=42)
    b = sample_dataset([1.0, 0.0], [0.1, 1.0], THETA, NOISE_VAR, 20, seed=42)
    c = sample_dataset([1.0, 0.0], [0.1, 1.0], THETA, NOISE_VAR, 20, seed=43)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (20, 2) and a[1].shape == (20,)

    x, y = sample_dataset([1.0, -2.0], [0.1, 4.0], THETA, NOISE_VAR, 100_000, seed=0)
    np.testing.assert_allclose(x.mean(axis=0), [1.0, -2.0], atol=0.02)
    np.testing.assert_allclose(x.var(axis=0), [0.1, 4.0], rtol=0.02)
    np.testing.assert_allclose((y - x @ np.array(THETA)).var(), NOISE_VAR, rtol=0.02)


def test_run_experiment_keys_and_determinism():
    kwargs = dict(
        x_mean=[0.0, 0.0],
        x_var=[1.0, 1.0],
        theta=THETA,
        noise_var=NOISE_VAR,
        target_var=0.1,
        n_samples=20,
        seed=42,
        grid_limit=3.0,
        grid_resolution=50,
    )
    out = run_experiment(**kwargs)
    again = run_experiment(**kwargs)
    assert set(out) == {
        "X",
        "y",
        "post_mean",
        "post_cov",
        "axis",
        "log_posterior",
        "predictive_variance",
    }
    for key in out:
        assert isinstance(out[key], np.ndarray)
        np.testing.assert_array_equal(out[key], again[key])
    assert out["log_posterior"].shape == (50, 50)
    assert out["predictive_variance"].shape == (50, 50)
    np.testing.assert_allclose(out["axis"][[0, -1]], [-3.0, 3.0])
    # 20 points with noise 0.1 pin theta close to the truth (-1, 1).
    np.testing.assert_allclose(out["post_mean"], THETA, atol=0.2)


def _theta0_variance(x_mean, x_var, seed):
    out = run_experiment(x_mean, x_var, THETA, NOISE_VAR, 0.1, 20, seed, 3.0, 5)
    return out["post_cov"][0, 0]


def test_sheet_claim_on_theta0_variance():
    """Sheet W1: var(x_0) = 0.1 inflates posterior var of theta_0; mean 1 shrinks it again."""
    base = _theta0_variance([0.0, 0.0], [1.0, 1.0], 42)
    low_var = _theta0_variance([0.0, 0.0], [0.1, 1.0], 42)
    shifted = _theta0_variance([1.0, 0.0], [0.1, 1.0], 42)
    assert low_var > 5 * base
    assert shifted < base


def test_smaller_target_variance_shrinks_predictive_variance():
    """Sheet W1, last row: lowering sigma_y^2 lowers the predictive variance everywhere."""
    common = dict(
        x_mean=[0.0, 0.0],
        x_var=[1.0, 1.0],
        theta=THETA,
        noise_var=NOISE_VAR,
        n_samples=20,
        seed=42,
        grid_limit=3.0,
        grid_resolution=21,
    )
    high = run_experiment(target_var=0.1, **common)["predictive_variance"]
    low = run_experiment(target_var=0.01, **common)["predictive_variance"]
    assert np.all(low < high)
