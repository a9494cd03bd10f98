"""Fuel-gauge Bayesian network (Bishop, PRML, Sec. 8.2.1 and Exercise 8.11).

Variables are binary: battery ``B``, fuel tank ``F``, gauge reading ``G`` and the
driver's report ``D`` of the gauge. The network factorises as (Bishop eq. 8.5)

    p(B, F, G, D) = p(B) p(F) p(G | B, F) p(D | G),

and every query below is a ratio of sums over this joint table.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# Tolerance for "sums to one" checks on user-supplied probability tables.
_SUM_TOL = 1e-9


def _as_distribution(table: ArrayLike, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Validate a (conditional) probability table whose last axis is the distribution."""
    arr = np.asarray(table, dtype=float)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name}: probabilities must be finite and non-negative")
    sums = arr.sum(axis=-1)
    if not np.allclose(sums, 1.0, atol=_SUM_TOL, rtol=0.0):
        raise ValueError(
            f"{name}: each distribution over the last axis must sum to 1, got sums {sums.tolist()}"
        )
    return arr


def fuel_gauge_joint(
    p_b: ArrayLike,
    p_f: ArrayLike,
    p_g_given_bf: ArrayLike,
    p_d_given_g: ArrayLike,
) -> np.ndarray:
    """Joint table ``P[b, f, g, d] = p(b) p(f) p(g | b, f) p(d | g)`` (Bishop eq. 8.5).

    Args:
        p_b: ``p_b[b]`` = p(B=b), shape (2,).
        p_f: ``p_f[f]`` = p(F=f), shape (2,).
        p_g_given_bf: ``p_g_given_bf[b][f][g]`` = p(G=g | B=b, F=f), shape (2, 2, 2).
        p_d_given_g: ``p_d_given_g[g][d]`` = p(D=d | G=g), shape (2, 2).

    Returns:
        Array of shape (2, 2, 2, 2) indexed ``[b, f, g, d]``; it sums to 1.

    Raises:
        ValueError: if a table has the wrong shape, negative entries, or a
            (conditional) distribution that does not sum to 1; the message names the table.
    """
    pb = _as_distribution(p_b, (2,), "p_b")
    pf = _as_distribution(p_f, (2,), "p_f")
    pg = _as_distribution(p_g_given_bf, (2, 2, 2), "p_g_given_bf")
    pd = _as_distribution(p_d_given_g, (2, 2), "p_d_given_g")
    return (
        pb[:, None, None, None] * pf[None, :, None, None] * pg[:, :, :, None] * pd[None, None, :, :]
    )


def fuel_gauge_queries(
    p_b: ArrayLike,
    p_f: ArrayLike,
    p_g_given_bf: ArrayLike,
    p_d_given_g: ArrayLike,
) -> dict[str, float]:
    """Posterior queries of Exercise 8.11 with the marginals they are built from.

    State 0 means "flat battery" (B), "empty tank" (F), "gauge reads empty" (G) and
    "driver reports empty" (D). Returned keys (all plain floats):

    - ``p_f0``: prior p(F=0).
    - ``p_d0``: evidence p(D=0) = sum_{b,f,g} p(b, f, g, D=0).
    - ``p_f0_d0``: p(F=0, D=0) = sum_{b,g} p(b, F=0, g, D=0).
    - ``p_b0_d0``: p(B=0, D=0) = sum_{f,g} p(B=0, f, g, D=0).
    - ``p_f0_b0_d0``: p(F=0, B=0, D=0) = sum_g p(B=0, F=0, g, D=0).
    - ``p_f0_given_d0``: p(F=0 | D=0) = p_f0_d0 / p_d0.
    - ``p_f0_given_d0_b0``: p(F=0 | D=0, B=0) = p_f0_b0_d0 / p_b0_d0.

    The second posterior is smaller than the first: a flat battery also explains the
    empty reading ("explaining away", Bishop Sec. 8.2.1).
    """
    joint = fuel_gauge_joint(p_b, p_f, p_g_given_bf, p_d_given_g)
    d0 = joint[..., 0]  # [b, f, g] with D=0 fixed
    p_d0 = d0.sum()
    p_f0_d0 = d0[:, 0, :].sum()
    p_b0_d0 = d0[0].sum()
    p_f0_b0_d0 = d0[0, 0, :].sum()
    return {
        "p_f0": float(joint[:, 0].sum()),
        "p_d0": float(p_d0),
        "p_f0_d0": float(p_f0_d0),
        "p_b0_d0": float(p_b0_d0),
        "p_f0_b0_d0": float(p_f0_b0_d0),
        "p_f0_given_d0": float(p_f0_d0 / p_d0),
        "p_f0_given_d0_b0": float(p_f0_b0_d0 / p_b0_d0),
    }
