"""The layer and map measures against known answers (layermaps.measures). Values that depend
on floating-point rounding are compared with tolerances, never exactly."""

import numpy as np
import pytest
import skdim
from sklearn.manifold import trustworthiness

from layermaps.measures.cka import cka_matrix, linear_cka
from layermaps.measures.intrinsic import intrinsic_dimension
from layermaps.measures.map_quality import (
    centroid_triplet_accuracy,
    neighbourhood_hit,
    random_triplet_accuracy,
    trustworthiness_continuity,
)
from layermaps.measures.probe import linear_probe, stratified_rows

RNG = np.random.default_rng(7)


def _gram_cka(x, y, debiased):
    """Kornblith's reference code, in gram form (n x n): an independent check of the
    feature-space formulas (`cka(gram_linear(x), gram_linear(y), debiased)`)."""

    def centre(g):
        g = g.copy()
        n = len(g)
        if debiased:
            np.fill_diagonal(g, 0)
            means = g.sum(0) / (n - 2)
            means -= means.sum() / (2 * (n - 1))
            g -= means[:, None]
            g -= means[None, :]
            np.fill_diagonal(g, 0)
        else:
            h = np.eye(n) - 1.0 / n
            g = h @ g @ h
        return g

    gx, gy = centre(x @ x.T), centre(y @ y.T)
    return gx.ravel() @ gy.ravel() / (np.linalg.norm(gx) * np.linalg.norm(gy))


class TestCKA:
    x = RNG.normal(size=(300, 40))

    @pytest.mark.parametrize("debiased", [False, True])
    def test_a_representation_with_itself_is_one(self, debiased):
        assert linear_cka(self.x, self.x, debiased=debiased) == pytest.approx(1, abs=1e-12)

    @pytest.mark.parametrize("debiased", [False, True])
    def test_orthogonal_transform_and_isotropic_scaling_change_nothing(self, debiased):
        q = np.linalg.qr(RNG.normal(size=(40, 40)))[0]
        y = RNG.normal(size=(300, 10)) + self.x[:, :10]
        base = linear_cka(self.x, y, debiased=debiased)
        assert linear_cka(3.5 * self.x @ q, y, debiased=debiased) == pytest.approx(base, rel=1e-9)
        assert linear_cka(self.x, 0.01 * y, debiased=debiased) == pytest.approx(base, rel=1e-9)

    def test_an_arbitrary_invertible_map_changes_it(self):
        a = np.diag(np.linspace(0.05, 20, 40)) @ RNG.normal(size=(40, 40))
        assert abs(np.linalg.det(a)) > 1e-6
        assert linear_cka(self.x, self.x @ a) < 0.9

    @pytest.mark.parametrize("debiased", [False, True])
    def test_agrees_with_the_reference_gram_form(self, debiased):
        y = np.tanh(self.x[:, :25] @ RNG.normal(size=(25, 15)))
        assert linear_cka(self.x, y, debiased=debiased) == pytest.approx(
            _gram_cka(self.x, y, debiased), rel=1e-9
        )

    def test_debiased_is_near_zero_for_independent_representations_where_biased_is_not(self):
        # n = 500 rows of 200 independent features each: the biased CKA of two such random
        # matrices is about 0.29 (it grows with p/n); the debiased one is within 0.02 of 0
        x, y = RNG.normal(size=(500, 200)), RNG.normal(size=(500, 200))
        assert linear_cka(x, y) > 0.2
        assert abs(linear_cka(x, y, debiased=True)) < 0.02

    def test_a_matrix_is_symmetric_with_a_unit_diagonal(self):
        sources = {"a": self.x, "b": self.x[:, :5], "c": RNG.normal(size=(300, 3))}
        m = cka_matrix(sources)
        assert m.shape == (3, 3) and np.allclose(m, m.T) and np.allclose(np.diag(m), 1)
        assert m[0, 1] == pytest.approx(linear_cka(self.x, self.x[:, :5]))

    def test_mismatched_rows_are_refused(self):
        with pytest.raises(ValueError, match="different rows: 300 and 299"):
            linear_cka(self.x, self.x[:-1])


