"""The map explorer: one self-contained HTML page per study with every map of the study.

Choose the dataset, the source (raw pixels or a model), the layer and the map; the test points
are drawn coloured by class (WebGL), a legend entry hides or shows its class, hovering a point
shows its label, the model's predicted label, the map's kNN vote and, for image data, the
image; a switch rings the points the map's kNN vote gets wrong. The map's kNN accuracy and
trustworthiness (its score record) stand beside it.

Bokeh builds the page and inlines BokehJS (about 1.8 MB), so it opens offline and inside
MLflow's artifact view. The data travels compactly: coordinates as uint16 over the map's
bounding box, labels and votes as uint8, each dataset's test images once, as one PNG sheet.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
from pathlib import Path

import numpy as np

from layermaps.atomic import atomic_path
from layermaps.embed.records import Embedding, Score
from layermaps.measures.pointwise import knn_votes
from layermaps.paths import split_source

SHEET_COLUMNS = 100  # images per row of a dataset's image sheet
QUANT = 65535  # coordinates as uint16: 1/65535 of the map's extent is far below a pixel
PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]  # matplotlib's tab10, as the static figures use
NO_LABEL = 255


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def image_sheet(images: np.ndarray, shape) -> str:
    """The test images as one grayscale PNG (SHEET_COLUMNS per row), base64."""
    from PIL import Image

    h, w = (int(s) for s in shape)
    n = len(images)
    rows = -(-n // SHEET_COLUMNS)
    sheet = np.zeros((rows * h, SHEET_COLUMNS * w), np.uint8)
    tiles = np.asarray(images, np.uint8).reshape(n, h, w)
    for i in range(n):
        r, c = divmod(i, SHEET_COLUMNS)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = tiles[i]
    buf = io.BytesIO()
    Image.fromarray(sheet).save(buf, "PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def quantize(xy: np.ndarray) -> tuple[str, list[float]]:
    """(base64 of uint16 x then y, [x0, x1, y0, y1]) of 2-D points."""
    xy = np.asarray(xy, np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    q = np.rint((xy - lo) / span * QUANT).astype(np.uint16)
    return _b64(np.concatenate([q[:, 0], q[:, 1]])), [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]


def dataset_block(data_path) -> dict:
    """What the page needs of one dataset: test labels, class names, images if it has them."""
    with np.load(data_path, allow_pickle=False) as d:
        block = {
            "labels": _b64(d["test_labels"].astype(np.uint8)),
            "n": int(len(d["test_labels"])),
            "classes": [str(c) for c in d["class_names"]],
        }
        fit_labels = d["train_labels"][d["fit_idx"]]
        shape = d["image_shape"] if "image_shape" in d.files else None
        if shape is not None and len(shape) == 2 and int(np.prod(shape)) == d["test_images"].shape[1]:
            block.update(
                sheet=image_sheet(d["test_images"], shape),
                shape=[int(s) for s in shape],
                columns=SHEET_COLUMNS,
            )
    return block, fit_labels


def explorer_page(
    *, study: str, maps: list[dict], data_paths: dict, prediction_paths: dict, k: int, compare: bool = False
) -> str:
    """The page's HTML. maps: [{dataset, source, reducer, embedding, score}] in display order;
    prediction_paths: {(dataset, model): output_test.npy} for the models that have one; compare:
    the study has a compare page beside it (compare.html), linked from this one."""
    from bokeh.embed import file_html, json_item
    from bokeh.layouts import column, row
    from bokeh.models import Checkbox, ColumnDataSource, CustomJS, Div, HoverTool, Legend, LegendItem, Select
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    datasets, fit_labels = {}, {}
    for d in dict.fromkeys(m["dataset"] for m in maps):
        datasets[d], fit_labels[d] = dataset_block(data_paths[d])
    predictions = {}
    for (d, model), path in prediction_paths.items():
        predictions[f"{d}|{model}"] = _b64(np.argmax(np.load(path), axis=1).astype(np.uint8))
    entries = []
    for m in maps:
        emb, score = Embedding.load(m["embedding"]), Score.load(m["score"])
        votes = knn_votes(emb, emb.fit_labels(fit_labels[m["dataset"]]), k)
        if len(emb.test) != datasets[m["dataset"]]["n"]:
            raise ValueError(
                f"{m['embedding']} has {len(emb.test)} test points, "
                f"{data_paths[m['dataset']]} {datasets[m['dataset']]['n']}: rerun the embedding"
            )
        model, layer = split_source(m["source"])
        xy, box = quantize(emb.test)
        knn = score.knn.get(f"k{k}", {})
        entries.append(
            {
                "dataset": m["dataset"],
                "model": model,
                "layer": layer,
                "reducer": m["reducer"],
                "xy": xy,
                "box": box,
                "votes": _b64(votes.astype(np.uint8)),
                "accuracy": knn.get("accuracy"),
                "trust": score.trustworthiness,
                "n_fit": len(emb.train),
                "protocol": emb.protocol,
                "pred": f"{m['dataset']}|{model}" if f"{m['dataset']}|{model}" in predictions else None,
            }
        )
    n_classes = max(len(b["classes"]) for b in datasets.values())

    plot = figure(
        title=f"{study}: test points in each map",
        output_backend="webgl",
        width=760,
        height=640,
        tools="pan,wheel_zoom,box_zoom,reset,save",
        active_scroll="wheel_zoom",
        match_aspect=False,
        name="map",
    )
    sources, items = [], []
    for c in range(n_classes):
        src = ColumnDataSource({"x": [], "y": [], "i": []}, name=f"class_{c}")
        r = plot.scatter(
            "x", "y", source=src, size=4, alpha=0.7, color=PALETTE[c % len(PALETTE)], name=f"points_{c}"
        )
        sources.append(src)
        items.append(LegendItem(label=str(c), renderers=[r]))
    wrong = ColumnDataSource({"x": [], "y": [], "i": []}, name="wrong")
    wrong_r = plot.scatter(
        "x",
        "y",
        source=wrong,
        size=9,
        fill_alpha=0,
        line_color="black",
        line_width=1.2,
        visible=False,
        name="wrong_points",
    )
    legend = Legend(items=items, click_policy="hide", title="class (click: hide/show)")
    plot.add_layout(legend, "right")
    hover = HoverTool(
        renderers=[plot.select_one({"name": f"points_{c}"}) for c in range(n_classes)], tooltips=None
    )
    plot.add_tools(hover)
    pick = {
        key: Select(title=title, name=f"select_{key}", width=200)
        for key, title in [
            ("dataset", "dataset"),
            ("model", "source"),
            ("layer", "layer"),
            ("reducer", "map"),
        ]
    }
    show_wrong = Checkbox(label="ring the points the map's kNN vote gets wrong", name="show_wrong")
    stats = Div(name="stats", width=760)
    info = Div(name="info", width=240, text="Hover a point: its image, label and predictions.")
    state = dict(
        maps=entries,
        datasets=datasets,
        predictions=predictions,
        k=k,
        sources=sources,
        wrong=wrong,
        wrong_r=wrong_r,
        legend=legend,
        pick=pick,
        stats=stats,
        info=info,
        show_wrong=show_wrong,
        plot=plot,
    )
    init = CustomJS(args=state, code=APP_JS)
    for s in pick.values():
        s.js_on_change("value", CustomJS(args=dict(key=s.name), code="window.layermaps.picked(key)"))
    show_wrong.js_on_change("active", CustomJS(code="window.layermaps.ringWrong()"))
    hover.callback = CustomJS(code="window.layermaps.hovered(cb_data)")
    side = [info, show_wrong]
    if compare:
        side.append(Div(name="compare_link", text='<a href="compare.html">compare two maps side by side</a>'))
    layout = column(row(*pick.values()), row(plot, column(*side)), stats)
    from bokeh.document import Document

    doc = Document()
    doc.add_root(layout)
    doc.js_on_event("document_ready", init)
    # The page is the same bytes for the same inputs (a rerun that changes nothing shows no
    # change): file_html's own render items carry random ids (uuid4), so the template below
    # renders the document from json_item instead, its model ids numbered in document order.
    item = stable_ids(json_item(layout, ROOT_ID))
    return file_html(
        doc,
        INLINE,
        f"layermaps explorer: {study}",
        template=PAGE,
        template_variables={"item": script_json(item)},
    )


ROOT_ID = "layermaps-explorer"
# file_html's page (base: Bokeh's resources and <title>) with the document embedded by
# Bokeh.embed.embed_item, its JSON in a <script> element (script_json).
PAGE = f"""{{% block inner_body %}}
<div id="{ROOT_ID}" style="display: contents;"></div>
<script type="application/json" id="{ROOT_ID}-item">{{{{ item }}}}</script>
<script>
Bokeh.embed.embed_item(JSON.parse(document.getElementById("{ROOT_ID}-item").textContent));
</script>
{{% endblock %}}"""


# <, > and & inside JSON strings as \u escapes: no string of a dataset or config can end the
# <script> element that holds the JSON ("</script>") or open another.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def script_json(obj) -> str:
    return json.dumps(obj, allow_nan=False).translate(_SCRIPT_SAFE)


def stable_ids(item: dict) -> dict:
    """json_item's output with every model id renamed p1, p2, ... in order of appearance.
    Bokeh numbers models from a process-wide counter: the same page built after other models
    (a second build in one process) would otherwise get other ids."""
    defined = set()

    def collect(x):
        if isinstance(x, dict):
            if x.get("type") == "object" and isinstance(x.get("id"), str):
                defined.add(x["id"])
            for v in x.values():
                collect(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                collect(v)

    collect(item)
    names, counter = {}, itertools.count(1)

    def rename(x):
        if isinstance(x, dict):
            out = {}
            for k, v in x.items():
                if k in ("id", "root_id") and isinstance(v, str) and v in defined:
                    if v not in names:
                        names[v] = f"p{next(counter)}"
                    out[k] = names[v]
                else:
                    out[k] = rename(v)
            return out
        if isinstance(x, (list, tuple)):
            return [rename(v) for v in x]
        return x

    return rename(item)


def explorer_job(
    *,
    study: str,
    maps: list[dict],
    data_paths: dict,
    prediction_paths: dict,
    k: int,
    out_path,
    compare: bool = False,
    log=print,
) -> int:
    html = explorer_page(
        study=study, maps=maps, data_paths=data_paths, prediction_paths=prediction_paths, k=k, compare=compare
    )
    with atomic_path(Path(out_path)) as tmp:
        tmp.write_text(html)
    size = Path(out_path).stat().st_size
    log(f"[explorer] {out_path}: {len(maps)} maps, {size / 1e6:.1f} MB")
    return size


# The page's behaviour: runs once when the document is ready; the widgets call into it.
APP_JS = r"""
const dec = (b64, Type) => { const s = atob(b64); const u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return new Type(u.buffer); };
const cache = {};
const once = (key, make) => (key in cache ? cache[key] : (cache[key] = make()));
const uniq = (xs) => [...new Set(xs)];
// Every name from a dataset or the config reaches the panels' HTML escaped: shown as written,
// never run as markup (a class name may hold <, &, quotes).
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
  '"': "&quot;", "'": "&#39;"})[c]);
