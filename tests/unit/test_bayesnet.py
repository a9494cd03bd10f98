"""Fuel-gauge network (Bishop Ex. 8.11): sheet values and brute-force enumeration."""

import itertools

import numpy as np
import pytest

from prml_pipeline.sheet.bayesnet import fuel_gauge_joint, fuel_gauge_queries

# Sheet tables: index 0 = flat battery / empty tank / gauge empty / reports empty.
P_B = [0.1, 0.9]
P_F = [0.1, 0.9]
P_G_GIVEN_BF = [[[0.9, 0.1], [0.8, 0.2]], [[0.8, 0.2], [0.2, 0.8]]]
P_D_GIVEN_G = [[0.9, 0.1], [0.1, 0.9]]
TABLES = (P_B, P_F, P_G_GIVEN_BF, P_D_GIVEN_G)


# Asymmetric tables: the sheet's p_b == p_f makes p(B=0, D=0) == p(F=0, D=0), which
# would hide a swapped axis.
ASYMMETRIC = (
    [0.3, 0.7],
    [0.15, 0.85],
    [[[0.95, 0.05], [0.6, 0.4]], [[0.7, 0.3], [0.1, 0.9]]],
    [[0.8, 0.2], [0.25, 0.75]],
)


def brute_force_probability(event, tables=TABLES) -> float:
    """Sum p(b) p(f) p(g|b,f) p(d|g) over the 16 states satisfying ``event``."""
    p_b, p_f, p_g, p_d = tables
    total = 0.0
    for b, f, g, d in itertools.product((0, 1), repeat=4):
        if event(b, f, g, d):
            total += p_b[b] * p_f[f] * p_g[b][f][g] * p_d[g][d]
    return total


def test_sheet_values():
    q = fuel_gauge_queries(*TABLES)
    assert q["p_f0_given_d0"] == pytest.approx(0.2125, abs=1e-4)
    assert q["p_f0_given_d0_b0"] == pytest.approx(0.1096, abs=1e-4)
    # Explaining away: learning the battery is flat lowers belief in an empty tank.
    assert q["p_f0_given_d0_b0"] < q["p_f0_given_d0"]


@pytest.mark.parametrize("tables", [TABLES, ASYMMETRIC], ids=["sheet", "asymmetric"])
def test_queries_match_enumeration(tables):
    q = fuel_gauge_queries(*tables)
    p_d0 = brute_force_probability(lambda b, f, g, d: d == 0, tables)
    p_f0_d0 = brute_force_probability(lambda b, f, g, d: f == 0 and d == 0, tables)
    p_b0_d0 = brute_force_probability(lambda b, f, g, d: b == 0 and d == 0, tables)
    p_f0_b0_d0 = brute_force_probability(lambda b, f, g, d: b == 0 and f == 0 and d == 0, tables)
    expected = {
        "p_f0": brute_force_probability(lambda b, f, g, d: f == 0, tables),
        "p_d0": p_d0,
        "p_f0_d0": p_f0_d0,
        "p_b0_d0": p_b0_d0,
        "p_f0_b0_d0": p_f0_b0_d0,
        "p_f0_given_d0": p_f0_d0 / p_d0,
        "p_f0_given_d0_b0": p_f0_b0_d0 / p_b0_d0,
    }
    assert set(q) == set(expected)
    for key, value in expected.items():
        assert q[key] == pytest.approx(value, abs=1e-12), key
        assert type(q[key]) is float


@pytest.mark.parametrize("tables", [TABLES, ASYMMETRIC], ids=["sheet", "asymmetric"])
def test_joint_matches_enumeration(tables):
    joint = fuel_gauge_joint(*tables)
    assert joint.shape == (2, 2, 2, 2)
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    for b, f, g, d in itertools.product((0, 1), repeat=4):
        expected = brute_force_probability(lambda *s, state=(b, f, g, d): s == state, tables)
        assert joint[b, f, g, d] == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("position", "bad", "name"),
    [
        (0, [0.2, 0.9], "p_b"),
        (1, [0.1, 0.9, 0.0], "p_f"),
        (2, np.full((2, 2, 2), 0.4), "p_g_given_bf"),
        (3, [[0.9, 0.1], [0.5, 0.6]], "p_d_given_g"),
    ],
)
def test_invalid_tables_name_the_table(position, bad, name):
    tables = list(TABLES)
    tables[position] = bad
    with pytest.raises(ValueError, match=name):
        fuel_gauge_joint(*tables)


def test_negative_probability_rejected():
    with pytest.raises(ValueError, match="p_b"):
        fuel_gauge_queries([-0.1, 1.1], P_F, P_G_GIVEN_BF, P_D_GIVEN_G)
