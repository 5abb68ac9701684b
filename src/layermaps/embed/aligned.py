"""Maps of one source over training, aligned from frame to frame (the snapshot animations).

Independent maps of two snapshots put a class anywhere: its jump means nothing. Here the first
frame is the snapshot's ordinary map, and each later one is fitted on the next snapshot's rows
starting from the previous frame's coordinates of the same rows (umap-learn's `init`), so a
class stays where it was unless the layer moved it; the test rows are placed with `transform`,
as in every map. umap-learn's AlignedUMAP aligns its frames too, but it cannot place test
points: its frames could show only the fitted rows, and could not be scored.
"""

from __future__ import annotations

import numpy as np

from layermaps.embed.records import Embedding


def aligned_maps(
    first: Embedding, sources, *, reducer: str, settings: dict, seed: int, n_jobs: int = 1, log=print
) -> list[Embedding]:
    """[first, ...]: one map per source after the first, each fitted from the previous map's
    training coordinates. sources: [(x_fit, x_test), ...] of every snapshot, the same fit rows
    in the same order in each (the first is `first`'s source, not fitted again)."""
    from layermaps.embed.reducers import embed

    frames = [first]
    for i, (x_fit, x_test) in enumerate(sources[1:], start=2):
        previous = frames[-1].train
        if len(previous) != len(x_fit):
            raise ValueError(
                f"frame {i}: {len(x_fit)} fit rows, the previous frame {len(previous)}: "
                f"the snapshots must hold the same rows"
            )
        emb = embed(
            reducer,
            x_fit,
            x_test,
            seed=seed,
            n_jobs=n_jobs,
            settings={**settings, "init": np.asarray(previous, np.float64)},
        )
        log(
            f"[aligned] frame {i} of {len(sources)}: {emb.policy}, fit {emb.fit_seconds:.1f} s, "
            f"transform {emb.transform_seconds:.1f} s"
        )
        frames.append(emb)
    return frames
