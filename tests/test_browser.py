"""What a person sees, in a real browser (Debian's chromium, driven through chromedriver by
Selenium), on the tiny figures run: the MLflow UI served by `mlflow ui` opens an experiment on
its runs table with the runs' names, a run page shows its image artifact, and the map
explorer loads without JavaScript errors, draws every test point and shows a point's label
on hover. On a small explorer whose every vote and prediction is known (tests/explorer_data.py):
the selectors, the legend's hide/show, the label, prediction and kNN vote on hover, the rings
of the misvoted points, and class names holding markup shown as written, never run.
Screenshots go to each test's temporary folder; the run's summary lists them."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import explorer_data as ed
import numpy as np
import pytest
from conftest import SCREENSHOTS, mlflow_process, skip_unless_ci
from mlflow.tracking import MlflowClient

from layermaps.bench_page import browser_paths, headless_chromium
from layermaps.tracking.store import ui_links

pytestmark = pytest.mark.workflow

if not all(browser_paths()):
    skip_unless_ci(
        "no browser: install Debian's chromium and chromium-driver (.ci/run does) to run the browser tests"
    )


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium()
    yield driver
    driver.quit()


def shot(driver, folder: Path, name: str) -> Path:
    """A screenshot in the test's temporary folder (the run's summary lists them: conftest)."""
    path = folder / SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    driver.save_screenshot(str(path))
    return path


def wait_for(driver, script: str, timeout: float = 60.0, prelude: str = ""):
    """Poll a JavaScript expression (after the statements of `prelude`) until it is truthy;
    return its value."""
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(f"{prelude}return {script}")
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
    text = wait_for(
        browser, "document.body.innerText.includes('msds_w16 training') && document.body.innerText"
    )
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
    assert child[0].data.tags["mlflow.parentRunId"] == next(
        r.info.run_id for r in top if r.info.run_name == "msds_w16 training"
    )


def test_a_run_page_shows_its_image_artifact(browser, ui, figures_run, tmp_path):
    work, _ = figures_run
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/mnist")
    (run,) = client.search_runs([exp.experiment_id], "tags.reducer = 'pca' and tags.source = 'raw'")
    figures = [a.path for a in client.list_artifacts(run.info.run_id, "figures")]
    assert figures and figures[0].endswith(".png"), figures
    assert [a.path for a in client.list_artifacts(run.info.run_id, "embedding")] == ["embedding/pca.npz"]
    browser.get(f"{ui}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}/artifacts/{figures[0]}")
    size = wait_for(
        browser,
        "(() => { const i = [...document.images].find((i) => i.naturalWidth > 200);"
        " return i && [i.naturalWidth, i.naturalHeight]; })()",
    )
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
    current = browser.execute_script(
        "return [window.layermaps.current.model, window.layermaps.current.layer,"
        " window.layermaps.current.reducer, window.layermaps.current.accuracy]"
    )
    assert f"{current[3]:.4f}" in stats
    # hover a point of class 3 where the page drew it: its label appears
    x, y, i = browser.execute_script("""
        const views = [], walk = (v) => { views.push(v); for (const c of (v.child_views || [])) walk(c); };
        for (const v of (Bokeh.index.values ? Bokeh.index.values() : Object.values(Bokeh.index))) walk(v);
        const pv = views.find((v) => v.model.name === "map");
        const src = Bokeh.documents[0].get_model_by_name("class_3"), r = pv.canvas_view.el.getBoundingClientRect();
        return [r.left + pv.frame.x_scale.compute(src.data.x[0]), r.top + pv.frame.y_scale.compute(src.data.y[0]), src.data.i[0]];""")
    ActionChains(browser).move_by_offset(int(x), int(y)).perform()
    info = wait_for(
        browser,
        "(() => { const t = Bokeh.documents[0].get_model_by_name('info').text;"
        " return t.includes('hover-label') && t; })()",
        timeout=10,
    )
    shot(browser, tmp_path, "explorer_hover")
    import re

    shown = int(re.search(r"test point (\d+)", info).group(1))
    labels = np.load(work / "results" / "mnist" / "data.npz")["test_labels"]
    assert f'id="hover-label">{labels[shown]}<' in info  # the label of the point it names
    assert labels[i] == 3 and shown in browser.execute_script(  # ... one drawn under the pointer
        "return Bokeh.documents[0].get_model_by_name('class_' + arguments[0]).data.i", int(labels[shown])
    )
    assert "hover-image" in info  # MNIST: the image itself


def test_the_explorer_opens_inside_mlflows_artifact_view(browser, ui, figures_run, tmp_path):
    from selenium.webdriver.common.by import By

    work, _ = figures_run
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/summary")
    (run,) = client.search_runs([exp.experiment_id], "tags.`layermaps.rule` = 'report_summary'")
    browser.get(
        f"{ui}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}/artifacts/explorer/explorer.html"
    )
    wait_for(browser, "document.querySelector('iframe')")
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    try:
        wait_for(browser, "window.layermaps && window.layermaps.current")
        n_test = len(np.load(work / "results" / "mnist" / "data.npz")["test_labels"])
        assert browser.execute_script("return window.layermaps.drawn()") == n_test
    finally:
        browser.switch_to.default_content()
    shot(browser, tmp_path, "mlflow_explorer_artifact")


# ---- the explorer's behaviour, on a page whose every number is known -----------------------
# The page's views (Bokeh renders each widget in its own shadow root): `view(name)`.
VIEWS = """
const views = [], walk = (v) => { views.push(v); for (const c of (v.child_views || [])) walk(c); };
for (const v of (Bokeh.index.values ? Bokeh.index.values() : Object.values(Bokeh.index))) walk(v);
const view = (name) => views.find((v) => v.model.name === name);
const model = (name) => Bokeh.documents[0].get_model_by_name(name);
const legend = () => [...view("map").renderer_views.values()]
  .find((v) => v.model.type === "Legend");
