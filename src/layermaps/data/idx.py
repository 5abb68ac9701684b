"""Parse IDX files (the MNIST container format) into numpy arrays, strictly.

Format: two zero bytes, a type code, the number of dimensions, then one big-endian uint32 per
dimension, then the data. MNIST and Fashion-MNIST use type 0x08 (unsigned byte) only.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IdxError(ValueError):
    """The bytes are not a well-formed IDX file (or not the one we expected)."""


def parse_idx(data: bytes, *, name: str = "<bytes>", expect_ndim: int | None = None) -> np.ndarray:
    """Return the array stored in uncompressed IDX bytes; raise IdxError saying what is wrong."""
    if len(data) < 4:
        raise IdxError(f"{name}: {len(data)} bytes is too short for an IDX header")
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or type_code not in _DTYPES:
        raise IdxError(f"{name}: wrong magic number 0x{data[:4].hex()} (not an IDX file)")
    if expect_ndim is not None and ndim != expect_ndim:
        raise IdxError(f"{name}: has {ndim} dimensions, expected {expect_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: truncated header ({len(data)} bytes, need {header})")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    body = len(data) - header
    if body != expected:
        raise IdxError(
            f"{name}: header says shape {shape} ({expected} data bytes) but the file holds "
            f"{body} data bytes ({'truncated' if body < expected else 'trailing garbage'})"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx_gz(path: str | Path, *, expect_ndim: int | None = None) -> np.ndarray:
    """Read a gzip-compressed IDX file."""
    path = Path(path)
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as err:
        raise IdxError(f"{path}: not a readable gzip file ({err})") from err
    return parse_idx(data, name=str(path), expect_ndim=expect_ndim)
