"""Gaussian mixtures and their conditionals (Bishop, PRML, Sec. 2.3.1, 2.3.9, Ex. 9.10).

For ``p(x) = sum_k pi_k N(x; mu_k, Sigma_k)`` and a split ``x = (x_a, x_b)``, the
conditional ``p(x_b | x_a)`` is again a mixture (Exercise 9.10) with

    pi_k' ∝ pi_k N(x_a; mu_ka, Sigma_kaa),
    mu_k' = mu_kb + Sigma_kba Sigma_kaa^{-1} (x_a - mu_ka)          (Bishop eq. 2.81),
    Sigma_k' = Sigma_kbb - Sigma_kba Sigma_kaa^{-1} Sigma_kab         (Bishop eq. 2.82).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

_LOG_2PI = float(np.log(2.0 * np.pi))
_WEIGHT_TOL = 1e-6


def _validate(
    weights: ArrayLike, means: ArrayLike, covariances: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check mixture parameters; return them as float arrays plus Cholesky factors."""
    w = np.asarray(weights, dtype=float)
    mu = np.asarray(means, dtype=float)
    cov = np.asarray(covariances, dtype=float)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"weights must be a non-empty 1-D array, got shape {w.shape}")
    k = w.size
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    if abs(w.sum() - 1.0) > _WEIGHT_TOL:
        raise ValueError(f"weights must sum to 1 (tol {_WEIGHT_TOL}), got {w.sum()}")
    if mu.ndim != 2 or mu.shape[0] != k:
        raise ValueError(f"means must have shape ({k}, d), got {mu.shape}")
    d = mu.shape[1]
    if cov.shape != (k, d, d):
        raise ValueError(f"covariances must have shape ({k}, {d}, {d}), got {cov.shape}")
    if not np.allclose(cov, cov.transpose(0, 2, 1), rtol=1e-10, atol=1e-12):
        raise ValueError("covariances must be symmetric")
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as err:
        raise ValueError("covariances must be positive definite") from err
    return w, mu, cov, chol


def _log_normal(x: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """``log N(x_n; mean_k, L_k L_k^T)`` for x (n, d), mean (K, d), chol (K, d, d) -> (n, K)."""
    diff = x[None, :, :] - mean[:, None, :]  # (K, n, d)
    whitened = np.linalg.solve(chol, diff.transpose(0, 2, 1))  # (K, d, n)
    maha = np.sum(whitened**2, axis=1).T  # (n, K)
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    return -0.5 * (mean.shape[1] * _LOG_2PI + log_det[None, :] + maha)


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    """Stable ``log(sum(exp(a)))``; entries of -inf (zero weights) contribute nothing."""
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.log(np.sum(np.exp(a - top), axis=axis)) + np.squeeze(top, axis=axis)


def _log_weights(w: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):  # log(0) = -inf is intended for empty components
        return np.log(w)


def sample_mixture(
    weights: ArrayLike,
    means: ArrayLike,
    covariances: ArrayLike,
    n_samples: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Ancestral sampling: draw component ``k ~ Cat(weights)``, then ``x ~ N(mu_k, Sigma_k)``.

    Returns:
        ``samples`` (n_samples, d) and the drawn ``components`` (n_samples,) as ints.
    """
    w, mu, _, chol = _validate(weights, means, covariances)
    if n_samples < 0:
        raise ValueError(f"n_samples must be non-negative, got {n_samples}")
    rng = np.random.default_rng(seed)
    components = rng.choice(w.size, size=n_samples, p=w)
    z = rng.standard_normal((n_samples, mu.shape[1]))
    samples = mu[components] + np.einsum("nij,nj->ni", chol[components], z)
    return samples, components


def mixture_pdf(
    x: ArrayLike, weights: ArrayLike, means: ArrayLike, covariances: ArrayLike
) -> np.ndarray:
    """Mixture density ``sum_k pi_k N(x_n; mu_k, Sigma_k)`` at points ``x`` of shape (n, d)."""
    w, mu, _, chol = _validate(weights, means, covariances)
    pts = np.asarray(x, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != mu.shape[1]:
        raise ValueError(f"x must have shape (n, {mu.shape[1]}), got {pts.shape}")
    log_joint = _log_weights(w)[None, :] + _log_normal(pts, mu, chol)
    return np.exp(_logsumexp(log_joint, axis=1))


def condition_mixture(
    weights: ArrayLike,
    means: ArrayLike,
    covariances: ArrayLike,
    observed_value: ArrayLike,
    observed_dims: Sequence[int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Condition a Gaussian mixture on ``x_a = observed_value`` (Bishop Ex. 9.10).

    ``observed_dims`` lists the indices forming ``x_a``; the remaining indices, in
    increasing order, form ``x_b``. New weights are normalised in log space so that a
    value far in the tails does not underflow to 0/0.

    Returns:
        ``new_weights`` (K,), ``cond_means`` (K, d_b), ``cond_covs`` (K, d_b, d_b).
    """
    w, mu, cov, _ = _validate(weights, means, covariances)
    d = mu.shape[1]
    idx_a = [int(i) for i in observed_dims]
    if not idx_a or len(set(idx_a)) != len(idx_a) or any(not 0 <= i < d for i in idx_a):
        raise ValueError(f"observed_dims must be distinct indices in [0, {d}), got {observed_dims}")
    idx_b = [i for i in range(d) if i not in idx_a]
    if not idx_b:
        raise ValueError("observed_dims covers every dimension; nothing left to condition")
    x_a = np.asarray(observed_value, dtype=float).reshape(-1)
    if x_a.shape != (len(idx_a),):
        raise ValueError(f"observed_value must have {len(idx_a)} entries, got shape {x_a.shape}")

    s_aa = cov[:, idx_a][:, :, idx_a]
    s_ba = cov[:, idx_b][:, :, idx_a]
    s_bb = cov[:, idx_b][:, :, idx_b]
    m_a, m_b = mu[:, idx_a], mu[:, idx_b]

    # Responsibility of each component for the observation (marginal p(x_a | k)).
    log_w = _log_weights(w) + _log_normal(x_a[None, :], m_a, np.linalg.cholesky(s_aa))[0]
    new_weights = np.exp(log_w - _logsumexp(log_w, axis=0))

    # Gain K_k = Sigma_ba Sigma_aa^{-1}, obtained by solving Sigma_aa K^T = Sigma_ab.
    gain = np.linalg.solve(s_aa, s_ba.transpose(0, 2, 1)).transpose(0, 2, 1)
    cond_means = m_b + np.einsum("kba,ka->kb", gain, x_a[None, :] - m_a)
    cond_covs = s_bb - gain @ s_ba.transpose(0, 2, 1)
    return new_weights, cond_means, 0.5 * (cond_covs + cond_covs.transpose(0, 2, 1))


def sample_conditional(
    weights: ArrayLike,
    means: ArrayLike,
    covariances: ArrayLike,
    observed_value: ArrayLike,
    observed_dims: Sequence[int],
    n_samples: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Condition on ``x_a = observed_value`` and draw from ``p(x_b | x_a)``.

    Returns:
        Keys ``weights`` (K,), ``means`` (K, d_b), ``covariances`` (K, d_b, d_b) of the
        conditional mixture and ``samples`` (n_samples, d_b).
    """
    new_w, cond_mu, cond_cov = condition_mixture(
        weights, means, covariances, observed_value, observed_dims
    )
    samples, _ = sample_mixture(new_w, cond_mu, cond_cov, n_samples, seed)
    return {"weights": new_w, "means": cond_mu, "covariances": cond_cov, "samples": samples}
