"""Bayesian linear regression with a standard normal prior (Bishop, PRML, Sec. 3.3).

Model: ``theta ~ N(0, I)``, ``y_n = x_n^T theta + eps_n`` with ``eps_n ~ N(0, s)``. The
posterior is Gaussian, ``N(theta; m_N, S_N)`` (Bishop eqs. 3.53-3.54 with alpha = 1,
beta = 1/s). Following the exercise sheet it is computed in the "data-space" form

    m_N = X^T (s I + X X^T)^{-1} y,      S_N = I - X^T (s I + X X^T)^{-1} X,

which the Woodbury identity turns into Bishop's ``S_N = (I + X^T X / s)^{-1}``,
``m_N = S_N X^T y / s``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

_LOG_2PI = float(np.log(2.0 * np.pi))


def sample_dataset(
    x_mean: ArrayLike,
    x_var: ArrayLike,
    theta: ArrayLike,
    noise_var: float,
    n_samples: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``X ~ N(x_mean, diag(x_var))`` row-wise and ``y = X theta + N(0, noise_var)``.

    Inputs are drawn first, then the target noise, both from
    ``np.random.default_rng(seed)``, so a seed fixes the whole data set.

    Returns:
        ``X`` of shape (n_samples, 2) and ``y`` of shape (n_samples,).
    """
    mean = np.asarray(x_mean, dtype=float)
    var = np.asarray(x_var, dtype=float)
    th = np.asarray(theta, dtype=float).reshape(-1)
    if mean.shape != (2,) or var.shape != (2,) or th.shape != (2,):
        raise ValueError(
            f"x_mean, x_var and theta must have 2 entries, got shapes "
            f"{mean.shape}, {var.shape}, {th.shape}"
        )
    if np.any(var < 0) or noise_var < 0:
        raise ValueError("x_var and noise_var must be non-negative")
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    rng = np.random.default_rng(seed)
    x = mean + np.sqrt(var) * rng.standard_normal((n_samples, 2))
    y = x @ th + np.sqrt(noise_var) * rng.standard_normal(n_samples)
    return x, y


def posterior(X: np.ndarray, y: np.ndarray, target_var: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and covariance of ``theta`` under the prior ``N(0, I)``.

    Uses the sheet's form ``m = X^T (s I + X X^T)^{-1} y`` and
    ``S = I - X^T (s I + X X^T)^{-1} X`` with ``s = target_var`` (equivalent to
    Bishop eqs. 3.53-3.54 by the Woodbury identity).

    Returns:
        ``(mean, cov)`` of shapes (d,) and (d, d).
    """
    x = np.asarray(X, dtype=float)
    t = np.asarray(y, dtype=float).reshape(-1)
    if x.ndim != 2 or t.shape != (x.shape[0],):
        raise ValueError(f"need X (n, d) and y (n,), got {x.shape} and {t.shape}")
    if target_var <= 0:
        raise ValueError(f"target_var must be positive, got {target_var}")
    n, d = x.shape
    gram = target_var * np.eye(n) + x @ x.T
    # One solve for [y | X] instead of an explicit inverse.
    solved = np.linalg.solve(gram, np.column_stack([t, x]))
    mean = x.T @ solved[:, 0]
    cov = np.eye(d) - x.T @ solved[:, 1:]
    # Remove round-off asymmetry so downstream Cholesky factorisations succeed.
    return mean, 0.5 * (cov + cov.T)


def log_posterior_grid(mean: np.ndarray, cov: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Log density ``log N([theta_0, theta_1]; mean, cov)`` on a square grid.

    Orientation: entry ``[i, j]`` is the density at ``theta_0 = axis[i]`` (rows) and
    ``theta_1 = axis[j]`` (columns), as in the sheet's plot (``theta_0`` on the vertical
    axis, so an image must be drawn with ``origin="lower"`` to put ``axis[0]`` at the bottom).

    Returns:
        Array of shape (len(axis), len(axis)).
    """
    m = np.asarray(mean, dtype=float).reshape(2)
    chol = np.linalg.cholesky(np.asarray(cov, dtype=float))
    a = np.asarray(axis, dtype=float)
    t0, t1 = np.meshgrid(a, a, indexing="ij")
    diff = np.stack([t0 - m[0], t1 - m[1]], axis=-1)  # (r, r, 2)
    # Mahalanobis term via L^{-1} (theta - m); cov = L L^T.
    whitened = np.linalg.solve(chol, diff.reshape(-1, 2).T)
    maha = np.sum(whitened**2, axis=0).reshape(t0.shape)
    log_det = 2.0 * np.sum(np.log(np.diag(chol)))
    return -0.5 * (2 * _LOG_2PI + log_det + maha)


def predictive_variance_grid(cov: np.ndarray, target_var: float, axis: np.ndarray) -> np.ndarray:
    """Posterior-predictive variance ``var(y | x) = s + x^T S_N x`` (Bishop eq. 3.59).

    Orientation: entry ``[i, j]`` is at ``x_0 = axis[i]`` (rows), ``x_1 = axis[j]`` (columns).

    Returns:
        Array of shape (len(axis), len(axis)).
    """
    s = np.asarray(cov, dtype=float).reshape(2, 2)
    a = np.asarray(axis, dtype=float)
    x0, x1 = np.meshgrid(a, a, indexing="ij")
    quad = s[0, 0] * x0**2 + (s[0, 1] + s[1, 0]) * x0 * x1 + s[1, 1] * x1**2
    return target_var + quad


def run_experiment(
    x_mean: ArrayLike,
    x_var: ArrayLike,
    theta: ArrayLike,
    noise_var: float,
    target_var: float,
    n_samples: int,
    seed: int,
    grid_limit: float,
    grid_resolution: int,
) -> dict[str, np.ndarray]:
    """Sample a data set, fit the posterior and evaluate both plot grids.

    ``noise_var`` generates the data; ``target_var`` is the noise variance the model
    assumes (the sheet keeps the first at 0.1 and varies the second). The grid axis is
    ``linspace(-grid_limit, grid_limit, grid_resolution)`` for both coordinates.

    Returns:
        Keys ``X``, ``y``, ``post_mean``, ``post_cov``, ``axis``, ``log_posterior``
        and ``predictive_variance``, all numpy arrays.
    """
    x, y = sample_dataset(x_mean, x_var, theta, noise_var, n_samples, seed)
    mean, cov = posterior(x, y, target_var)
    axis = np.linspace(-grid_limit, grid_limit, grid_resolution)
    return {
        "X": x,
        "y": y,
        "post_mean": mean,
        "post_cov": cov,
        "axis": axis,
        "log_posterior": log_posterior_grid(mean, cov, axis),
        "predictive_variance": predictive_variance_grid(cov, target_var, axis),
    }