"""
SHOWN = (
    "(() => { const e = view('info').shadow_el.querySelector('#hover-info');"
    " return e ? e.innerText : ''; })()"
)


@pytest.fixture(scope="module")
def known_explorer(tmp_path_factory) -> Path:
    from layermaps.figures.explorer import explorer_job

    folder = tmp_path_factory.mktemp("explorer")
    page = folder / "explorer.html"
    explorer_job(**ed.build(folder / "inputs"), out_path=page, log=lambda _: None)
    return page


@pytest.fixture
def explorer(browser, known_explorer):
    """The known explorer, freshly loaded and drawn: the browser."""
    browser.get("about:blank")
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(known_explorer.as_uri())
    wait_for(browser, "window.layermaps && window.layermaps.current")
    yield browser
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    assert browser.execute_script("return window.pwned") is None  # no class name's script ran


def js(driver, code: str, *args):
    return driver.execute_script(VIEWS + code, *args)


def current(driver) -> tuple:
    return tuple(
        js(
            driver,
            "const m = window.layermaps.current; return [m.dataset,"
            " m.model + (m.model === 'raw' ? '' : '/' + m.layer), m.reducer];",
        )
    )


def choose(driver, key: str, value: str) -> None:
    """Pick `value` in a selector the way a person does: the <select> in its shadow root."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    host = js(driver, "return view(arguments[0]).el", f"select_{key}")
    Select(host.shadow_root.find_element(By.CSS_SELECTOR, "select")).select_by_visible_text(value)
    wait_for(driver, f"window.layermaps.current.{key} === {value!r}")


def options(driver) -> dict:
    return {
        k: js(driver, "return model(arguments[0]).options", f"select_{k}")
        for k in ("dataset", "model", "layer", "reducer")
    }


