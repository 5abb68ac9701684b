"""Parse IDX files (the MNIST container format) into numpy arrays, strictly.

Format: two zero bytes, a type code, the number of dimensions, then one big-endian uint32 per
dimension, then the data. MNIST and Fashion-MNIST use type 0x08 (unsigned byte) only.

A file is read in chunks into an array of the size its header declares (`read_idx`): a
`.gz` that decompresses to more than that is refused as soon as it does, never inflated in
full, and `declared_idx` reads the header alone (start-up checks the size against the
config's limit before anything reads the data).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
CHUNK = 1 << 20  # bytes decompressed at a time


class IdxError(ValueError):
    """The bytes are not a well-formed IDX file (or not the one we expected)."""


def _header(head: bytes, name: str, expect_ndim: int | None, read_dims) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from the first 4 bytes of an IDX file; read_dims(n) gives the next n."""
    if len(head) < 4:
        raise IdxError(f"{name}: {len(head)} bytes is too short for an IDX header")
    zero, type_code, ndim = struct.unpack(">HBB", head[:4])
    if zero != 0 or type_code not in _DTYPES:
        raise IdxError(f"{name}: wrong magic number 0x{head[:4].hex()} (not an IDX file)")
    if expect_ndim is not None and ndim != expect_ndim:
        raise IdxError(f"{name}: has {ndim} dimensions, expected {expect_ndim}")
    dims = read_dims(4 * ndim)
    if len(dims) < 4 * ndim:
        raise IdxError(f"{name}: truncated header ({4 + len(dims)} bytes, need {4 + 4 * ndim})")
    return struct.unpack(f">{ndim}I", dims), np.dtype(_DTYPES[type_code])


def _data_bytes(shape, dtype) -> int:
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def _size_error(name: str, shape, expected: int, body: int) -> IdxError:
    why = "truncated" if body < expected else "trailing garbage"
    return IdxError(
        f"{name}: header says shape {tuple(shape)} ({expected} data bytes) but the "
        f"file holds {body} data bytes ({why})"
    )


def parse_idx(data: bytes, *, name: str = "<bytes>", expect_ndim: int | None = None) -> np.ndarray:
    """Return the array stored in uncompressed IDX bytes; raise IdxError saying what is wrong."""
    shape, dtype = _header(data[:4], name, expect_ndim, lambda n: data[4 : 4 + n])
    header = 4 + 4 * len(shape)
    expected, body = _data_bytes(shape, dtype), len(data) - header
    if body != expected:
        raise _size_error(name, shape, expected, body)
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def declared_idx(path: str | Path, *, expect_ndim: int | None = None) -> tuple[tuple, np.dtype]:
    """(shape, dtype) an IDX file (.gz or not) declares, from its header alone."""
    path = Path(path)
    try:
        with _open(path) as f:
            return _header(f.read(4), str(path), expect_ndim, f.read)
    except (OSError, EOFError, zlib.error) as err:
        raise IdxError(
            f"{path}: not a readable {'gzip' if path.suffix == '.gz' else 'IDX'} file ({err})"
        ) from err


def read_idx(path: str | Path, *, expect_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file, gzip-compressed (.gz) or not, in chunks into an array of the size its
    header declares; the file must hold exactly that much data. Memory stays at the declared
    size: a .gz that decompresses to more is refused after one chunk beyond it."""
    path, name = Path(path), str(path)
    try:
        with _open(path) as f:
            shape, dtype = _header(f.read(4), name, expect_ndim, f.read)
            expected = _data_bytes(shape, dtype)
            out = np.empty(expected, np.uint8)
            view, filled = memoryview(out), 0
            while filled < expected:
                got = f.readinto(view[filled : filled + CHUNK])
                if not got:
                    raise _size_error(name, shape, expected, filled)
                filled += got
            extra = len(f.read(CHUNK))  # to the end: a bad CRC or a truncated .gz raises here
            if extra:
                raise IdxError(
                    f"{name}: holds more than the {expected:,} data bytes its header "
                    f"declares (shape {tuple(shape)}): stopped reading (trailing "
                    f"garbage, or a file that decompresses far beyond its size)"
                )
    except (OSError, EOFError, zlib.error) as err:
        raise IdxError(
            f"{path}: not a readable {'gzip' if path.suffix == '.gz' else 'IDX'} file ({err})"
        ) from err
    return out.view(dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def read_idx_gz(path: str | Path, *, expect_ndim: int | None = None) -> np.ndarray:
    """Read a gzip-compressed IDX file (read_idx)."""
    return read_idx(path, expect_ndim=expect_ndim)
