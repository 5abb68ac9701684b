"""Fetch a dataset's four IDX files from a list of mirrors, verifying every byte.

A file counts as downloaded only when its decompressed content has the expected sha256 and a
valid IDX header; it is then moved into place atomically. Anything else (unreachable mirror,
truncated or corrupted file, wrong header) moves on to the next mirror, and when none works
the error lists every mirror tried and why it failed.

A download streams to a temporary file beside its destination in chunks and stops once it is
larger than any gzip copy of the file can be; its decompression stops past the file's known
size. A mirror serving an endless or oversized response fills neither memory nor disk, and a
failed download leaves nothing behind.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from layermaps.atomic import atomic_path
from layermaps.data.datasets import FILES, Dataset, get_dataset
from layermaps.data.idx import parse_idx

MIRROR_ENV = "LAYERMAPS_DATA_MIRROR"


class DownloadError(RuntimeError):
    pass


# No mirror served a verified copy: an expected failure, its message says what to do, so the
# job reports it without a traceback (layermaps.tracking.jobs). Set here, outside the class
# body, because it changes how a failure is reported, never a result: the code fingerprint
# of the download rule (layermaps.fingerprint) does not see it, and downloads do not rerun.
DownloadError.expected = True


def candidate_urls(
    dataset: str, filename: str, mirrors: list[str], env_mirror: str | None = None
) -> list[str]:
    """URLs to try in order: the LAYERMAPS_DATA_MIRROR base (one folder per dataset) first."""
    bases = ([f"{env_mirror.rstrip('/')}/{dataset}"] if env_mirror else []) + list(mirrors)
    return [f"{base.rstrip('/')}/{filename}" for base in bases]


# The size of each file's decompressed content (IDX header and data), the same for both built-in
# datasets: 60,000 training and 10,000 test images of 28 x 28 pixels, one label byte each.
RAW_SIZES = {
    "train-images": 16 + 60_000 * 28 * 28,
    "train-labels": 8 + 60_000,
    "t10k-images": 16 + 10_000 * 28 * 28,
    "t10k-labels": 8 + 10_000,
}
CHUNK = 1 << 20


def size_limit(raw_size: int) -> int:
    """The most bytes a gzip copy of `raw_size` bytes can take, however it was compressed (even
    stored uncompressed: 5 bytes per 64 KiB block, plus header and trailer), with room to spare."""
    return raw_size + raw_size // 100 + 4096


class TooLarge(ValueError):
    pass


def stream_to(url: str, path: Path, *, limit: int, timeout: float) -> int:
    """Write the response of `url` to `path` in chunks; stop past `limit` bytes. -> bytes."""
    size = 0
    with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as out:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise TooLarge(
                f"the server announces {int(declared):,} bytes, more than the "
                f"{limit:,}-byte limit for this file"
            )
        while chunk := response.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(
                    f"stopped after {size:,} bytes: more than the {limit:,}-byte limit "
                    f"for this file (no copy of it can be larger)"
                )
            out.write(chunk)
    return size


def verify(path: Path, *, expected_sha256: str, name: str, ndim: int, raw_size: int) -> None:
    """Raise ValueError unless the gzip file at `path` decompresses to the expected IDX bytes."""
    try:
        raw = bytearray()
        with gzip.open(path, "rb") as f:  # to the end: a truncated file or a bad CRC raises
            while chunk := f.read(CHUNK):
                raw += chunk
                if len(raw) > raw_size:  # stop at once: a small file may unpack to gigabytes
                    raise ValueError(f"decompresses to more than the {raw_size:,} bytes of {name}")
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"not a complete gzip file ({err})") from err
    parse_idx(raw, name=name, expect_ndim=ndim)  # IdxError is a ValueError
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_sha256:
        raise ValueError(f"sha256 of the decompressed content is {digest}, expected {expected_sha256}")


def fetch_file(
    urls: list[str],
    dest: Path,
    *,
    expected_sha256: str,
    ndim: int,
    raw_size: int,
    timeout: float = 60.0,
    log=print,
) -> str:
    """Download the first URL whose content verifies into `dest`; return that URL."""
    failures = []
    for url in urls:
        try:
            with atomic_path(dest) as tmp:  # moved into place only once verified
                size = stream_to(url, tmp, limit=size_limit(raw_size), timeout=timeout)
                verify(tmp, expected_sha256=expected_sha256, name=dest.name, ndim=ndim, raw_size=raw_size)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = (
                f"HTTP {err.code} {err.reason}"
                if isinstance(err, urllib.error.HTTPError)
                else getattr(err, "reason", None) or err
            )
            failures.append(f"  {url}: {reason}")
            log(f"[download] {url}: failed ({reason}); trying the next mirror")
            continue
        log(f"[download] {dest.name}: {size:,} bytes from {url}, sha256 verified")
        return url
    raise DownloadError(
        f"could not download {dest.name}: no mirror served a verified copy.\n"
        + "\n".join(failures)
        + f"\nCheck your network, the mirrors under data.mirrors in config.yaml, or point "
        f"{MIRROR_ENV} at a folder or server holding <dataset>/{dest.name}."
    )


def fetch_dataset(
    dataset: str, dest_dir: str | Path, mirrors: list[str], *, env_mirror: str | None = None, log=print
) -> dict[str, str]:
    """Download and verify the four files of `dataset` into dest_dir; return file -> URL used.

    `env_mirror` (the workflow passes $LAYERMAPS_DATA_MIRROR) is tried before `mirrors`.
    """
    ds = get_dataset(dataset)
    dest_dir = Path(dest_dir)
    used = {}
    for key in FILES:
        filename = Dataset.filename(key)
        used[key] = fetch_file(
            candidate_urls(dataset, filename, mirrors, env_mirror),
            dest_dir / filename,
            expected_sha256=ds.sha256[key],
            ndim=3 if key.endswith("images") else 1,
            raw_size=RAW_SIZES[key],
            log=log,
        )
    return used
