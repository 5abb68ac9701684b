"""Expected failures: one message for a person, no traceback.

A mistake of the user's (a config value, a dataset, an unreachable tracking store, a corrupt
file, a held lock) raises an exception marked `expected = True` whose message names the file
or setting, what is wrong and what to do. The Snakefile turns such an error raised while the
DAG is built into that one message and exit status 1 (`stop`); a job prints it to its log and
the terminal (layermaps.tracking.jobs). Every other exception is a bug and keeps its traceback.

A job that fails on an input file it cannot read says which file, which rule made it and that
deleting it remakes it (`unreadable_input`), instead of numpy's or Keras's words about it.
This module only reports failures: it is never part of a result (layermaps.fingerprint).
"""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path


class UserError(Exception):
    """An expected failure raised by code that has no more specific class."""

    expected = True


def is_expected(err: BaseException) -> bool:
    return bool(getattr(err, "expected", False))


def stop(err: BaseException, prefix: str = "layermaps: "):
    """Exit with the message of an expected error; re-raise anything else (a bug)."""
    if not is_expected(err):
        raise err
    raise SystemExit(f"{prefix}{err}") from None  # Python prints it to stderr, exit status 1


# ---------------------------------------------------------------------- unreadable inputs
def _read_problem(path: Path) -> str | None:
    """Why the file cannot be read as what its suffix says, or None if it reads."""
    import numpy as np

    try:
        if path.suffix == ".npy":
            np.load(path, mmap_mode="r", allow_pickle=False)
            # a numeric array's header must promise no more bytes than the file holds
        elif path.suffix in (".npz", ".keras"):
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
            if bad:
                return f"its member {bad} is damaged"
        elif path.suffix == ".json":
            json.loads(path.read_text())
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        text = str(err)
        if "allow_pickle" in text or "pickled" in text:
            text = "not a numeric array file (numpy asks for pickle support, which a real array never needs)"
        return text or type(err).__name__
    return None


def made_by(path: str | Path, workdir: str | Path = ".") -> str | None:
    """The rule that made `path`, from Snakemake's metadata record of it (.snakemake/metadata)."""
    rel = (
        str(Path(path))
        if not Path(path).is_absolute()
        else str(Path(path).relative_to(Path(workdir).resolve()))
    )
    record = Path(workdir) / ".snakemake" / "metadata" / base64.urlsafe_b64encode(rel.encode()).decode()
    try:
        return json.loads(record.read_text()).get("rule")
    except (OSError, ValueError):
        return None


class UnreadableInput(UserError):
    pass


def unreadable_input(paths, workdir: str | Path = ".") -> UnreadableInput | None:
    """The first of these input files that cannot be read, as an expected error, or None."""
    for p in paths:
        path = Path(p)
        if not path.is_file() or path.suffix not in (".npy", ".npz", ".keras", ".json"):
            continue
        problem = _read_problem(path)
        if problem is None:
            continue
        try:
            rule = made_by(path, workdir)
        except ValueError:  # an absolute path outside the working directory: the user's own
            rule = None
        remake = (
            f"It was made by rule {rule!r}: delete it and run snakemake again, which reruns that rule."
            if rule
            else "Delete it and run snakemake again to remake it (if the workflow made it), "
            "or replace it with a good copy."
        )
        return UnreadableInput(f"{path} cannot be read ({problem}): it is incomplete or corrupt. " + remake)
    return None