const app = {
  current: null,
  labels(d) { return once("labels|" + d, () => dec(datasets[d].labels, Uint8Array)); },
  votes(m) { return once("votes|" + maps.indexOf(m), () => dec(m.votes, Uint8Array)); },
  pred(m) { return m.pred ? once("pred|" + m.pred, () => dec(predictions[m.pred], Uint8Array)) : null; },
  coords(m) {
    return once("xy|" + maps.indexOf(m), () => {
      const q = dec(m.xy, Uint16Array), n = q.length / 2, [x0, x1, y0, y1] = m.box;
      const x = new Float64Array(n), y = new Float64Array(n);
      for (let i = 0; i < n; i++) { x[i] = x0 + q[i] / 65535 * (x1 - x0); y[i] = y0 + q[n + i] / 65535 * (y1 - y0); }
      return {x, y};
    });
  },
  sheet(d) {
    return once("sheet|" + d, () => { const img = new Image();
      img.src = "data:image/png;base64," + datasets[d].sheet; return img; });
  },
  matching(key) {  // maps that agree with every select above `key`
    const order = ["dataset", "model", "layer", "reducer"];
    const upto = order.slice(0, order.indexOf(key));
    return maps.filter((m) => upto.every((k) => pick[k].value === m[k]));
  },
  fill(key) {
    const options = uniq(app.matching(key).map((m) => m[key]));
    pick[key].options = options;
    if (!options.includes(pick[key].value)) pick[key].value = options[0];
  },
  picked(name) {
    const order = ["dataset", "model", "layer", "reducer"];
    const key = name.replace("select_", "");
    for (const k of order.slice(order.indexOf(key) + 1)) app.fill(k);
    app.draw();
  },
  draw() {
    const m = maps.find((m) => ["dataset", "model", "layer", "reducer"].every((k) => pick[k].value === m[k]));
    if (!m) return;
    app.current = m;
    const labels = app.labels(m.dataset), {x, y} = app.coords(m), classes = datasets[m.dataset].classes;
    sources.forEach((src, c) => {
      const idx = []; for (let i = 0; i < labels.length; i++) if (labels[i] === c) idx.push(i);
      src.data = {x: idx.map((i) => x[i]), y: idx.map((i) => y[i]), i: idx};
      const item = legend.items[c];
      item.label = {value: c < classes.length ? classes[c] : ""};
      item.visible = c < classes.length;
    });
    const votes = app.votes(m), bad = [];
    for (let i = 0; i < labels.length; i++) if (votes[i] !== labels[i]) bad.push(i);
    wrong.data = {x: bad.map((i) => x[i]), y: bad.map((i) => y[i]), i: bad};
    app.ringWrong();
    const acc = m.accuracy == null ? "n/a" : m.accuracy.toFixed(4);
    const trust = m.trust == null ? "n/a" : m.trust.toFixed(4);
    const source = m.model === "raw" ? "raw pixels" : m.model + " / " + m.layer;
    stats.text = `<b>${esc(m.dataset)} | ${esc(source)} | ${esc(m.reducer)}</b>: ` +
      `kNN accuracy (k=${k}) of the test points <b id="knn">${acc}</b>, trustworthiness ` +
      `${trust}; ${labels.length} test points placed in a map fitted on ${m.n_fit} training ` +
      `points (${esc(m.protocol)}); ${bad.length} misvoted.`;
    plot.title.text = `${m.dataset} | ${source} | ${m.reducer}: ${labels.length} test points`;
  },
  ringWrong() { wrong_r.visible = show_wrong.active; },
  drawn() { return sources.reduce((n, s) => n + s.data.x.length, 0); },
  hovered(cb) {
    const m = app.current; if (!m) return;
    const hit = sources.map((s) => [s, cb.index.indices]).find(([s, ix]) => ix.length && cb.renderer.data_source === s);
    if (!hit) return;
    const i = hit[0].data.i[hit[1][0]], d = datasets[m.dataset], names = d.classes;
    const label = app.labels(m.dataset)[i], vote = app.votes(m)[i], pred = app.pred(m);
    let html = `<div id="hover-info"><b>test point ${i}</b><br>label: <b id="hover-label">` +
      `${esc(names[label])}</b>`;
    if (pred) html += `<br>${esc(m.model)} predicts: <b id="hover-pred">${esc(names[pred[i]])}</b>`;
    html += `<br>kNN vote in this map: <b id="hover-vote">${esc(names[vote])}</b>` +
      (vote === label ? "" : " (wrong)");
    if (d.sheet) {
      const [h, w] = d.shape, c = document.createElement("canvas"), scale = 4;
      c.width = w * scale; c.height = h * scale;
      const g = c.getContext("2d"); g.imageSmoothingEnabled = false;
      const r = Math.floor(i / d.columns), col = i % d.columns;
      g.drawImage(app.sheet(m.dataset), col * w, r * h, w, h, 0, 0, w * scale, h * scale);
      html += `<br><img id="hover-image" src="${c.toDataURL()}" width="${w * scale}" height="${h * scale}">`;
    }
    info.text = html + "</div>";
  },
};
window.layermaps = app;
pick.dataset.options = uniq(maps.map((m) => m.dataset));
pick.dataset.value = maps[0].dataset;
for (const k of ["model", "layer", "reducer"]) app.fill(k);
for (const d of Object.keys(datasets)) if (datasets[d].sheet) app.sheet(d);
app.draw();
"""
