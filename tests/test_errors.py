"""Expected failures (layermaps.errors): an unreadable input names itself, the rule that made it
and the cure; anything else is left to its traceback."""

import base64
import json
import zipfile

import numpy as np
import pytest

from layermaps.errors import UserError, is_expected, made_by, stop, unreadable_input


def test_stop_exits_with_the_message_of_an_expected_error_and_reraises_a_bug():
    with pytest.raises(SystemExit) as exit_:
        stop(UserError("results_dir = '/': choose a folder"))
    assert exit_.value.code == "layermaps: results_dir = '/': choose a folder"
    with pytest.raises(KeyError):
        stop(KeyError("a bug"))
    assert is_expected(UserError("x")) and not is_expected(ValueError("x"))


def test_each_kind_of_broken_input_is_named_with_the_rule_that_made_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = tmp_path / "results/good.npy"
    good.parent.mkdir()
    np.save(good, np.arange(1000, dtype=np.float32))
    files = {
        "results/a_test.npy": good.read_bytes()[:200],  # truncated array
        "results/b_test.npy": b"\x93NUMPY\x01\x00garbage header" + bytes(100),  # numpy would ask for pickle
        "results/c.npz": b"PK\x03\x04 half a zip",
        "results/model.keras": b"PK\x03\x04",
        "results/score.json": b'{"knn": ',
    }
    for path, content in files.items():
        (tmp_path / path).write_bytes(content)
    meta = tmp_path / ".snakemake/metadata"
    meta.mkdir(parents=True)
    (meta / base64.urlsafe_b64encode(b"results/model.keras").decode()).write_text(
        json.dumps({"rule": "train"})
    )
    assert made_by("results/model.keras") == "train" and made_by("results/c.npz") is None
    assert unreadable_input([str(good)]) is None
    for path in files:
        err = unreadable_input([str(good), path])
        assert err is not None and is_expected(err), path
        assert str(err).startswith(f"{path} cannot be read (") and "incomplete or corrupt" in str(err)
        assert "allow_pickle" not in str(err)
    assert "made by rule 'train': delete it and run snakemake again" in str(
        unreadable_input(["results/model.keras"])
    )
    assert "Delete it and run snakemake again" in str(unreadable_input(["results/c.npz"]))
    # a well-formed zip with a damaged member
    with zipfile.ZipFile(tmp_path / "results/d.npz", "w") as z:
        z.writestr("x.npy", b"0" * 5000)
    raw = bytearray((tmp_path / "results/d.npz").read_bytes())
    raw[100] ^= 0xFF
    (tmp_path / "results/d.npz").write_bytes(bytes(raw))
    assert "damaged" in str(unreadable_input(["results/d.npz"])) or "cannot be read" in str(
        unreadable_input(["results/d.npz"])
    )
