"""The compare page in a real browser (chromium through chromedriver, as tests/test_browser.py):
on the known page of tests/compare_data.py, a box selection in one map selects the same test
points in the other, a hover rings the same point in both, choosing another pair redraws both,
the colour switch recolours them with the job's values, a click lists the point's neighbours
with the shared ones marked, and the page asks the network for nothing; on the tiny figures run,
the real page draws every test point, on disk and inside MLflow's artifact view. Screenshots
go to each test's temporary folder (the run's summary lists them)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import compare_data as cd
import explorer_data as ed
import numpy as np
import pytest
from conftest import SCREENSHOTS
from mlflow.tracking import MlflowClient
from test_browser import browser, mlflow_ui, pointer_to, shot, wait_for  # noqa: F401 (fixture)

pytestmark = pytest.mark.workflow

VIEWS = """
const views = [], walk = (v) => { views.push(v); for (const c of (v.child_views || [])) walk(c); };
for (const v of (Bokeh.index.values ? Bokeh.index.values() : Object.values(Bokeh.index))) walk(v);
const view = (name) => views.find((v) => v.model.name === name);
const model = (name) => Bokeh.documents[0].get_model_by_name(name);
const screen = (side, x, y) => { const pv = view("plot_" + side), r = pv.canvas_view.el.getBoundingClientRect();
  return [r.left + pv.frame.x_scale.compute(x), r.top + pv.frame.y_scale.compute(y)]; };
