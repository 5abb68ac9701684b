"""Which ready job starts first: each rule's Snakemake `priority` (highest first; among equals
the greedy scheduler prefers larger inputs).

Work that unlocks other work goes first: the data, the trainings, the activations and the
neighbour graphs. Then the maps, the slowest reducers first, so that no long map is left to
run alone on one core at the end of a run. Last, the many short jobs that only read finished
maps (scores, measures, figures, pages): they fill the cores beside the last maps.
"""

from __future__ import annotations

UPSTREAM = 3
# The reducers by their median full-size job (README "Measured": PCA 6 s, PaCMAP 36 s, UMAP
# 49 s, TriMAP 79 s, t-SNE 142 s); a reducer not listed ranks in the middle.
MAP_ORDER = ("pca", "pacmap", "umap", "trimap", "tsne")
MAPS = 2  # a map's priority lies in [MAPS, UPSTREAM); every other rule keeps the default, 0


def map_priority(method: str) -> float:
    """An embed job's priority, from its reducer method (layermaps.embed.reducers)."""
    rank = MAP_ORDER.index(method) if method in MAP_ORDER else (len(MAP_ORDER) - 1) / 2
    return MAPS + rank / len(MAP_ORDER)
