"""What each rule's jobs ask a scheduler for: memory (MB) and run time (minutes), measured and
kept in workflow/resources.yaml (that file says how).

An entry may also say how its jobs grow with their rows, as `python -m layermaps.bench_growth`
measured them:
    embed: {mem_mb: 2500, runtime: 30, grows: {rows: 60000, mb_per_10k_rows: 150, time_power: 1.2}}
mem_mb and runtime are then the requests at `rows` rows; a job of r rows asks for
mem_mb + 1.5 x mb_per_10k_rows x (r - rows) / 10,000 MB (rounded up to 500, at least 1,000)
and runtime x (r / rows) ^ time_power minutes (at least 10). A job's rows are the training
rows of its dataset (after `data.subsample`), or the share of them its source or map holds
(a snapshot's subset, a map's fit subset): `layermaps.plan.Plan.job_rows`.
"""

from __future__ import annotations

import math
from pathlib import Path

from layermaps.errors import UserError

KEYS = ("mem_mb", "runtime")
GROWS = ("rows", "mb_per_10k_rows", "time_power")
MIN_MB, MIN_MINUTES, MB_STEP = 1000, 10, 500
# The entries whose jobs' rows the plan can tell: what the rows are of (Plan.job_rows)
ROWS_OF = {
    "train": "dataset",
    "raw_activations": "dataset",
    "activations": "dataset",
    "neighbors": "source",
    "ceiling": "source",
    "measure_source": "source",
    "measure_map": "source",  # its first 10,000 fit rows, but it loads every one
    "plot_training": "dataset",  # the model predicts every training row
    "embed": "map",
    "score": "map",
}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_grows(path, name: str, grows) -> None:
    where = f"{path}: {name}.grows"
    if name not in ROWS_OF:
        raise UserError(
            f"{where}: the workflow cannot tell the rows of {name}'s jobs; only "
            f"{', '.join(ROWS_OF)} may grow with their rows."
        )
    if not isinstance(grows, dict) or set(grows) != set(GROWS):
        raise UserError(f"{where} must give exactly {', '.join(GROWS)}, not {grows!r}")
    if not (isinstance(grows["rows"], int) and not isinstance(grows["rows"], bool) and grows["rows"] > 0):
        raise UserError(f"{where}.rows must be a positive whole number, not {grows['rows']!r}")
    if not (_number(grows["mb_per_10k_rows"]) and grows["mb_per_10k_rows"] >= 0):
        raise UserError(f"{where}.mb_per_10k_rows must be a number >= 0, not {grows['mb_per_10k_rows']!r}")
    if not (_number(grows["time_power"]) and 0 <= grows["time_power"] <= 3):
        raise UserError(f"{where}.time_power must be a number from 0 to 3, not {grows['time_power']!r}")


def read_resources(path: str | Path) -> dict[str, dict]:
    """rule (or shared entry) -> {"mem_mb", "runtime"[, "grows"]}; an entry that lacks one, or
    gives anything but a positive whole number, is refused with the file and entry named."""
    import yaml

    table = yaml.safe_load(Path(path).read_text()) or {}
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) - {"grows"} != set(KEYS):
            raise UserError(
                f"{path}: entry {name!r} must give exactly {' and '.join(KEYS)} (and may give "
                f"grows), not {entry!r}"
            )
        for key in KEYS:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"{path}: {name}.{key} must be a positive whole number, not {value!r}")
        if "grows" in entry:
            _check_grows(path, name, entry["grows"])
    return table


def memory_request(peak_or_mb: float, floor: int = MIN_MB) -> int:
    """A memory request (MB) as this file's entries are set: rounded up to 500 MB, at least
    `floor` (the caller multiplies a measured peak by 1.5 first)."""
    return max(floor, MB_STEP * math.ceil(peak_or_mb / MB_STEP))


def request(entry: dict, rows: int | None) -> dict[str, int]:
    """What a job of `rows` rows asks for under its entry (rows None: not known before the
    job's inputs exist, or an entry that does not grow: the entry's own numbers)."""
    grows = entry.get("grows")
    if grows is None or rows is None:
        return {key: entry[key] for key in KEYS}
    mem = entry["mem_mb"] + 1.5 * grows["mb_per_10k_rows"] * (rows - grows["rows"]) / 10_000
    minutes = entry["runtime"] * (rows / grows["rows"]) ** grows["time_power"]
    return {
        "mem_mb": memory_request(mem),
        "runtime": max(MIN_MINUTES, math.ceil(minutes)),
    }
