import gzip
import struct
import zlib

import numpy as np
import pytest

from layermaps.data.idx import IdxError, declared_idx, parse_idx, read_idx, read_idx_gz


def idx_bytes(array: np.ndarray, magic_type: int = 0x08) -> bytes:
    header = struct.pack(">HBB", 0, magic_type, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_parses_valid_bytes():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = parse_idx(idx_bytes(a), expect_ndim=3)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, a)


def test_real_mnist_files(shared_data):
    images = read_idx_gz(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz", expect_ndim=3)
    labels = read_idx_gz(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz", expect_ndim=1)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test digits
    assert images.max() == 255 and images.min() == 0


def test_wrong_magic():
    data = bytearray(idx_bytes(np.zeros((2, 2), np.uint8)))
    data[0] = 0x1F
    with pytest.raises(IdxError, match="wrong magic"):
        parse_idx(bytes(data))
    with pytest.raises(IdxError, match="wrong magic"):
        parse_idx(b"\x00\x00\x07\x01" + b"\x00" * 8)  # unknown type code


def test_truncated_body_and_header():
    data = idx_bytes(np.zeros((10, 4), np.uint8))
    with pytest.raises(IdxError, match="truncated"):
        parse_idx(data[:-5])
    with pytest.raises(IdxError, match="truncated header"):
        parse_idx(data[:6])
    with pytest.raises(IdxError, match="too short"):
        parse_idx(b"\x00\x00")


def test_wrong_counts_and_dimensions():
    data = idx_bytes(np.zeros((10, 4), np.uint8))
    with pytest.raises(IdxError, match="trailing garbage"):
        parse_idx(data + b"\x00")
    with pytest.raises(IdxError, match="expected 3"):
        parse_idx(data, expect_ndim=3)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((3,), np.uint8)))[:-4])
    with pytest.raises(IdxError, match="gzip"):
        read_idx_gz(path)


def gzip_bomb(path, declared: np.ndarray, extra_mib: int):
    """A .gz of an IDX file that declares `declared` and holds it, followed by `extra_mib` MiB
    of zeros: a few hundred KB on disk, compressed as it is written (never held whole)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    with open(path, "wb") as f:
        f.write(z.compress(idx_bytes(declared)))
        zeros = bytes(1 << 20)
        for _ in range(extra_mib):
            f.write(z.compress(zeros))
        f.write(z.flush())
    return path


def test_reads_plain_and_gzip_files_in_chunks(tmp_path):
    a = np.arange(3 * 700 * 800, dtype=np.uint32).reshape(3, 700, 800) % 251  # > 1 MiB: chunks
    (tmp_path / "a").write_bytes(idx_bytes(a))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(a)))
    for name in ("a", "a.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name, expect_ndim=3), a)
        assert declared_idx(tmp_path / name) == ((3, 700, 800), np.dtype(np.uint8))
    wide = np.array([[1, -2], [300, 70000]], dtype=">i4")
    raw = struct.pack(">HBB", 0, 0x0C, 2) + struct.pack(">2I", 2, 2) + wide.tobytes()
    (tmp_path / "w.gz").write_bytes(gzip.compress(raw))
    out = read_idx(tmp_path / "w.gz")
    assert out.dtype == np.int32 and out.tolist() == [[1, -2], [300, 70000]]
    (tmp_path / "t.gz").write_bytes(gzip.compress(idx_bytes(a)[:-10]))
    with pytest.raises(IdxError, match="truncated"):
        read_idx(tmp_path / "t.gz")
    (tmp_path / "x.gz").write_bytes(gzip.compress(idx_bytes(a) + b"\x00"))
    with pytest.raises(IdxError, match="more than the 1,680,000 data bytes its header declares"):
        read_idx(tmp_path / "x.gz")


def test_a_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    """A 0.3 MB .gz whose header declares 7,840 bytes but which decompresses to 256 MiB more is
    refused, and reading it never holds more than a chunk past the declared size (before:
    gzip.decompress of the whole file, 256 MiB)."""
    import tracemalloc

    path = gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((10, 28, 28), np.uint8), 256)
    assert path.stat().st_size < 1_000_000
    assert declared_idx(path) == ((10, 28, 28), np.dtype(np.uint8))  # the header alone
    tracemalloc.start()
    try:
        with pytest.raises(IdxError, match=r"more than the 7,840 data bytes its header declares"):
            read_idx_gz(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak:,} bytes held while reading a bomb"
