"""The compare page: two of a study's maps side by side, one self-contained HTML page per study
(results/studies/{study}/compare.html, beside its map explorer and linked both ways).

Choose the dataset, then a source and a map on each side. The right map is turned onto the
left (orthogonal Procrustes over the test points: rotation, reflection, uniform scale; the
residual disparity shown; a switch turns it off). A box or lasso selection in either map
selects the same test points in the other; hovering a point rings it in both and shows its
image, label, each model's prediction and each map's kNN vote; clicking one lists its nearest
test neighbours in each source's own space as thumbnails, the shared ones framed. Colour by
class, by neighbourhood change between the two sources or the two maps (Jaccard), by how much
of its source neighbourhood each map keeps, or by whether each map's kNN vote is right.

Every per-point value comes from the study's compare records (layermaps.measures.compare);
the page decodes and draws them. Data travels as the explorer's does (uint16 coordinates,
uint8 counts, one PNG sheet of images per dataset), Bokeh inlined: it opens offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from layermaps.atomic import atomic_path
from layermaps.embed.records import Embedding
from layermaps.figures.explorer import (
    PAGE,
    PALETTE,
    ROOT_ID,
    _b64,
    dataset_block,
    quantize,
    script_json,
    stable_ids,
)
from layermaps.measures.compare import read_compare
from layermaps.paths import RAW, Source

COLOUR_BY = {
    "class": "class",
    "sources": "neighbours kept between the two sources (Jaccard)",
    "maps": "neighbours kept between the two maps (Jaccard)",
    "kept_left": "left map: share of its source neighbours it keeps",
    "kept_right": "right map: share of its source neighbours it keeps",
    "vote_left": "left map: kNN vote right (green) or wrong (red)",
    "vote_right": "right map: kNN vote right (green) or wrong (red)",
}


def source_title(source: str) -> str:
    return "raw pixels" if source == RAW else str(Source.parse(source)).replace("/", " / ")


def _dataset_entry(dataset: str, record: dict, arrays: dict, embedding_paths: list, data_path) -> dict:
    c = record["compare"]
    block, _ = dataset_block(data_path)
    n = block["n"]
    if c["rows"] != n:
        raise ValueError(
            f"the compare record of {dataset} holds {c['rows']} test rows, {data_path} {n}: rerun it"
        )
    maps = []
    for i, (m, path) in enumerate(zip(c["maps"], embedding_paths, strict=True)):
        test = Embedding.load(path).test
        if len(test) != n:
            raise ValueError(f"{path} places {len(test)} test points, the dataset has {n}: rerun it")
        xy, box = quantize(test)
        owner = RAW if m["source"] == RAW else Source.parse(m["source"]).owner
        maps.append(
            {
                "source": m["source"],
                "reducer": m["map"],
                "owner": owner,
                "xy": xy,
                "box": box,
                "votes": _b64(arrays["votes"][i].astype(np.uint8)),
                "kept": _b64(arrays["map_kept"][i].astype(np.uint8)),
                "kept_mean": m["kept_mean"],
                "vote_accuracy": m["vote_accuracy"],
            }
        )
    nn = arrays["source_neighbours"]
    wide = nn.dtype.itemsize > 2
    return {
        **block,
        "k": c["k"],
        "vote_k": c["vote_k"],
        "sources": c["sources"],
        "titles": [source_title(s) for s in c["sources"]],
        "maps": maps,
        "nn_wide": wide,
        "src_nn": [_b64(a.astype(np.uint32 if wide else np.uint16)) for a in nn],
        "source_pairs": {
            f"{p['pair'][0]}|{p['pair'][1]}": {"shared": _b64(s.astype(np.uint8)), "mean": p["jaccard_mean"]}
            for p, s in zip(c["source_pairs"], arrays["source_shared"], strict=True)
        },
        "map_pairs": {
            f"{p['pair'][0]}|{p['pair'][1]}": {"shared": _b64(s.astype(np.uint8)), "mean": p["jaccard_mean"]}
            for p, s in zip(c["map_pairs"], arrays["map_shared"], strict=True)
        },
        # aligned right = [x, y, 1] @ affine[left][right] (3 x 2, row by row); disparity[left][right]
        "affine": np.round(arrays["affine"].reshape(len(maps), len(maps), 6), 10).tolist(),
        "disparity": np.round(arrays["disparity"], 6).tolist(),
    }


def compare_page(*, study: str, datasets: dict, prediction_paths: dict) -> str:
    """The page's HTML. datasets: {dataset: (compare record path, arrays path, [embedding paths
    in the record's map order], data path)}; prediction_paths: {(dataset, model): output_test.npy}."""
    from bokeh.document import Document
    from bokeh.embed import file_html, json_item
    from bokeh.layouts import column, row
    from bokeh.models import (
        BoxSelectTool,
        Checkbox,
        ColumnDataSource,
        CustomJS,
        Div,
        HoverTool,
        LassoSelectTool,
        Select,
        TapTool,
    )
    from bokeh.palettes import Magma256
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    entries = {}
    for d, (record_path, arrays_path, embedding_paths, data_path) in datasets.items():
        record, arrays = read_compare(record_path, arrays_path)
        entries[d] = _dataset_entry(d, record, arrays, embedding_paths, data_path)
    predictions = {
        f"{d}|{model}": _b64(np.argmax(np.load(path), axis=1).astype(np.uint8))
        for (d, model), path in prediction_paths.items()
    }
    plots, points, rings = {}, {}, {}
    for side in ("left", "right"):
        p = figure(
            title=side,
            output_backend="webgl",
            width=560,
            height=520,
            tools="pan,wheel_zoom,reset,save",
            active_scroll="wheel_zoom",
            name=f"plot_{side}",
        )
        src = ColumnDataSource({"x": [], "y": [], "color": []}, name=f"points_{side}")
        r = p.scatter("x", "y", source=src, size=4, alpha=0.75, color="color", name=f"scatter_{side}")
        r.selection_glyph = r.glyph.clone(fill_alpha=1.0, line_alpha=1.0)
        r.nonselection_glyph = r.glyph.clone(fill_alpha=0.08, line_alpha=0.08)
        ring = ColumnDataSource({"x": [], "y": []}, name=f"ring_{side}")
        p.scatter("x", "y", source=ring, size=14, fill_alpha=0, line_color="black", line_width=2)
        box, lasso = BoxSelectTool(renderers=[r]), LassoSelectTool(renderers=[r])
        hover = HoverTool(renderers=[r], tooltips=None)
        hover.callback = CustomJS(args={"side": side}, code="window.layermaps.hovered(side, cb_data)")
        p.add_tools(box, lasso, TapTool(renderers=[r]), hover)
        p.toolbar.active_drag = box
        src.selected.js_on_change(
            "indices", CustomJS(args={"side": side}, code="window.layermaps.selected(side)")
        )
        plots[side], points[side], rings[side] = p, src, ring
    pick = {"dataset": Select(title="dataset", name="select_dataset", width=180)}
    for side in ("left", "right"):
        pick[f"{side}_source"] = Select(title=f"{side}: source", name=f"select_{side}_source", width=220)
        pick[f"{side}_map"] = Select(title=f"{side}: map", name=f"select_{side}_map", width=160)
    colour = Select(
        title="colour by",
        name="select_colour",
        width=360,
        options=[(k, v) for k, v in COLOUR_BY.items()],
        value="class",
    )
    align = Checkbox(label="turn the right map onto the left (Procrustes)", name="align", active=True)
    stats = Div(name="stats", width=1140)
    key = Div(name="key", width=1140)
    info = Div(name="info", width=260, text="Hover a point: its image, label and predictions.")
    neighbours = Div(
        name="neighbours",
        width=1140,
        text="Click a point: its nearest test neighbours in each source's own space.",
    )
    link = Div(
        name="link",
        text='<a href="explorer.html">the map explorer: one map at a time, every map of the study</a>',
    )
    state = dict(
        datasets=entries,
        predictions=predictions,
        palette=list(PALETTE),
        ramp=list(Magma256),
        pick=pick,
        colour=colour,
        align=align,
        points=points,
        rings=rings,
        plots=plots,
        stats=stats,
        key=key,
        info=info,
        neighbours=neighbours,
    )
    for name, s in pick.items():
        s.js_on_change("value", CustomJS(args={"key": name}, code="window.layermaps.picked(key)"))
    colour.js_on_change("value", CustomJS(code="window.layermaps.draw()"))
    align.js_on_change("active", CustomJS(code="window.layermaps.draw()"))
    layout = column(
        row(pick["dataset"], pick["left_source"], pick["left_map"], pick["right_source"], pick["right_map"]),
        row(colour, align, link),
        stats,
        row(plots["left"], plots["right"], info),
        key,
        neighbours,
    )
    doc = Document()
    doc.add_root(layout)
    doc.js_on_event("document_ready", CustomJS(args=state, code=APP_JS))
    item = stable_ids(json_item(layout, ROOT_ID))
    return file_html(
        doc,
        INLINE,
        f"layermaps compare: {study}",
        template=PAGE,
        template_variables={"item": script_json(item)},
    )


