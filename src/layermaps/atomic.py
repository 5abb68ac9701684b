"""Write outputs so that a killed job never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import asdict, fields
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None):
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    The temporary file lives in the same folder (so the final os.replace is atomic) and keeps
    the target's suffix (numpy and matplotlib pick the format from it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or "".join(path.suffixes), dir=path.parent
    )
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs should look like any file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


class NpzRecord:
    """Mixin for a dataclass kept as one .npz file: written atomically, read back with each
    field's declared scalar type (float, int, str); array fields stay arrays. A field that is
    None is not written, and a field missing from a file reads as its default."""

    _SCALARS = {"float": float, "int": int, "str": str}

    def save(self, path) -> None:
        import numpy as np

        with atomic_path(path) as tmp:
            np.savez(tmp, **{k: v for k, v in asdict(self).items() if v is not None})

    @classmethod
    def load(cls, path):
        import numpy as np

        def kind(f):  # a string under `from __future__ import annotations`, else the type
            return cls._SCALARS.get(getattr(f.type, "__name__", f.type), np.asarray)

        with np.load(path, allow_pickle=False) as d:
            return cls(**{f.name: kind(f)(d[f.name]) for f in fields(cls) if f.name in d.files})
