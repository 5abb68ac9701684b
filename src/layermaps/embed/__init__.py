"""Embed stage: the shared neighbour graph, the reducers (one class each), embed and score jobs."""
