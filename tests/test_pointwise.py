"""Per-point comparison of sources and maps (layermaps.measures.pointwise) against known answers.
Floating-point values are compared with tolerances, never exactly."""

import numpy as np
import pytest
from scipy.spatial import procrustes as scipy_procrustes

from layermaps.measures import map_quality as q
from layermaps.measures.map_quality import overlap
from layermaps.measures.pointwise import (
    jaccard,
    neighbours_in_map,
    neighbours_in_source,
    preservation,
    procrustes,
)

RNG = np.random.default_rng(11)


def _turned(xy, angle, scale, shift, reflect):
    c, s = np.cos(angle), np.sin(angle)
    r = np.array([[c, -s], [s, c]])
    if reflect:
        r = r @ np.diag([1.0, -1.0])
    return scale * xy @ r + shift, r


@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_recovers_a_rotated_reflected_scaled_copy(reflect):
    ref = RNG.normal(size=(500, 2)) * [3.0, 1.0]
    other, r = _turned(ref, 0.7, 2.5, np.array([4.0, -1.0]), reflect)
    a = procrustes(ref, other)
    assert a.disparity < 1e-10
    assert a.scale == pytest.approx(1 / 2.5, rel=1e-9)
    assert np.allclose(a.rotation, r.T, atol=1e-9)  # the inverse of the turn that made `other`
    assert np.linalg.det(a.rotation) == pytest.approx(-1.0 if reflect else 1.0, abs=1e-9)
    assert np.allclose(a.apply(other), ref, atol=1e-9)


def test_procrustes_disparity_is_scipys_and_alignment_lowers_the_distance():
    ref, other = RNG.normal(size=(300, 2)), RNG.normal(size=(300, 2))
    other[:, 0] += ref[:, 0]  # partly the same shape
    a = procrustes(ref, other)
    assert a.disparity == pytest.approx(scipy_procrustes(ref, other)[2], rel=1e-9)
    assert 0 < a.disparity < 1
    before = np.sum((other - ref) ** 2)
    assert np.sum((a.apply(other) - ref) ** 2) < before


def test_procrustes_refuses_unequal_or_collapsed_maps():
    with pytest.raises(ValueError, match="same points"):
        procrustes(np.zeros((5, 2)), np.zeros((6, 2)))
    with pytest.raises(ValueError, match="coincide"):
        procrustes(RNG.normal(size=(5, 2)), np.ones((5, 2)))


def test_overlap_counts_shared_neighbours_as_sets_do():
    a = np.stack([RNG.permutation(40)[:6] for _ in range(200)])
    b = np.stack([RNG.permutation(40)[:6] for _ in range(200)])
    expected = [len(set(x) & set(y)) for x, y in zip(a, b)]
    assert overlap(a, b).tolist() == expected
    assert overlap(a, a[:, ::-1]).tolist() == [6] * 200  # order within a row does not matter


def test_jaccard_of_a_source_with_itself_is_one_and_of_unrelated_sources_near_chance():
    n, k = 2000, 10
    x, y = RNG.normal(size=(n, 30)), RNG.normal(size=(n, 30))
    nx = neighbours_in_source(x, k)
    assert nx.dtype == np.uint16 and nx.shape == (n, k)
    assert np.all(jaccard(overlap(nx, neighbours_in_source(x, k)), k) == 1.0)
    shared = overlap(nx, neighbours_in_source(y, k))
    # two unrelated k-sets out of n - 1 rows share k * k / (n - 1) rows on average: a share of
    # k / n of each neighbourhood, a Jaccard index of about k / (2n)
    assert shared.mean() / k == pytest.approx(k / n, rel=0.3)
    assert jaccard(shared, k).mean() == pytest.approx(k / (2 * n), rel=0.3)


def test_preservation_per_point_averages_to_the_map_quality_value():
    x = np.hstack([5 * RNG.normal(size=(600, 2)), RNG.normal(size=(600, 8))])
    xy = x[:, :2]
    k = 7
    per_point = preservation(overlap(neighbours_in_source(x, k), neighbours_in_map(xy, k)), k)
    assert per_point.mean() == pytest.approx(
        q.neighbourhood_preservation(*q.neighbourhoods(x, xy, k)), abs=1e-12
    )
    # and it is the share of set overlaps, checked by brute force on distances
    d_high = ((x[:, None] - x[None]) ** 2).sum(-1)
    d_low = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    np.fill_diagonal(d_high, np.inf)
    np.fill_diagonal(d_low, np.inf)
    brute = [len(set(np.argsort(h)[:k]) & set(np.argsort(lo)[:k])) / k for h, lo in zip(d_high, d_low)]
    assert per_point == pytest.approx(brute)
    assert 0.1 < per_point.mean() < 0.9  # a map that keeps some neighbourhoods, not all
