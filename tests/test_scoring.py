"""Scoring: kNN accuracy in 2-D and subsampled trustworthiness."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness

from layermaps.embed.scoring import knn_accuracy, subsample_indices, trustworthiness_subsample

# Six training points on a line and three test points; expectations worked out by hand:
#   train x: 0 1 2 10 11 12, labels 0 0 1 1 1 0
#   test 0.1 (label 0): k=1 -> x=0 (0) right;      k=3 -> 0,1,2 (0,0,1) -> 0 right
#   test 2.1 (label 0): k=1 -> x=2 (1) wrong;      k=3 -> 2,1,0 (1,0,0) -> 0 right
#   test 11.9 (label 1): k=1 -> x=12 (0) wrong;    k=3 -> 12,11,10 (0,1,1) -> 1 right
TRAIN = np.array([[0, 0], [1, 0], [2, 0], [10, 0], [11, 0], [12, 0]], float)
Y_TRAIN = np.array([0, 0, 1, 1, 1, 0])
TEST = np.array([[0.1, 0], [2.1, 0], [11.9, 0]])
Y_TEST = np.array([0, 0, 1])


def test_knn_accuracy_hand_checked():
    s = knn_accuracy(TRAIN, Y_TRAIN, TEST, Y_TEST, ks=(1, 3))
    assert set(s) == {"k1", "k3"}
    assert s["k1"]["k"] == 1 and s["k1"]["accuracy"] == pytest.approx(1 / 3)
    assert s["k3"]["accuracy"] == pytest.approx(1.0)


def test_knn_per_class_keyed_by_int_class():
    s = knn_accuracy(TRAIN, Y_TRAIN, TEST, Y_TEST, ks=(1, 3))
    assert s["k1"]["per_class"] == {0: 0.5, 1: 0.0}
    assert s["k3"]["per_class"] == {0: 1.0, 1: 1.0}
    assert all(type(c) is int for c in s["k1"]["per_class"])


def test_knn_refuses_k_larger_than_training_set():
    with pytest.raises(ValueError, match="k=7"):
        knn_accuracy(TRAIN, Y_TRAIN, TEST, Y_TEST, ks=(3, 7))
    knn_accuracy(TRAIN, Y_TRAIN, TEST, Y_TEST, ks=(6,))  # k == n_train is allowed


def test_knn_refuses_mismatched_labels():
    with pytest.raises(ValueError, match="length"):
        knn_accuracy(TRAIN, Y_TRAIN[:5], TEST, Y_TEST)


def test_knn_accuracy_on_real_pixels(mnist_small):
    # 784-d pixels with k=3: well above chance, and per-class accuracies average to near it.
    x, y, xt, yt = mnist_small
    s = knn_accuracy(x, y, xt, yt)
    assert 0.85 < s["k3"]["accuracy"] <= 1.0
    assert sorted(s["k3"]["per_class"]) == list(range(10))
    counts = np.bincount(yt, minlength=10)
    weighted = sum(s["k3"]["per_class"][c] * counts[c] for c in range(10)) / counts.sum()
    assert weighted == pytest.approx(s["k3"]["accuracy"])


def test_trustworthiness_identity_is_one_and_pca_is_less(mnist_small):
    x = mnist_small[0][:500]
    assert trustworthiness_subsample(x, x.copy()) == pytest.approx(1.0)
    low = PCA(2, random_state=0).fit_transform(x)
    assert 0.5 < trustworthiness_subsample(x, low) < 0.95


def test_trustworthiness_subsample_caps_rows(mnist_small):
    x = mnist_small[0]
    low = PCA(2, random_state=0).fit_transform(x)
    idx = subsample_indices(len(x), 300, seed=1)
    assert len(idx) == 300 and len(np.unique(idx)) == 300 and np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, subsample_indices(len(x), 300, seed=1))  # seeded
    assert not np.array_equal(idx, subsample_indices(len(x), 300, seed=2))
    assert np.array_equal(subsample_indices(250, 300), np.arange(250))  # n <= n_max: all rows
    t = trustworthiness_subsample(x, low, n_max=300, seed=1)
    assert t == pytest.approx(trustworthiness(x[idx], low[idx], n_neighbors=5))
    assert t != pytest.approx(trustworthiness_subsample(x, low, n_max=len(x)), abs=1e-6)


def test_trustworthiness_refuses_mismatched_rows():
    with pytest.raises(ValueError, match="rows"):
        trustworthiness_subsample(np.zeros((10, 3)), np.zeros((9, 2)))
