"""The start order of ready jobs (layermaps.scheduling): the workflow's priorities are checked
on `make quick`'s plan in tests/test_workflow_studies.py."""

from layermaps.embed.reducers import REDUCERS
from layermaps.scheduling import MAP_ORDER, MAPS, UPSTREAM, map_priority


def test_maps_start_slowest_first_after_the_work_that_unlocks_them():
    assert set(MAP_ORDER) == set(REDUCERS)  # a new reducer gets a place in the order
    ranks = [map_priority(m) for m in MAP_ORDER]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert MAPS <= min(ranks) and max(ranks) < UPSTREAM
    # a reducer registered outside the table: between the others, never above the upstream work
    assert map_priority("pca") < map_priority("elsewhere") < map_priority("tsne")
