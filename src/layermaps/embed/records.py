"""What the embed and score jobs write, as typed records that every later reader loads:
`Embedding` (embeddings/{source}/{reducer}.npz) and `Score` (scores/{source}/{reducer}.json).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from layermaps.atomic import NpzRecord, write_text


@dataclass
class Embedding(NpzRecord):
    train: np.ndarray  # (n_train, 2) float32
    test: np.ndarray  # (n_test, 2) float32, same coordinates as train
    protocol: str  # "inductive" | "transductive"
    policy: str  # "fit" | "identity" | "constant"
    fit_seconds: float
    transform_seconds: float
    input_dim: int  # columns in
    effective_dim: int  # non-constant columns (on train)
    reducer: str = ""
    # positions within the fit rows of the rows `train` holds, for a map fitted on a subset
    # (layermaps.embed.subsets); None: every fit row
    fit_rows: np.ndarray | None = None

    def fit_labels(self, y_fit: np.ndarray) -> np.ndarray:
        """The labels of the rows in `train`, from those of every fit row."""
        return y_fit if self.fit_rows is None else y_fit[self.fit_rows]


@dataclass(frozen=True)
class Score:
    """One map's scores: the kNN accuracy of the test points placed in the training map, per k,
    and what made the map. The reducer "unreduced" is the same kNN in the source's own space
    (the ceiling job's record: no run of its own, so no sizes or run id)."""

    dataset: str
    source: str  # "raw" or "{model}/{layer}"
    model: str
    layer: str
    reducer: str
    protocol: str  # "inductive" | "transductive" | "none" (unreduced)
    policy: str  # "fit" | "identity" | "constant" | "{d}-d" (unreduced)
    knn: dict  # "k3" -> {"k": 3, "accuracy": float, "per_class": {class: accuracy}}
    trustworthiness: float
    fit_seconds: float
    transform_seconds: float
    n_train: int | None = None
    n_test: int | None = None
    mlflow_run_id: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.source, self.reducer

    @property
    def ks(self) -> list[int]:
        """The k scored, in the order they were scored (the configured order)."""
        return [int(v["k"]) for v in self.knn.values()]

    def accuracy(self, k: int) -> float:
        """kNN accuracy at k; NaN where k was not scored."""
        entry = self.knn.get(f"k{k}")
        return float(entry["accuracy"]) if entry else math.nan

    def to_dict(self) -> dict:
        """The JSON object of the file: fields in order, those that do not apply left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def save(self, path) -> None:
        write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path) -> Score:
        record = json.loads(Path(path).read_text())
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(record) - names)
        if unknown:
            raise ValueError(f"{path}: not a score record (unknown keys {', '.join(unknown)})")
        return cls(**record)


def load_scores(paths) -> dict[tuple[str, str], Score]:
    """(source, reducer) -> Score, for score files of one dataset."""
    return {s.key: s for s in map(Score.load, paths)}


def accuracy_at(score: Score | None, k: int) -> float:
    """A map's kNN accuracy at k, NaN for a map that was not scored."""
    return math.nan if score is None else score.accuracy(k)
