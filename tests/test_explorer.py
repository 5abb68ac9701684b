"""The map explorer's page as bytes (its behaviour in a browser: tests/test_browser.py): the same
inputs give the same page, in one process or two (issue 29, item 7: Bokeh gave its elements
random ids), and no string of a dataset reaches its source as markup (item 4)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import explorer_data as ed

from layermaps.figures.explorer import explorer_job, explorer_page

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# explorer_job in a process of its own, as the workflow's plot_explorer job runs it
BUILD = """
import sys
sys.path.insert(0, sys.argv[1])
import explorer_data as ed
from pathlib import Path
from layermaps.figures.explorer import explorer_job
explorer_job(**ed.build(Path(sys.argv[2])), out_path=sys.argv[3], log=lambda _: None)
"""


def test_the_same_inputs_give_the_same_page_byte_for_byte(tmp_path):
    inputs = ed.build(tmp_path / "inputs")
    explorer_job(**inputs, out_path=tmp_path / "first.html", log=lambda _: None)
    # another build in the same process (Bokeh counts its models process-wide) ...
    assert explorer_page(**inputs) == (tmp_path / "first.html").read_text()
    # ... and a rerun in a new process, from inputs written again
    subprocess.run(
        [
            sys.executable,
            "-c",
            BUILD,
            str(Path(__file__).parent),
            str(tmp_path / "again"),
            str(tmp_path / "second.html"),
        ],
        check=True,
    )
    assert (tmp_path / "second.html").read_bytes() == (tmp_path / "first.html").read_bytes()
    assert not UUID.search((tmp_path / "first.html").read_text())


def test_no_class_name_reaches_the_pages_source_as_written(tmp_path):
    page = explorer_page(**ed.build(tmp_path))
    for name in ed.ODD_CLASSES:  # each holds <, > or &: escaped wherever it is
        assert name not in page
    assert "</script><script>window" not in page
    body = page[page.rindex("<body>") :]
    assert body.count("<script") == 2 and body.count("</script>") == 2  # the data, the embed call
