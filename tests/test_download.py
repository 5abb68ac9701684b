"""Download against a real HTTP server on 127.0.0.1 serving the shared files and broken copies."""

import functools
import gzip
import http.server
import threading
import tracemalloc

import pytest

from layermaps.data.datasets import DATASETS, FILES, Dataset
from layermaps.data.download import RAW_SIZES, DownloadError, fetch_dataset, size_limit


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
        (root / "badheader" / "mnist" / name).write_bytes(
            gzip.compress(b"\x08\x03\x00\x00" + raw[4:], compresslevel=1)
        )
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
    used = fetch_dataset(
        "mnist", tmp_path, [f"{server}/corrupt/mnist/"], env_mirror=f"{server}/good", log=lambda m: None
    )
    assert all("/good/mnist/" in url for url in used.values())


@pytest.mark.parametrize("bad", ["corrupt", "truncated", "badheader"])
def test_bad_mirror_falls_back_to_next(server, tmp_path, bad):
    lines = []
    used = fetch_dataset(
        "mnist",
        tmp_path,
        [f"{server}/{bad}/mnist/", f"{server}/good/mnist/"],
        env_mirror=None,
        log=lines.append,
    )
    assert all("/good/" in url for url in used.values())
    assert any(f"/{bad}/" in line and "failed" in line for line in lines)


def test_all_mirrors_failing_names_each_and_leaves_nothing(server, tmp_path):
    dest = tmp_path / "raw"
    mirrors = [
        f"{server}/corrupt/mnist/",
        f"{server}/truncated/mnist/",
        "http://127.0.0.1:9/nothing-listens-here/",
        f"{server}/missing/mnist/",
    ]
    with pytest.raises(DownloadError) as info:
        fetch_dataset("mnist", dest, mirrors, env_mirror=None, log=lambda m: None)
    message = str(info.value)
    for mirror in mirrors:
        assert mirror in message
    assert (
        "sha256" in message
        and "gzip" in message
        and "HTTP 404" in message
        and "Connection refused" in message
    )
    assert "LAYERMAPS_DATA_MIRROR" in message
    assert not dest.exists() or list(dest.iterdir()) == []  # no partial or temporary file


def test_file_mirror_and_checksums_match_shared_sums(shared_data, tmp_path):
    fetch_dataset("fashion-mnist", tmp_path, [], env_mirror=f"file://{shared_data}", log=lambda m: None)
    assert len(list(tmp_path.iterdir())) == 4
    assert set(DATASETS["fashion-mnist"].sha256) == set(FILES)


# ---- a mirror that serves too much: the download stops at the limit, in small memory --------
class OversizedHandler(http.server.BaseHTTPRequestHandler):
    """/endless/...: zeros until the client hangs up (no length); /announced/...: a length of a
    terabyte; /bomb/...: a small valid gzip that decompresses past the file's size."""

    bomb = gzip.compress(b"\0" * (RAW_SIZES["train-images"] + (1 << 20)), compresslevel=9)

    def do_GET(self):
        kind = self.path.strip("/").split("/")[0]
        self.send_response(200)
        if kind == "bomb":
            self.send_header("Content-Length", str(len(self.bomb)))
            self.end_headers()
            self.wfile.write(self.bomb)
            return
        if kind == "announced":
            self.send_header("Content-Length", str(10**12))
        self.end_headers()
        block = b"\0" * (1 << 16)
        try:
            while True:
                self.wfile.write(block)
        except OSError:  # the client stopped reading and hung up
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def oversized():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OversizedHandler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # a hung-up client is the point
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.parametrize(
    "kind, words",
    [
        ("endless", "stopped after"),
        ("announced", "the server announces"),
        ("bomb", "decompresses to more than"),
    ],
)
def test_an_oversized_response_stops_at_the_limit_in_small_memory(oversized, tmp_path, kind, words):
    dest = tmp_path / "results" / "mnist" / "raw"
    tracemalloc.start()
    try:
        with pytest.raises(DownloadError) as info:
            fetch_dataset("mnist", dest, [f"{oversized}/{kind}/mnist/"], env_mirror=None, log=lambda m: None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    url = f"{oversized}/{kind}/mnist/train-images-idx3-ubyte.gz"
    limit = size_limit(RAW_SIZES["train-images"])
    assert f"{url}: " in message and words in message, message
    if kind != "bomb":
        assert f"{limit:,}-byte limit" in message
    # read in chunks: far below the file's size (checking the bomb holds its 47 MB once)
    assert peak < (RAW_SIZES["train-images"] * 1.3 if kind == "bomb" else 8 << 20), peak
    assert not dest.exists() or list(dest.iterdir()) == []  # nothing half-written


def test_the_limit_admits_any_gzip_of_the_content(shared_data):
    """Even a copy stored without compression fits under the limit."""
    for key in FILES:
        raw = gzip.decompress((shared_data / "mnist" / Dataset.filename(key)).read_bytes())
        assert len(raw) == RAW_SIZES[key]
        assert len(gzip.compress(raw, compresslevel=0)) <= size_limit(len(raw))
