"""What each rule's jobs ask a scheduler for: memory (MB) and run time (minutes), measured and
kept in workflow/resources.yaml (that file says how)."""

from __future__ import annotations

from pathlib import Path

from layermaps.errors import UserError

KEYS = ("mem_mb", "runtime")


def read_resources(path: str | Path) -> dict[str, dict[str, int]]:
    """rule (or shared entry) -> {"mem_mb", "runtime"}; an entry that lacks one, or gives
    anything but a positive whole number, is refused with the file and entry named."""
    import yaml

    table = yaml.safe_load(Path(path).read_text()) or {}
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) != set(KEYS):
            raise UserError(f"{path}: entry {name!r} must give exactly {' and '.join(KEYS)}, not {entry!r}")
        for key, value in entry.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"{path}: {name}.{key} must be a positive whole number, not {value!r}")
    return table
