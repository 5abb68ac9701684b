"""What a person sees, in a real browser (Debian's chromium, driven through chromedriver by
Selenium), on the tiny figures run: the MLflow UI served by `mlflow ui` opens an experiment on
its runs table with the runs' names, a run page shows its image artifact, and the map
explorer loads without JavaScript errors, draws every test point and shows a point's label
on hover. Screenshots go to each test's temporary folder; the run's summary lists them."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import SCREENSHOTS, mlflow_process, skip_unless_ci
from layermaps.tracking.store import ui_links

pytestmark = pytest.mark.workflow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    skip_unless_ci("no browser: install Debian's chromium and chromium-driver (.ci/run does) to "
                   "run the browser tests")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def shot(driver, folder: Path, name: str) -> Path:
    """A screenshot in the test's temporary folder (the run's summary lists them: conftest)."""
    path = folder / SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    driver.save_screenshot(str(path))
    return path


def wait_for(driver, script: str, timeout: float = 60.0):
    """Poll a JavaScript expression until it is truthy; return its value."""
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {script}")


@contextlib.contextmanager
def mlflow_ui(store: Path):
    """`mlflow ui` (what `make ui` runs) for the run's SQLite store: yields its URL."""
    with mlflow_process("ui", store) as (url, _):
        yield url


@pytest.fixture(scope="module")
def ui(figures_run):
    work, _ = figures_run
    with mlflow_ui(work / "results" / "mlflow.db") as url:
        yield url


def page_text(driver) -> str:
    return driver.execute_script("return document.body.innerText")


def test_the_experiment_opens_on_the_runs_table_with_the_runs_names(browser, ui, figures_run, tmp_path):
    work, _ = figures_run
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/mnist")
    top = [r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]
    names = sorted(r.info.run_name for r in top)
    assert names == ["data split", "download", "msds_w1 training", "msds_w16 training"]
    # the link `make ui` prints for the experiment (MLflow 3.17's sidebar switch decides the
    # experiment page; the link selects "Model training", README "Tracking")
    (link,) = [url for name, url in ui_links(f"sqlite:///{work}/results/mlflow.db", ui) if name == exp.name]
    browser.get(link)
    text = wait_for(browser, "document.body.innerText.includes('msds_w16 training') && document.body.innerText")
    shot(browser, tmp_path, "mlflow_experiment")
    assert f"/experiments/{exp.experiment_id}/runs" in browser.current_url, browser.current_url
    assert "Run Name" in text and "Traces" not in text.split("Run Name")[1]  # the runs table, not GenAI's
    rows = text.split("Run Name")[1]
    for name in names:
        assert name in rows
    assert "pca msds_w16/hidden2" not in rows  # nested: one click away, below
    # the maps are one click away: expanding a training shows them
    child = client.search_runs([exp.experiment_id], "tags.reducer = 'pca' and tags.model = 'msds_w16'")
    assert [r.info.run_name for r in child] == ["pca msds_w16/hidden2"]
    assert child[0].data.tags["mlflow.parentRunId"] == next(r.info.run_id for r in top
                                                            if r.info.run_name == "msds_w16 training")


def test_a_run_page_shows_its_image_artifact(browser, ui, figures_run, tmp_path):
    work, _ = figures_run
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/mnist")
    (run,) = client.search_runs([exp.experiment_id], "tags.reducer = 'pca' and tags.source = 'raw'")
    figures = [a.path for a in client.list_artifacts(run.info.run_id, "figures")]
    assert figures and figures[0].endswith(".png"), figures
    assert [a.path for a in client.list_artifacts(run.info.run_id, "embedding")] == ["embedding/pca.npz"]
    browser.get(f"{ui}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}/artifacts/{figures[0]}")
    size = wait_for(browser, "(() => { const i = [...document.images].find((i) => i.naturalWidth > 200);"
                             " return i && [i.naturalWidth, i.naturalHeight]; })()")
    shot(browser, tmp_path, "mlflow_run_artifact")
    assert size[0] > 200 and size[1] > 100


def test_the_explorer_draws_every_test_point_and_shows_a_label_on_hover(browser, figures_run, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    work, config = figures_run
    page = work / "results" / "studies" / "all" / "explorer.html"
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(page.as_uri())
    wait_for(browser, "window.layermaps && window.layermaps.current")
    n_test = len(np.load(work / "results" / "mnist" / "data.npz")["test_labels"])
    assert browser.execute_script("return window.layermaps.drawn()") == n_test
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    # the map's kNN accuracy beside it is the score record's
    stats = browser.execute_script("return Bokeh.documents[0].get_model_by_name('stats').text")
    current = browser.execute_script("return [window.layermaps.current.model, window.layermaps.current.layer,"
                                     " window.layermaps.current.reducer, window.layermaps.current.accuracy]")
    assert f"{current[3]:.4f}" in stats
    # hover a point of class 3 where the page drew it: its label appears
    x, y, i = browser.execute_script("""
        const views = [], walk = (v) => { views.push(v); for (const c of (v.child_views || [])) walk(c); };
        for (const v of (Bokeh.index.values ? Bokeh.index.values() : Object.values(Bokeh.index))) walk(v);
        const pv = views.find((v) => v.model.name === "map");
        const src = Bokeh.documents[0].get_model_by_name("class_3"), r = pv.canvas_view.el.getBoundingClientRect();
        return [r.left + pv.frame.x_scale.compute(src.data.x[0]), r.top + pv.frame.y_scale.compute(src.data.y[0]), src.data.i[0]];""")
    ActionChains(browser).move_by_offset(int(x), int(y)).perform()
    info = wait_for(browser, "(() => { const t = Bokeh.documents[0].get_model_by_name('info').text;"
                             " return t.includes('hover-label') && t; })()", timeout=10)
    shot(browser, tmp_path, "explorer_hover")
    import re

    shown = int(re.search(r"test point (\d+)", info).group(1))
    labels = np.load(work / "results" / "mnist" / "data.npz")["test_labels"]
    assert f'id="hover-label">{labels[shown]}<' in info  # the label of the point it names
    assert labels[i] == 3 and shown in browser.execute_script(  # ... one drawn under the pointer
        "return Bokeh.documents[0].get_model_by_name('class_' + arguments[0]).data.i", int(labels[shown]))
    assert "hover-image" in info  # MNIST: the image itself


def test_the_explorer_opens_inside_mlflows_artifact_view(browser, ui, figures_run, tmp_path):
    from selenium.webdriver.common.by import By

    work, _ = figures_run
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/summary")
    (run,) = client.search_runs([exp.experiment_id], "tags.`layermaps.rule` = 'report_summary'")
    browser.get(f"{ui}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}/artifacts/explorer/explorer.html")
    wait_for(browser, "document.querySelector('iframe')")
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    try:
        wait_for(browser, "window.layermaps && window.layermaps.current")
        n_test = len(np.load(work / "results" / "mnist" / "data.npz")["test_labels"])
        assert browser.execute_script("return window.layermaps.drawn()") == n_test
    finally:
        browser.switch_to.default_content()
    shot(browser, tmp_path, "mlflow_explorer_artifact")
