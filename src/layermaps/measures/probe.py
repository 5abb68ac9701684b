"""A linear probe (Alain and Bengio 2016, arXiv 1610.01644): how linearly separable the classes
are in a source's own space. Multinomial logistic regression (scikit-learn, lbfgs, L2 with C =
1), the features standardised with the fit rows' mean and deviation (a constant feature is left
at 0), fitted on a fixed, seeded, stratified subset of the fit rows and scored on every test row.
Whether lbfgs converged is part of the result, never dropped."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Probe:
    accuracy: float
    per_class: dict[int, float]  # recall of each test class
    converged: bool
    iterations: int
    max_iter: int
    fit_rows: int
    test_rows: int

    def to_dict(self) -> dict:
        return asdict(self)


def stratified_rows(y, n_max: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of at most n_max rows keeping the class shares (all
    rows if there are no more than n_max)."""
    y = np.asarray(y)
    if len(y) <= n_max:
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    rows, _ = train_test_split(np.arange(len(y)), train_size=n_max, stratify=y, random_state=seed)
    return np.sort(rows)


def linear_probe(
    x_fit, y_fit, x_test, y_test, *, n_max: int = 10_000, max_iter: int = 1000, seed: int = 0
) -> Probe:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rows = stratified_rows(y_fit, n_max, seed)
    x_fit, y_fit = np.asarray(x_fit, dtype=np.float64)[rows], np.asarray(y_fit)[rows]
    if len(np.unique(y_fit)) < 2:
        raise ValueError("a linear probe needs at least two classes among the fit rows")
    scaler = StandardScaler().fit(x_fit)
    model = LogisticRegression(max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported as `converged`
        model.fit(scaler.transform(x_fit), y_fit)
    iterations = int(np.max(model.n_iter_))
    y_test = np.asarray(y_test)
    hit = model.predict(scaler.transform(np.asarray(x_test, dtype=np.float64))) == y_test
    return Probe(
        accuracy=float(hit.mean()),
        per_class={int(c): float(hit[y_test == c].mean()) for c in np.unique(y_test)},
        converged=iterations < max_iter,
        iterations=iterations,
        max_iter=max_iter,
        fit_rows=len(rows),
        test_rows=len(y_test),
    )