def pointer_to(driver, x: float, y: float) -> None:
    """Move the mouse to viewport coordinates (a real pointer event, as a person's mouse)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(round(x)), int(round(y)))
    actions.perform()


def screen_xy(driver, c: int, j: int) -> tuple[float, float, int]:
    """Where the page draws the j-th point of class c, and its test point index."""
    return tuple(
        js(
            driver,
            """
        const pv = view("map"), src = model("class_" + arguments[0]), j = arguments[1];
        const r = pv.canvas_view.el.getBoundingClientRect();
        return [r.left + pv.frame.x_scale.compute(src.data.x[j]),
                r.top + pv.frame.y_scale.compute(src.data.y[j]), src.data.i[j]];""",
            c,
            j,
        )
    )


def hover(driver, i: int, timeout: float = 60.0) -> str:
    """Hover test point i where the page draws it; the hover panel's text once it names i.
    The map's ranges follow its data a frame later: aimed again until the panel shows i."""
    dataset = current(driver)[0]
    c = int(ed.labels(dataset)[i])
    j = js(driver, "return model('class_' + arguments[0]).data.i.indexOf(arguments[1])", c, i)
    assert j >= 0, f"test point {i} is not drawn among class {c}"
    end, nudge = time.time() + timeout, 0
    while time.time() < end:
        x, y, shown = screen_xy(driver, c, j)
        assert shown == i
        pointer_to(driver, x + nudge % 2, y)
        nudge += 1
        try:
            return wait_for(
                driver,
                f"(() => {{ const t = {SHOWN}; return t.startsWith('test point {i}\\n') && t; }})()",
                timeout=3,
                prelude=VIEWS,
            )
        except AssertionError:
            continue
    raise AssertionError(f"hovering test point {i} did not show it within {timeout} s")


def test_class_names_with_markup_show_as_written_on_hover_and_none_of_their_scripts_runs(explorer, tmp_path):
    driver = explorer
    assert current(driver) == ("odd", "raw", "pca")
    for i in range(4):  # one point of each class
        text = hover(driver, i)
        name = ed.ODD_CLASSES[i]
        vote = ed.ODD_CLASSES[ed.votes("odd", "raw", "pca")[i]]
        assert text.split("\n")[1] == f"label: {name}", text
        assert f"kNN vote in this map: {vote}" in text
        # the panel holds the names as text: no element of theirs (an <img> that runs its
        # onerror, a <b>) besides the point's own image
        tags = js(
            driver,
            "return [...view('info').shadow_el.querySelectorAll('#hover-info *')]"
            ".map((e) => e.tagName + (e.id ? '#' + e.id : ''))",
        )
        assert sorted(set(tags)) == ["B", "B#hover-label", "B#hover-vote", "BR", "IMG#hover-image"]
        if i == 2:
            shot(driver, tmp_path, "explorer_markup_class_name")
    # the legend's entries, the page's title and the data block: the same names, as text
    legend = js(
        driver, "return [...legend().shadow_el.querySelectorAll('.bk-label')].map((e) => e.textContent)"
    )
    assert legend == ed.ODD_CLASSES
    assert driver.title == "layermaps explorer: odd_names"
    assert driver.execute_script("return window.pwned") is None


def test_the_selectors_offer_the_maps_of_each_choice_and_draw_the_chosen_one(explorer):
    driver = explorer
    assert options(driver) == {
        "dataset": ["odd", "plain"],
        "model": ["raw", "net"],
        "layer": ["raw"],
        "reducer": ["pca"],
    }
    choose(driver, "model", "net")
    assert options(driver)["layer"] == ["hidden1", "hidden2"]
    assert current(driver) == ("odd", "net/hidden1", "pca")
    assert options(driver)["reducer"] == ["pca", "umap"]
    choose(driver, "reducer", "umap")
    choose(driver, "layer", "hidden2")  # hidden2 has only a PCA map: the map follows
    assert options(driver)["reducer"] == ["pca"]
    assert current(driver) == ("odd", "net/hidden2", "pca")
    choose(driver, "dataset", "plain")
    assert options(driver) == {
        "dataset": ["odd", "plain"],
        "model": ["raw"],
        "layer": ["raw"],
        "reducer": ["pca"],
    }
    assert current(driver) == ("plain", "raw", "pca")
    # the chosen map is drawn: its points where its embedding puts them, its classes in the legend
    j = list(ed.MISVOTED).index(("plain", "raw", "pca"))
    xy, labels = ed.test_points(j), ed.labels("plain")
    for c in range(len(ed.ODD_CLASSES)):
        data = js(driver, "const d = model('class_' + arguments[0]).data; return [d.i, d.x, d.y]", c)
        assert data[0] == [i for i in range(ed.N_TEST) if labels[i] == c]
        assert np.allclose(np.array(data[1:]).T, xy[data[0]].reshape(-1, 2), atol=1e-3 * ed.SPACING)
    assert (
        js(driver, "return legend().model.items.filter((it) => it.visible).map((it) => it.label.value)")
        == ed.PLAIN_CLASSES
    )
    assert driver.execute_script("return window.layermaps.drawn()") == ed.N_TEST
    stats = js(driver, "return view('stats').shadow_el.textContent")
    assert f"kNN accuracy (k={ed.K}) of the test points {11 / 12:.4f}" in stats, stats
    assert "1 misvoted" in stats