"""


def js(driver, code: str, *args):
    return driver.execute_script(VIEWS + code, *args)


@pytest.fixture(scope="module")
def known_page(tmp_path_factory):
    from layermaps.figures.compare_page import compare_page_job

    folder = tmp_path_factory.mktemp("compare_page")
    built = cd.build(folder / "inputs")
    page = folder / "compare.html"
    compare_page_job(**{k: v for k, v in built.items() if k != "records"}, out_path=page, log=lambda _: None)
    return page, built


@pytest.fixture
def page(browser, known_page):  # noqa: F811
    browser.get("about:blank")
    browser.get_log("browser")
    browser.get(known_page[0].as_uri())
    wait_for(browser, "window.layermaps && window.layermaps.xy")
    yield browser
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    assert browser.execute_script("return window.pwned") is None  # no class name's script ran
    # everything the page loaded came with it: no request left the file
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert all(u.startswith(("data:", "blob:", "file:")) for u in fetched), fetched


def arrays(known_page, dataset="odd"):
    record, npz = known_page[1]["records"][dataset]
    return json.loads(record.read_text())["compare"], np.load(npz)


def chosen(driver) -> list:
    return js(driver, "return [window.layermaps.chosen.left, window.layermaps.chosen.right]")


def choose(driver, name: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    host = js(driver, "return view(arguments[0]).el", name)
    Select(host.shadow_root.find_element(By.CSS_SELECTOR, "select")).select_by_visible_text(text)


def test_a_box_selection_in_one_map_selects_the_same_points_in_the_other(page, tmp_path):
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    driver = page
    assert chosen(driver) == [0, 1]  # raw pixels | pca and net / hidden1 | pca
    xy = js(driver, "return [model('points_left').data.x, model('points_left').data.y]")
    x, y = np.array(xy[0]), np.array(xy[1])
    inside = np.flatnonzero((x > 15) & (x < 55))  # the known map: point i at x = 10 i
    assert inside.tolist() == [2, 3, 4, 5]
    # a box from x 15 to 55 over every row of points (inside the frame: Bokeh pads the range)
    (x0, y0), (x1, y1) = (
        js(driver, "return screen('left', arguments[0], arguments[1])", *c)
        for c in [(15, y.min() - 1), (55, y.max() + 1)]
    )
    drag = ActionBuilder(driver)
    drag.pointer_action.move_to_location(int(x0), int(y0)).pointer_down().pause(0.1)
    drag.pointer_action.move_to_location(int((x0 + x1) / 2), int((y0 + y1) / 2)).pause(0.1)
    drag.pointer_action.move_to_location(int(x1), int(y1)).pause(0.1).pointer_up()
    drag.perform()
    left = wait_for(
        driver,
        "model('points_left').selected.indices.length && model('points_left').selected.indices",
        prelude=VIEWS,
        timeout=10,
    )
    right = js(driver, "return model('points_right').selected.indices")
    shot(driver, tmp_path, "compare_box_selection")
    assert sorted(left) == inside.tolist() and sorted(right) == inside.tolist()


def test_a_hover_rings_the_same_point_in_both_maps(page, tmp_path):
    driver = page
    for i in (1, 7):
        end = time.time() + 30
        while time.time() < end:
            x, y = js(
                driver,
                "const d = model('points_left').data; return screen('left', d.x[arguments[0]], d.y[arguments[0]])",
                i,
            )
            pointer_to(driver, x, y)
            try:
                wait_for(driver, f"window.layermaps.hoveredPoint === {i}", timeout=2)
                break
            except AssertionError:
                pointer_to(driver, 0, 0)
        rings = js(
            driver,
            "return ['left', 'right'].map((s) => [model('ring_' + s).data.x, model('ring_' + s).data.y])",
        )
        points = js(
            driver,
            "return ['left', 'right'].map((s) => [model('points_' + s).data.x[arguments[0]], model('points_' + s).data.y[arguments[0]]])",
            i,
        )
        for (rx, ry), (px, py) in zip(rings, points):
            assert rx == [px] and ry == [py]
        info = js(driver, "return view('info').shadow_el.querySelector('#hover-info').innerText")
        assert info.startswith(f"test point {i}\n")
    shot(driver, tmp_path, "compare_hover")


def test_choosing_another_pair_redraws_both_maps(page, known_page):
    driver = page
    before = js(driver, "return [model('points_left').data.y, model('points_right').data.x]")
    choose(driver, "select_right_source", "net / hidden2")
    wait_for(driver, "window.layermaps.chosen.right === 3")
    after_right = js(driver, "return model('points_right').data.x")
    assert after_right != before[1] and len(after_right) == len(before[1])
    choose(driver, "select_left_source", "net / hidden1")
    choose(driver, "select_left_map", "umap")
    wait_for(driver, "window.layermaps.chosen.left === 2")
    assert js(driver, "return model('points_left').data.y") != before[0]  # the known maps differ in y
    titles = js(driver, "return [view('plot_left').model.title.text, view('plot_right').model.title.text]")
    assert titles == ["left: net / hidden1 | umap", "right: net / hidden2 | pca"]
    # the alignment switch: off, the right map is drawn where its embedding puts it
    c, z = arrays(known_page)
    js(driver, "model('align').active = false")
    raw = np.array(js(driver, "return model('points_right').data.x"))
    js(driver, "model('align').active = true")
    aligned = np.array(js(driver, "return model('points_right').data.x"))
    assert not np.allclose(raw, aligned)
    stats = js(driver, "return view('stats').shadow_el.textContent")
    assert f"{z['disparity'][2, 3]:.4f}" in stats


def test_the_colour_switch_recolours_both_maps_with_the_jobs_values(page, known_page):
    from bokeh.palettes import Magma256

    driver = page
    classes = js(driver, "return model('points_left').data.color")
    choose(driver, "select_colour", "neighbours kept between the two sources (Jaccard)")
    wait_for(
        driver,
        "(() => { const k = view('key').shadow_el.textContent; return k.includes('Jaccard'); })()",
        prelude=VIEWS,
    )
    colours = js(driver, "return [model('points_left').data.color, model('points_right').data.color]")
    assert colours[0] == colours[1] != classes
    c, z = arrays(known_page)
    shared = z["source_shared"][
        c["source_pairs"].index(next(p for p in c["source_pairs"] if p["pair"] == [0, 1]))
    ]
    jaccard = shared / (2 * cd.K - shared)
    assert colours[0] == [Magma256[int(np.clip(np.round(v * 255), 0, 255))] for v in jaccard]
    choose(driver, "select_colour", "left map: kNN vote right (green) or wrong (red)")
    wait_for(driver, "model('points_left').data.color.includes('#d62728')", prelude=VIEWS)
    import explorer_data as ed

    wrong = [
        i for i, col in enumerate(js(driver, "return model('points_left').data.color")) if col == "#d62728"
    ]
    assert wrong == ed.MISVOTED[("odd", "raw", "pca")]


def test_a_click_lists_the_points_neighbours_with_the_shared_ones_marked(page, known_page, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = page
    i = 6
    x, y = js(
        driver,
        "const d = model('points_left').data; return screen('left', d.x[arguments[0]], d.y[arguments[0]])",
        i,
    )
    pointer_to(driver, x, y)
    ActionChains(driver).click().perform()
    text = wait_for(
        driver,
        "(() => { const e = view('neighbours').shadow_el.querySelector('#nb-point'); return e && e.innerText; })()",
        prelude=VIEWS,
        timeout=10,
    )
    shot(driver, tmp_path, "compare_neighbours")
    c, z = arrays(known_page)
    left, right = (set(z["source_neighbours"][s][i]) for s in (0, 1))
    assert text.startswith(f"test point {i} ")
    assert js(driver, "return view('neighbours').shadow_el.querySelector('#nb-shared').textContent") == str(
        len(left & right)
    )
    shown = js(
        driver,
        "return ['left', 'right'].map((s) => [...view('neighbours').shadow_el.querySelectorAll('#nb-' + s + ' .nb')].map((e) => [Number(e.dataset.i), e.classList.contains('shared')]))",
    )
    assert {j for j, _ in shown[0]} == left and {j for j, _ in shown[1]} == right
    assert {j for side in shown for j, marked in side if marked} == left & right
    assert js(driver, "return model('points_right').selected.indices") == [i]  # the click selects it in both


def test_the_real_compare_page_draws_every_test_point_on_disk_and_in_mlflow(browser, figures_run, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    work, _ = figures_run
    page = work / "results" / "studies" / "all" / "compare.html"
    n_test = len(np.load(work / "results" / "mnist" / "data.npz")["test_labels"])
    browser.get("about:blank")
    browser.get_log("browser")
    browser.get(page.as_uri())
    wait_for(browser, "window.layermaps && window.layermaps.xy")
    assert (
        js(browser, "return [model('points_left').data.x.length, model('points_right').data.x.length]")
        == [n_test] * 2
    )
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    shot(browser, tmp_path, "compare_real")
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/summary")
    (run,) = client.search_runs([exp.experiment_id], "tags.`layermaps.rule` = 'report_summary'")
    assert {a.path for a in client.list_artifacts(run.info.run_id, "explorer")} == {
        "explorer/explorer.html",
        "explorer/compare.html",
    }
    with mlflow_ui(work / "results" / "mlflow.db") as ui:
        browser.get(
            f"{ui}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}/artifacts/explorer/compare.html"
        )
        wait_for(browser, "document.querySelector('iframe')")
        browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
        try:
            wait_for(browser, "window.layermaps && window.layermaps.xy")
            assert js(browser, "return model('points_left').data.x.length") == n_test
        finally:
            browser.switch_to.default_content()
    shot(browser, tmp_path, "mlflow_compare_artifact")


def test_bench_page_times_a_page_until_both_maps_hold_their_points(known_page, tmp_path):
    (tmp_path / SCREENSHOTS).mkdir()
    shot_path = tmp_path / SCREENSHOTS / "bench_page.png"
    out = subprocess.run(
        [sys.executable, "-m", "layermaps.bench_page", str(known_page[0]), "--loads", "2"]
        + ["--screenshot", str(shot_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    loads = re.findall(
        r"^load \d: interactive ([\d.]+) s after .*, (\d+) and (\d+) points$", out.stdout, re.M
    )
    assert len(loads) == 2 and all(int(a) == int(b) == ed.N_TEST for _, a, b in loads), out.stdout
    assert "requests outside the file: none; console errors: none" in out.stdout
    assert shot_path.stat().st_size > 0
    missing = subprocess.run(
        [sys.executable, "-m", "layermaps.bench_page", str(tmp_path / "none.html")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "no such page" in missing.stderr