class TestIntrinsicDimension:
    def test_a_plane_in_fifty_dimensions_is_two(self):
        plane = RNG.normal(size=(3000, 2)) @ RNG.normal(size=(2, 50))
        got = intrinsic_dimension(plane, n_max=3000)
        assert got.twonn == pytest.approx(2, abs=0.2) and got.mle == pytest.approx(2, abs=0.2)

    def test_a_five_dimensional_gaussian_is_five(self):
        got = intrinsic_dimension(RNG.normal(size=(3000, 5)), n_max=3000)
        assert got.twonn == pytest.approx(5, abs=0.5) and got.mle == pytest.approx(5, abs=0.5)

    def test_agrees_with_scikit_dimension_on_the_same_rows(self):
        x = RNG.normal(size=(2000, 8)) @ RNG.normal(size=(8, 30))
        got = intrinsic_dimension(x, n_max=2000, k=20)
        assert got.twonn == pytest.approx(skdim.id.TwoNN().fit(x).dimension_, rel=1e-9)
        assert got.mle == pytest.approx(skdim.id.MLE().fit(x, n_neighbors=20).dimension_, rel=1e-9)

    def test_duplicate_rows_are_counted_and_left_out(self):
        x = RNG.normal(size=(1500, 4))
        x[:500] = 0.0  # dead units: a ReLU layer's all-zero rows
        got = intrinsic_dimension(x, n_max=1500)
        assert got.duplicates == 499 and got.rows == 1500
        assert got.twonn == pytest.approx(intrinsic_dimension(x[499:], n_max=1500).twonn, rel=1e-12)

    def test_a_seeded_subset_is_the_same_every_time(self):
        x = RNG.normal(size=(3000, 6))
        assert intrinsic_dimension(x, n_max=1000, seed=3) == intrinsic_dimension(x, n_max=1000, seed=3)
        assert intrinsic_dimension(x, n_max=1000, seed=3).rows == 1000


class TestProbe:
    def test_separable_classes_score_near_one_and_shuffled_labels_near_chance(self):
        centres = RNG.normal(size=(4, 20)) * 6
        y = RNG.integers(0, 4, 4000)
        x = centres[y] + RNG.normal(size=(4000, 20))
        good = linear_probe(x[:3000], y[:3000], x[3000:], y[3000:])
        assert good.accuracy > 0.99 and good.converged and set(good.per_class) == {0, 1, 2, 3}
        shuffled = linear_probe(x[:3000], RNG.permutation(y[:3000]), x[3000:], y[3000:])
        assert shuffled.accuracy == pytest.approx(0.25, abs=0.06)

    def test_a_probe_that_did_not_converge_says_so(self):
        x, y = RNG.normal(size=(500, 30)), RNG.integers(0, 3, 500)
        got = linear_probe(x, y, x, y, max_iter=2)
        assert not got.converged and got.iterations == 2

    def test_the_fit_subset_is_seeded_and_stratified(self):
        y = np.repeat([0, 1, 2, 3], [700, 200, 80, 20])
        rows = stratified_rows(y, 100, seed=1)
        assert len(rows) == 100 and np.array_equal(rows, stratified_rows(y, 100, seed=1))
        assert np.bincount(y[rows]).tolist() == [70, 20, 8, 2]


class TestMapQuality:
    x = RNG.normal(size=(800, 30))

    def test_trustworthiness_equals_sklearn_and_continuity_is_it_swapped(self):
        y = self.x[:, :2] + 0.3 * RNG.normal(size=(800, 2))
        trust, continuity = trustworthiness_continuity(self.x, y, k=5)
        # a near-tie in single precision may move one rank: about 5e-7 here
        assert trust == pytest.approx(trustworthiness(self.x, y, n_neighbors=5), abs=1e-4)
        assert continuity == pytest.approx(trustworthiness(y, self.x, n_neighbors=5), abs=1e-4)
        assert 0.5 < trust < 0.95

    def test_a_map_that_keeps_the_data_is_fully_trustworthy(self):
        trust, continuity = trustworthiness_continuity(self.x[:, :2], self.x[:, :2] * 4 + 1, k=5)
        assert trust == pytest.approx(1) and continuity == pytest.approx(1)

    def test_random_triplets_are_all_kept_by_an_isometry_and_half_by_a_random_map(self):
        q = np.linalg.qr(RNG.normal(size=(30, 30)))[0]
        assert random_triplet_accuracy(self.x, self.x @ q * 2 + 5) == 1.0
        assert random_triplet_accuracy(self.x, RNG.normal(size=(800, 2))) == pytest.approx(0.5, abs=0.04)

    def test_centroid_triplets_of_a_scaled_copy_are_all_kept(self):
        labels = RNG.integers(0, 6, 800)
        shifted = self.x + np.eye(30)[labels] * 5
        assert centroid_triplet_accuracy(shifted, shifted * 3, labels) == 1.0
        assert 0 <= centroid_triplet_accuracy(shifted, RNG.normal(size=(800, 2)), labels) <= 1

    def test_neighbourhood_hit_of_separated_classes_is_one(self):
        labels = np.repeat([0, 1], 400)
        y = RNG.normal(size=(800, 2)) + labels[:, None] * 100
        assert neighbourhood_hit(y, labels, k=5) == 1.0
        assert neighbourhood_hit(RNG.normal(size=(800, 2)), labels, k=5) == pytest.approx(0.5, abs=0.06)

    def test_bad_shapes_and_k_are_refused(self):
        with pytest.raises(ValueError, match="the source has 800 rows but the map 10"):
            trustworthiness_continuity(self.x, self.x[:10, :2])
        with pytest.raises(ValueError, match="k=400 needs"):
            trustworthiness_continuity(self.x, self.x[:, :2], k=400)


