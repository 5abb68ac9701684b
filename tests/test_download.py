"""Download against a real HTTP server on 127.0.0.1 serving the shared files and broken copies."""

import functools
import gzip
import http.server
import threading

import pytest

from layermaps.data.datasets import DATASETS, FILES, Dataset
from layermaps.data.download import DownloadError, fetch_dataset


@pytest.fixture(scope="module")
def http_root(tmp_path_factory, shared_data):
    """A served folder: good/ (faithful, recompressed), corrupt/, truncated/, badheader/."""
    root = tmp_path_factory.mktemp("served")
    for kind in ("good", "corrupt", "truncated", "badheader"):
        (root / kind / "mnist").mkdir(parents=True)
    for key in FILES:
        name = Dataset.filename(key)
        src = shared_data / "mnist" / name
        raw = gzip.decompress(src.read_bytes())
        # a faithful mirror that recompressed the files must pass (checksum of the content)
        (root / "good" / "mnist" / name).write_bytes(gzip.compress(raw, compresslevel=1))
        flipped = bytearray(raw)
        flipped[-1] ^= 0xFF
        (root / "corrupt" / "mnist" / name).write_bytes(gzip.compress(bytes(flipped), compresslevel=1))
        (root / "truncated" / "mnist" / name).write_bytes(src.read_bytes()[: src.stat().st_size // 2])
        (root / "badheader" / "mnist" / name).write_bytes(gzip.compress(b"\x08\x03\x00\x00" + raw[4:], compresslevel=1))
    return root


@pytest.fixture(scope="module")
def server(http_root):
    handler = functools.partial(QuietHandler, directory=str(http_root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_downloads_and_verifies_from_http(server, tmp_path):
    dest = tmp_path / "raw"
    used = fetch_dataset("mnist", dest, [f"{server}/good/mnist/"], env_mirror=None, log=lambda m: None)
    assert sorted(p.name for p in dest.iterdir()) == sorted(Dataset.filename(k) for k in FILES)
    assert all(url.startswith(f"{server}/good/") for url in used.values())


def test_env_mirror_is_tried_first(server, tmp_path):
    used = fetch_dataset("mnist", tmp_path, [f"{server}/corrupt/mnist/"], env_mirror=f"{server}/good",
                         log=lambda m: None)
    assert all("/good/mnist/" in url for url in used.values())


@pytest.mark.parametrize("bad", ["corrupt", "truncated", "badheader"])
def test_bad_mirror_falls_back_to_next(server, tmp_path, bad):
    lines = []
    used = fetch_dataset("mnist", tmp_path, [f"{server}/{bad}/mnist/", f"{server}/good/mnist/"],
                         env_mirror=None, log=lines.append)
    assert all("/good/" in url for url in used.values())
    assert any(f"/{bad}/" in line and "failed" in line for line in lines)


def test_all_mirrors_failing_names_each_and_leaves_nothing(server, tmp_path):
    dest = tmp_path / "raw"
    mirrors = [f"{server}/corrupt/mnist/", f"{server}/truncated/mnist/",
               "http://127.0.0.1:9/nothing-listens-here/", f"{server}/missing/mnist/"]
    with pytest.raises(DownloadError) as info:
        fetch_dataset("mnist", dest, mirrors, env_mirror=None, log=lambda m: None)
    message = str(info.value)
    for mirror in mirrors:
        assert mirror in message
    assert "sha256" in message and "gzip" in message and "HTTP 404" in message and "Connection refused" in message
    assert "LAYERMAPS_DATA_MIRROR" in message
    assert not dest.exists() or list(dest.iterdir()) == []  # no partial or temporary file


def test_file_mirror_and_checksums_match_shared_sums(shared_data, tmp_path):
    fetch_dataset("fashion-mnist", tmp_path, [], env_mirror=f"file://{shared_data}", log=lambda m: None)
    assert len(list(tmp_path.iterdir())) == 4
    assert set(DATASETS["fashion-mnist"].sha256) == set(FILES)
