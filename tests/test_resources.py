"""workflow/resources.yaml: every rule's entry read and checked, a broken entry named."""

from pathlib import Path

import pytest

from layermaps.errors import UserError
from layermaps.resources import read_resources

REPO = Path(__file__).resolve().parents[1]


def test_the_workflow_table_gives_every_entry_memory_and_time():
    table = read_resources(REPO / "workflow" / "resources.yaml")
    assert {"train", "embed", "plot", "prepare"} <= set(table)
    assert all(e["mem_mb"] >= 1000 and e["runtime"] >= 10 for e in table.values())


@pytest.mark.parametrize(
    "text, problem",
    [
        ("plot: {mem_mb: 1000}", "entry 'plot' must give exactly mem_mb and runtime"),
        ("plot: {mem_mb: 1500.0, runtime: 10}", "plot.mem_mb must be a positive whole number, not 1500.0"),
        ("plot: {mem_mb: 1000, runtime: -1}", "plot.runtime must be a positive whole number"),
        ("plot: 1000", "entry 'plot' must give exactly"),
    ],
)
def test_a_broken_entry_is_named(tmp_path, text, problem):
    path = tmp_path / "resources.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=problem.replace("(", r"\(").replace(".", r"\.")) as err:
        read_resources(path)
    assert str(path) in str(err.value)