def test_a_degenerate_source_gets_no_estimate_and_says_why():
    one_unit = intrinsic_dimension(RNG.normal(size=(500, 1)))
    assert np.isnan(one_unit.twonn) and one_unit.note == "1 feature: no estimate"
    dead = intrinsic_dimension(np.zeros((500, 4)))
    assert np.isnan(dead.mle) and dead.duplicates == 499 and "1 distinct rows of 500" in dead.note


def test_every_record_kind_becomes_tidy_rows():
    from layermaps.measures.table import record_rows

    source = {
        "dataset": "mnist",
        "source": "m/hidden1",
        "width": 8,
        "probe": {
            "accuracy": 0.9,
            "per_class": {"0": 1.0},
            "converged": False,
            "iterations": 9,
            "max_iter": 9,
            "fit_rows": 100,
            "test_rows": 50,
        },
        "intrinsic_dimension": {"twonn": None, "mle": 3.0, "k": 20, "rows": 100, "duplicates": 2, "note": ""},
        "settings": {"seed": 0},
    }
    rows = record_rows(source)
    assert rows[0]["measure"] == "probe_accuracy" and "NOT converged in 9 iterations" in rows[0]["protocol"]
    assert {r["measure"]: r["value"] for r in rows}["id_twonn"] == ""  # no estimate: an empty cell
    study = {
        "dataset": "mnist",
        "study": "s",
        "rows": 50,
        "values": {"a": 1},
        "seeds": {
            "a": {
                "hidden1": {
                    "cka": {"mean": 0.9, "sd": 0.1, "min": 0.8, "max": 1.0, "pairs": 3},
                    "cka_debiased": {"mean": 0.8, "sd": 0.1, "min": 0.7, "max": 0.9, "pairs": 3},
                }
            }
        },
        "across": {
            "output": {
                "models": ["a", "b"],
                "cka": [[1, 0.5], [0.5, 1]],
                "cka_debiased": [[1, 0.4], [0.4, 1]],
            }
        },
        "snapshots": {"a": {"hidden1": {"3": {"cka": 0.7, "cka_debiased": 0.6}}}},
    }
    rows = {(r["source"], r["measure"]): r["value"] for r in record_rows(study)}
    assert rows[("a/hidden1", "cka_seeds_mean")] == "0.9"
    assert rows[("a/output vs b/output", "cka_debiased")] == "0.4"
    assert rows[("a@epoch3/hidden1 vs a/hidden1", "cka")] == "0.7"
    with pytest.raises(ValueError, match="not a measures record"):
        record_rows({"dataset": "mnist"})


def test_duplicate_rows_keep_trustworthiness_within_zero_and_one():
    from layermaps.measures.map_quality import neighbourhood_preservation, neighbourhoods

    # a one-unit ReLU layer: most rows 0, the rest on a line; its PCA map adds a flat axis
    x = np.maximum(RNG.normal(size=(600, 1)), 0)
    xy = np.hstack([x, np.zeros_like(x)])
    trust, continuity = trustworthiness_continuity(x, xy, k=5)
    # the map is an isometry: both spaces take tied rows in row order, so every neighbourhood
    # stays (a k-d tree's own order of tied points kept 0.50 (scipy's) or 0.90 (scikit-learn's))
    assert trust == continuity == neighbourhood_preservation(*neighbourhoods(x, xy, 5)) == 1
    shuffled = trustworthiness_continuity(x, RNG.normal(size=(600, 2)), k=5)
    assert all(0 <= v <= 1 for v in shuffled)


def test_a_maps_rows_are_found_in_its_sources_activations():
    from layermaps.measures.stage import map_fit_activations

    x = np.arange(20.0).reshape(10, 2)  # the fit rows' activations
    assert map_fit_activations(x, None, None) is x
    assert map_fit_activations(x, None, np.array([3, 7])).tolist() == [[6, 7], [14, 15]]
    held = np.array([2, 5, 9])  # a snapshot holds fit rows 2, 5 and 9: its array has 3 rows
    assert map_fit_activations(x[:3], held, np.array([5, 9])).tolist() == [[2, 3], [4, 5]]
    with pytest.raises(ValueError, match="rerun its embedding"):
        map_fit_activations(x[:3], held, np.array([4]))


def test_a_record_keeps_every_string_and_writes_no_estimate_as_null(tmp_path):
    from layermaps.measures.stage import _read, _write

    path = tmp_path / "r.json"
    _write({"source": "NaNet/hidden1", "twonn": float("nan"), "n": np.int64(3), "v": [np.float32(0.5)]}, path)
    assert _read(path) == {"source": "NaNet/hidden1", "twonn": None, "n": 3, "v": [0.5]}