def compare_page_job(*, study: str, datasets: dict, prediction_paths: dict, out_path, log=print) -> int:
    html = compare_page(study=study, datasets=datasets, prediction_paths=prediction_paths)
    with atomic_path(Path(out_path)) as tmp:
        tmp.write_text(html)
    size = Path(out_path).stat().st_size
    maps = sum(len(v[2]) for v in datasets.values())
    log(f"[compare] {out_path}: {maps} maps of {len(datasets)} dataset(s), {size / 1e6:.1f} MB")
    return size


APP_JS = r"""
const dec = (b64, Type) => { const s = atob(b64); const u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return new Type(u.buffer); };
const cache = {};
const once = (key, make) => (key in cache ? cache[key] : (cache[key] = make()));
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
  '"': "&quot;", "'": "&#39;"})[c]);
const SIDES = ["left", "right"];
const app = {
  dataset: null, chosen: {left: null, right: null}, syncing: false, focus: null,
  d() { return datasets[app.dataset]; },
  labels() { return once("labels|" + app.dataset, () => dec(app.d().labels, Uint8Array)); },
  mapIndex(side) {
    const d = app.d(), s = pick[side + "_source"].value, r = pick[side + "_map"].value;
    return d.maps.findIndex((m) => m.source === s && m.reducer === r);
  },
  arr(name, i, field, Type) {
    return once(`${name}|${app.dataset}|${i}`, () => dec(app.d().maps[i][field], Type));
  },
  coords(i) {
    return once(`xy|${app.dataset}|${i}`, () => {
      const m = app.d().maps[i], q = dec(m.xy, Uint16Array), n = q.length / 2, [x0, x1, y0, y1] = m.box;
      const x = new Float64Array(n), y = new Float64Array(n);
      for (let j = 0; j < n; j++) { x[j] = x0 + q[j] / 65535 * (x1 - x0); y[j] = y0 + q[n + j] / 65535 * (y1 - y0); }
      return {x, y};
    });
  },
  neighboursOf(s) {
    const d = app.d();
    return once(`nn|${app.dataset}|${s}`, () => dec(d.src_nn[s], d.nn_wide ? Uint32Array : Uint16Array));
  },
  pair(kind, a, b) {  // a pair's per-point shared-neighbour counts, or null if not compared
    if (a === b) return null;
    const [i, j] = a < b ? [a, b] : [b, a], key = i + "|" + j, entry = app.d()[kind][key];
    return entry ? {shared: once(`${kind}|${app.dataset}|${key}`, () => dec(entry.shared, Uint8Array)), mean: entry.mean} : null;
  },
  pred(m) {
    const key = app.dataset + "|" + m.owner;
    return key in predictions ? once("pred|" + key, () => dec(predictions[key], Uint8Array)) : null;
  },
  sheet() {
    const d = app.d();
    return d.sheet ? once("sheet|" + app.dataset, () => { const img = new Image();
      img.src = "data:image/png;base64," + d.sheet; return img; }) : null;
  },
  fillMaps(side) {
    const d = app.d(), s = pick[side + "_source"].value;
    const options = d.maps.filter((m) => m.source === s).map((m) => m.reducer);
    pick[side + "_map"].options = options;
    if (!options.includes(pick[side + "_map"].value)) pick[side + "_map"].value = options[0];
  },
  picked(key) {
    if (key === "dataset") {
      app.dataset = pick.dataset.value;
      const d = app.d(), opts = d.sources.map((s, i) => [s, d.titles[i]]);
      const first = d.maps[0], second = d.maps.find((m) => m.source !== first.source) || d.maps[Math.min(1, d.maps.length - 1)];
      pick.left_source.options = opts; pick.right_source.options = opts;
      pick.left_source.value = first.source; app.fillMaps("left"); pick.left_map.value = first.reducer;
      pick.right_source.value = second.source; app.fillMaps("right"); pick.right_map.value = second.reducer;
      app.focus = null; neighbours.text = "Click a point: its nearest test neighbours in each source's own space.";
    } else if (key.endsWith("_source")) {
      app.fillMaps(key.split("_")[0]);
    }
    app.draw();
  },
  colours(li, ri) {
    const mode = colour.value, labels = app.labels(), n = labels.length, d = app.d();
    const out = new Array(n), grey = "#bbbbbb";
    const ramp01 = (v) => ramp[Math.max(0, Math.min(255, Math.round(v * 255)))];
    const L = d.maps[li], R = d.maps[ri], k = d.k;
    let note = "";
    if (mode === "class") {
      for (let j = 0; j < n; j++) out[j] = palette[labels[j] % palette.length];
      note = "colour: class (" + d.classes.map((c, i) => `<span style="color:${palette[i % palette.length]}">&#9679;</span> ${esc(c)}`).join(", ") + ")";
    } else if (mode === "sources" || mode === "maps") {
      const a = mode === "sources" ? d.sources.indexOf(L.source) : li, b = mode === "sources" ? d.sources.indexOf(R.source) : ri;
      const p = app.pair(mode === "sources" ? "source_pairs" : "map_pairs", a, b);
      if (a === b) { out.fill(ramp01(1)); note = "the same " + (mode === "sources" ? "source" : "map") + " on both sides: every neighbour kept"; }
      else if (!p) { out.fill(grey); note = "this pair of maps differs in both source and map: not compared (choose two maps of one source, or one map of two sources)"; }
      else {
        for (let j = 0; j < n; j++) { const s = p.shared[j]; out[j] = ramp01(s / (2 * k - s)); }
        note = `colour: Jaccard index of each point's ${k} nearest test neighbours ${mode === "sources" ? "in the two sources' own spaces" : "in the two maps"} (light: kept, dark: regrouped); mean <b id="pair-mean">${p.mean.toFixed(3)}</b>`;
      }
    } else if (mode.startsWith("kept")) {
      const i = mode.endsWith("left") ? li : ri, kept = app.arr("kept", i, "kept", Uint8Array);
      for (let j = 0; j < n; j++) out[j] = ramp01(kept[j] / k);
      note = `colour: share of each point's ${k} nearest test neighbours in its source that the ${mode.endsWith("left") ? "left" : "right"} map keeps among its ${k} nearest (light: kept; dark: the map tears its neighbourhood); mean ${d.maps[i].kept_mean.toFixed(3)}`;
    } else {
      const i = mode.endsWith("left") ? li : ri, votes = app.arr("votes", i, "votes", Uint8Array);
      for (let j = 0; j < n; j++) out[j] = votes[j] === labels[j] ? "#2ca02c" : "#d62728";
      note = `colour: the ${mode.endsWith("left") ? "left" : "right"} map's kNN vote (k=${d.vote_k}) right (green) or wrong (red); ${(100 * d.maps[i].vote_accuracy).toFixed(1)} % right`;
    }
    return {colours: out, note};
  },
  draw() {
    const d = app.d(); if (!d) return;
    const li = app.mapIndex("left"), ri = app.mapIndex("right");
    if (li < 0 || ri < 0) return;
    app.chosen = {left: li, right: ri};
    const L = app.coords(li), R = app.coords(ri), n = L.x.length;
    let rx = R.x, ry = R.y;
    if (align.active && li !== ri) {
      const a = d.affine[li][ri]; rx = new Float64Array(n); ry = new Float64Array(n);
      for (let j = 0; j < n; j++) { rx[j] = R.x[j] * a[0] + R.y[j] * a[2] + a[4]; ry[j] = R.x[j] * a[1] + R.y[j] * a[3] + a[5]; }
    }
    app.xy = {left: {x: L.x, y: L.y}, right: {x: rx, y: ry}};
    const {colours, note} = app.colours(li, ri);
    for (const side of SIDES) {
      const keep = points[side].selected.indices;
      points[side].data = {x: Array.from(app.xy[side].x), y: Array.from(app.xy[side].y), color: colours};
      points[side].selected.indices = keep;
      const m = d.maps[side === "left" ? li : ri];
      plots[side].title.text = `${side}: ${d.titles[d.sources.indexOf(m.source)]} | ${m.reducer}`;
    }
    const srcPair = app.pair("source_pairs", d.sources.indexOf(d.maps[li].source), d.sources.indexOf(d.maps[ri].source));
    const mapPair = app.pair("map_pairs", li, ri);
    const disparity = li === ri ? 0 : d.disparity[li][ri];
    stats.text = `<b>${esc(app.dataset)}</b>, ${n} test points. Procrustes disparity of the right map onto the left ` +
      `<b id="disparity">${disparity.toFixed(4)}</b> (0: the same shape; ${align.active ? "aligned" : "alignment off"}). ` +
      `Neighbours kept (Jaccard, k=${d.k}) between the sources: ${srcPair ? srcPair.mean.toFixed(3) : (d.maps[li].source === d.maps[ri].source ? "1 (same source)" : "n/a")}, ` +
      `between the maps: ${mapPair ? mapPair.mean.toFixed(3) : (li === ri ? "1 (same map)" : "not compared")}. ` +
      `kNN vote right: left ${(100 * d.maps[li].vote_accuracy).toFixed(1)} %, right ${(100 * d.maps[ri].vote_accuracy).toFixed(1)} %.`;
    key.text = note;
    app.ring(app.hoveredPoint);
    if (app.focus != null) app.showNeighbours(app.focus);
  },
  selected(side) {
    if (app.syncing) return;
    const idx = points[side].selected.indices, other = side === "left" ? "right" : "left";
    app.syncing = true;
    try { points[other].selected.indices = idx.slice(); } finally { app.syncing = false; }
    if (idx.length === 1) app.showNeighbours(idx[0]);
  },
  ring(i) {
    for (const side of SIDES) {
      rings[side].data = (i == null || !app.xy) ? {x: [], y: []} : {x: [app.xy[side].x[i]], y: [app.xy[side].y[i]]};
    }
  },
  thumb(i, cls) {
    const d = app.d(), names = d.classes, label = names[app.labels()[i]];
    if (!d.sheet) return `<span class="${cls}" title="${esc(label)}">${i} (${esc(label)})</span>`;
    const [h, w] = d.shape, c = document.createElement("canvas"), scale = 2;
    c.width = w * scale; c.height = h * scale;
    const g = c.getContext("2d"); g.imageSmoothingEnabled = false;
    const r = Math.floor(i / d.columns), col = i % d.columns;
    g.drawImage(app.sheet(), col * w, r * h, w, h, 0, 0, w * scale, h * scale);
    const border = cls.includes("shared") ? "3px solid #2ca02c" : "3px solid transparent";
    return `<img class="${cls}" data-i="${i}" title="${i}: ${esc(label)}" src="${c.toDataURL()}" style="border:${border};margin:1px">`;
  },
  showNeighbours(i) {
    app.focus = i;
    const d = app.d(), rows = [];
    const lists = SIDES.map((side) => {
      const s = d.sources.indexOf(d.maps[app.chosen[side]].source), nn = app.neighboursOf(s), k = d.k;
      return {side, s, list: Array.from(nn.slice(i * k, (i + 1) * k))};
    });
    const common = new Set(lists[0].list.filter((j) => lists[1].list.includes(j)));
    for (const {side, s, list} of lists) {
      rows.push(`<div id="nb-${side}"><b>${side}: ${esc(d.titles[s])}</b> ` +
        list.map((j) => app.thumb(j, common.has(j) ? "nb shared" : "nb")).join("") + "</div>");
    }
    neighbours.text = `<div id="nb-point">test point <b>${i}</b> (${esc(d.classes[app.labels()[i]])}): its ${d.k} nearest test ` +
      `neighbours in each source's own space; framed: in both (<b id="nb-shared">${common.size}</b> of ${d.k})</div>` + rows.join("");
  },
  hovered(side, cb) {
    const ix = cb.index.indices; if (!ix.length) return;
    const i = ix[0], d = app.d(), names = d.classes, labels = app.labels();
    app.hoveredPoint = i; app.ring(i);
    let html = `<div id="hover-info"><b>test point ${i}</b><br>label: <b id="hover-label">${esc(names[labels[i]])}</b>`;
    for (const s of SIDES) {
      const m = d.maps[app.chosen[s]], pred = app.pred(m), vote = app.arr("votes", app.chosen[s], "votes", Uint8Array)[i];
      if (pred) html += `<br>${s} model ${esc(m.owner)} predicts: <b id="hover-pred-${s}">${esc(names[pred[i]])}</b>`;
      html += `<br>${s} map's kNN vote: <b id="hover-vote-${s}">${esc(names[vote])}</b>` + (vote === labels[i] ? "" : " (wrong)");
    }
    if (d.sheet) html += "<br>" + app.thumb(i, "hover").replace("<img", '<img id="hover-image" width="112"');
    info.text = html + "</div>";
  },
};
window.layermaps = app;
pick.dataset.options = Object.keys(datasets);
pick.dataset.value = Object.keys(datasets)[0];
for (const d of Object.keys(datasets)) if (datasets[d].sheet) once("sheet|" + d, () => { const img = new Image();
  img.src = "data:image/png;base64," + datasets[d].sheet; return img; });
app.picked("dataset");
"""
