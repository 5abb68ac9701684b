import gzip
import struct

import numpy as np
import pytest

from layermaps.data.idx import IdxError, parse_idx, read_idx_gz


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
