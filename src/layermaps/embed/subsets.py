"""Fit subsets: a map fitted on part of the training rows; every test row is still placed with
the reducer's transform and scored.

A study's `embed: {fit: ...}` gives a subset for all of its reducers or, keyed by reducer, for
some of them:
    {first: 10000}                the first n fit rows, in their stored (file) order
    {stratified: 0.2, seed: 42}   a fraction of the fit rows, stratified by class, seeded
The subset is part of the map's name (`tsne_p40@first10000`), hence of its file paths, and of
the embed job's params: two subsets are two maps, and changing one reruns its jobs only.
Cheap to import (the DAG is planned with it): numpy and scikit-learn only inside `subset_rows`.
"""

from __future__ import annotations

from layermaps.paths import MapName

DEFAULT_SEED = 42


def check_subset(spec, where: str) -> dict:
    """The spec with its seed filled in; ValueError naming `where` when it is not one."""
    if isinstance(spec, dict) and set(spec) == {"first"}:
        n = spec["first"]
        if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            return {"first": n}
    elif isinstance(spec, dict) and "stratified" in spec and set(spec) <= {"stratified", "seed"}:
        fraction, seed = spec["stratified"], spec.get("seed", DEFAULT_SEED)
        if (
            isinstance(fraction, (int, float))
            and 0 < fraction < 1
            and isinstance(seed, int)
            and not isinstance(seed, bool)
            and seed >= 0
        ):
            return {"stratified": float(fraction), "seed": seed}
    raise ValueError(
        f"{where} = {spec!r}: a fit subset is {{first: N}} (N >= 1) or "
        f"{{stratified: F, seed: S}} (0 < F < 1, S >= 0, default {DEFAULT_SEED})"
    )


def subset_size(spec: dict, rows: int) -> int:
    """How many of `rows` fit rows a subset holds (a stratified one: about, by class)."""
    if "first" in spec:
        return min(spec["first"], rows)
    return max(1, round(spec["stratified"] * rows))


def subset_key(spec: dict) -> str:
    """{first: 10000} -> 'first10000'; {stratified: 0.2, seed: 42} -> 'stratified0.2-seed42'."""
    if "first" in spec:
        return f"first{spec['first']}"
    return f"stratified{spec['stratified']:g}-seed{spec['seed']}"


def map_name(reducer: str, spec: dict | None) -> str:
    """The name of a map (its files, its column in tables): the reducer, and its subset if any."""
    return str(MapName(reducer, None if spec is None else subset_key(spec)))


def ordered_maps(names, reducer_order: list[str]) -> list[str]:
    """Map names in the order of tables: by their reducer's place in the config (unknown ones
    last), a reducer's full map before its subsets."""

    def key(name):
        reducer = MapName.parse(name).reducer
        place = reducer_order.index(reducer) if reducer in reducer_order else len(reducer_order)
        return place, reducer, name != reducer, name

    return sorted(set(names), key=key)


def is_subset_spec(value) -> bool:
    """A study's `fit:` is one spec for all reducers when its keys are a spec's keys."""
    return isinstance(value, dict) and bool(value) and set(value) <= {"first", "stratified", "seed"}


def subset_rows(spec: dict, labels):
    """Positions (sorted, int64) within the fit rows of the subset; `labels` are the fit rows'
    classes. A subset as large as the fit rows is refused: it would be the full map again."""
    import numpy as np

    n = len(labels)
    if "first" in spec:
        if spec["first"] >= n:
            raise ValueError(
                f"fit subset first {spec['first']}: there are only {n} fit rows; "
                f"lower it or fit on every row (no `fit:`)"
            )
        return np.arange(spec["first"], dtype=np.int64)
    from sklearn.model_selection import train_test_split

    try:
        rows, _ = train_test_split(
            np.arange(n), train_size=spec["stratified"], stratify=labels, random_state=spec["seed"]
        )
    except ValueError as err:  # a class with one row, or a fraction too small for the classes
        raise ValueError(f"fit subset stratified {spec['stratified']:g} of {n} fit rows: {err}") from None
    return np.sort(rows).astype(np.int64)