def test_hovering_shows_the_label_the_models_prediction_and_the_maps_knn_vote(explorer, tmp_path):
    driver = explorer
    choose(driver, "model", "net")
    choose(driver, "reducer", "umap")
    key = ("odd", "net/hidden1", "umap")
    assert current(driver) == key
    names, labels, votes, pred = (ed.ODD_CLASSES, ed.labels("odd"), ed.votes(*key), ed.predicted("odd"))
    for i in (0, 3, 5, 6):  # misvoted (0, 5), mispredicted (3), both right (6)
        lines = hover(driver, i).split("\n")
        assert lines[:4] == [
            f"test point {i}",
            f"label: {names[labels[i]]}",
            f"net predicts: {names[pred[i]]}",
            f"kNN vote in this map: {names[votes[i]]}" + ("" if votes[i] == labels[i] else " (wrong)"),
        ], lines
        assert js(driver, "return !!view('info').shadow_el.querySelector('#hover-image')")
    shot(driver, tmp_path, "explorer_hover_prediction")
    choose(driver, "model", "raw")  # raw pixels: no model, no prediction
    assert "predicts" not in hover(driver, 7)


def test_a_legend_entry_hides_and_shows_its_class(explorer, tmp_path):
    driver = explorer

    def click_entry(c: int) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        item = js(driver, "return legend().shadow_el.querySelectorAll('.bk-item')[arguments[0]]", c)
        ActionChains(driver).click(item).perform()

    visible = "return [0, 1, 2, 3].map((c) => model('points_' + c).visible)"
    assert js(driver, visible) == [True] * 4
    click_entry(2)
    wait_for(driver, prelude=VIEWS, script="model('points_2').visible === false")
    assert js(driver, visible) == [True, True, False, True]
    shot(driver, tmp_path, "explorer_class_hidden")
    hover(driver, 1)  # the other classes still answer a hover
    click_entry(2)
    wait_for(driver, prelude=VIEWS, script="model('points_2').visible === true")
    assert hover(driver, 2).split("\n")[1] == f"label: {ed.ODD_CLASSES[2]}"


def test_the_switch_rings_exactly_the_points_the_maps_knn_vote_gets_wrong(explorer, tmp_path):
    from selenium.webdriver.common.by import By

    driver = explorer
    host = js(driver, "return view('show_wrong').el")
    box = host.shadow_root.find_element(By.CSS_SELECTOR, "input[type=checkbox]")
    assert js(driver, "return model('wrong_points').visible") is False
    box.click()
    wait_for(driver, prelude=VIEWS, script="model('wrong_points').visible === true")
    for key in [k for k in ed.MISVOTED if k[0] == "odd"]:
        model, _, layer = key[1].partition("/")
        if current(driver)[1] != key[1]:
            choose(driver, "model", model)
            if layer:
                choose(driver, "layer", layer)
        if current(driver)[2] != key[2]:
            choose(driver, "reducer", key[2])
        assert current(driver) == key
        ringed = js(driver, "return model('wrong').data.i")
        assert ringed == ed.MISVOTED[key], key
        # ... each where its point is drawn
        j = list(ed.MISVOTED).index(key)
        xy = js(driver, "const d = model('wrong').data; return [d.x, d.y]")
        assert np.allclose(
            np.array(xy).T.reshape(-1, 2), ed.test_points(j)[ringed].reshape(-1, 2), atol=1e-3 * ed.SPACING
        )
        assert js(driver, "return model('wrong_points').visible") is True  # the switch holds
        if key == ("odd", "net/hidden1", "umap"):
            shot(driver, tmp_path, "explorer_misvote_rings")
    box.click()
    wait_for(driver, prelude=VIEWS, script="model('wrong_points').visible === false")
