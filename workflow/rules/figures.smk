# Figures and the summary report. Every figure is its own file at a documented path; ask
# Snakemake for that file to (re)make it, e.g.
#   snakemake results/mnist/figures/embeddings/seed_mlp/hidden2/umap.png
# Plot-only settings (config `figures:`) reach the rules through params:, so changing one
# reruns plot jobs only. Figures are logged to the MLflow run of the data they draw.
# `figure_targets()` lists every figure and report file of the configured experiment.
# Captions for `snakemake --report results/report.html` live in workflow/report/*.rst.

import math

from layermaps.data.datasets import dataset_info
from layermaps.models.spec import hidden_layer_names
from layermaps.planning import choose_k, figure_models, gif_datasets, sweep_plan
from layermaps.studies import grid_cells

FIG = config["figures"]
FIG_K, FIG_K_NOTE = choose_k(config["knn"]["k"], FIG["k"])  # k shown in grid/heatmap/sweep
FIG_MODELS = figure_models(FIG["models"], MODELS, LATER_REPEATS)  # models with per-model pictures
SWEEP_PLANS = {name: sweep_plan(name, sweep) for name, sweep in SWEEP_CONFIG.items()}
# Activation GIFs draw inputs as images of one class: skipped (noted in summary.md) elsewhere.
DATASET_INFO = {d: dataset_info(DATASET_SPECS[d]) for d in DATASETS}
GIF_DATASETS, FIG_NOTES = gif_datasets(DATASET_INFO, FIG["class_index"])
PLANE_DATASETS = [d for d, info in DATASET_INFO.items() if info.width == 2]  # decision regions


report: "../report/workflow.rst"


# ---------------------------------------------------------------------------- embeddings
rule plot_embedding:
    input:
        embedding=P.embedding("{dataset}", "{source}", "{reducer}"),
        data=P.data("{dataset}"),
        resume_run=P.embedding("{dataset}", "{source}", "{reducer}", ".run_id"),
    output:
        figure=report(P.embedding_figure("{dataset}", "{source}", "{reducer}"),
                      caption="../report/embedding.rst", category="{dataset}",
                      subcategory="2-D embeddings", labels={"source": "{source}", "reducer": "{reducer}"}),
    params:
        code=code("plot_embedding.py", "figures"),
        dpi=FIG["dpi"],
        cmap=FIG["cmap"],
        point_size=FIG["point_size"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("{dataset}", "figures", "embeddings", "{source}", "{reducer}"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_embedding.py"


rule plot_grid:
    input:
        embeddings=lambda wc: [P.embedding(wc.dataset, s, r) for s, r in grid_plan(wc)[2]],
        scores=lambda wc: [P.score(wc.dataset, s, r) for s, r in grid_plan(wc)[2]],
        data=P.data("{dataset}"),
        resume_run=P.model_file("{dataset}", "{model}", "run_id"),
    output:
        figure=report(P.figure("{dataset}", "grid_{model}.png"), caption="../report/grid.rst",
                      category="{dataset}", subcategory="embedding grids", labels={"model": "{model}"}),
    params:
        code=code("plot_grid.py", "figures"),
        rows=lambda wc: grid_plan(wc)[0],
        reducers=lambda wc: grid_plan(wc)[1],
        cells=lambda wc: [list(cell) for cell in grid_plan(wc)[2]],  # in the order of the inputs
        k=FIG_K,
        k_note=FIG_K_NOTE,
        dpi=FIG["dpi"],
        cmap=FIG["cmap"],
        point_size=FIG["grid_point_size"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("{dataset}", "figures", "grid_{model}"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_grid.py"


# ---------------------------------------------------------------------------- layers over training
rule plot_snapshot_grid:
    input:
        embeddings=lambda wc: [P.embedding(wc.dataset, f"{snapshot_name(wc.model, e)}/{l}", wc.reducer)
                               for l, e in snapshot_cells(wc)],
        scores=lambda wc: [P.score(wc.dataset, f"{snapshot_name(wc.model, e)}/{l}", wc.reducer)
                           for l, e in snapshot_cells(wc)],
        data=P.data("{dataset}"),
        resume_run=P.model_file("{dataset}", "{model}", "run_id"),
    output:
        figure=report(P.model_figure("{dataset}", "{model}", "snapshots_{reducer}.png"),
                      caption="../report/snapshot_grid.rst", category="{dataset}",
                      subcategory="model {model}", labels={"figure": "maps over training", "reducer": "{reducer}"}),
    wildcard_constraints:
        model=one_of(SNAPSHOTS),
    params:
        code=code("plot_snapshot_grid.py", "figures"),
        epochs=lambda wc: snapshots_of(wc)["epochs"],
        layers=lambda wc: snapshots_of(wc)["layers"],
        cells=snapshot_cells,  # in the order of the inputs
        k=FIG_K,
        k_note=FIG_K_NOTE,
        dpi=FIG["dpi"],
        cmap=FIG["cmap"],
        point_size=FIG["grid_point_size"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("{dataset}", "figures", "models", "{model}", "snapshots_{reducer}"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_snapshot_grid.py"


# Its own fits (all but the first frame): UMAP's packages decide it, as they do an embedding.
rule animate_snapshots:
    input:
        first=lambda wc: P.embedding(wc.dataset, snapshot_sources(wc)[0], wc.reducer),
        train=lambda wc: [P.source_array(wc.dataset, s, "train") for s in snapshot_sources(wc)],
        test=lambda wc: [P.source_array(wc.dataset, s, "test") for s in snapshot_sources(wc)],
        data=P.data("{dataset}"),
        resume_run=P.model_file("{dataset}", "{model}", "run_id"),
    output:
        animation=report(P.model_figure("{dataset}", "{model}", "snapshots_{layer}_{reducer}.gif"),
                         caption="../report/snapshot_animation.rst", category="{dataset}",
                         subcategory="model {model}",
                         labels={"figure": "aligned maps over training (animation)", "layer": "{layer}"}),
    wildcard_constraints:
        model=one_of(SNAPSHOTS),
        layer="hidden[0-9]+|output",
        reducer=one_of(ALIGNED_MAPS),
    params:
        code=code("animate_snapshots.py", "aligned"),
        epochs=lambda wc: snapshots_of(wc)["epochs"],
        settings=lambda wc: config["reducers"][wc.reducer],
        seed=config["embed"]["seed"],
        threads=THREADS["embed"],
        k=FIG_K,
        fps=FIG["snapshot_fps"],
        dpi=FIG["gif_dpi"],
        cmap=FIG["cmap"],
        point_size=FIG["point_size"],
    threads: THREADS["embed"]
    resources:
        **RESOURCES["animate_snapshots"],
    log:
        P.log("{dataset}", "figures", "models", "{model}", "snapshots_{layer}_{reducer}"),
    conda:
        "../envs/embed.yaml"
    script:
        "../scripts/animate_snapshots.py"


rule plot_knn_over_training:
    input:
        scores=lambda wc: score_files(wc.dataset, {s: rs for s, rs in heatmap_sources(wc).items()
                                                   if split_snapshot(s.partition("/")[0])[1] is not None}),
        parent_run=P.data_run("{dataset}"),
    output:
        figure=report(P.study_file("{study}", "knn_over_training_{dataset}.png"),
                      caption="../report/knn_over_training.rst", category="{dataset}",
                      subcategory="kNN scores", labels={"figure": "kNN accuracy over training", "study": "{study}"}),
        run_id=P.study_file("{study}", "knn_over_training_{dataset}.run_id"),
    params:
        code=code("plot_knn_over_training.py", "figures"),
        plans=lambda wc: snapshot_plan(heatmap_sources(wc)),
        k=FIG_K,
        k_note=FIG_K_NOTE,
        dpi=FIG["dpi"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("studies", "{study}", "knn_over_training_{dataset}"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_knn_over_training.py"


# ---------------------------------------------------------------------------- scores
rule plot_knn_heatmap:
    input:
        scores=lambda wc: score_files(wc.dataset, heatmap_sources(wc)),
        parent_run=P.data_run("{dataset}"),
    output:
        figure=report(P.study_file("{study}", "knn_heatmap_{dataset}.png"), caption="../report/knn_heatmap.rst",
                      category="{dataset}", subcategory="kNN scores",
                      labels={"figure": "kNN heatmap", "study": "{study}"}),
        run_id=P.study_file("{study}", "knn_heatmap_{dataset}.run_id"),
    params:
        code=code("plot_knn_heatmap.py", "figures"),
        sources=lambda wc: list(heatmap_sources(wc)),
        reducers=lambda wc: grid_cells(heatmap_sources(wc), MAP_NAMES)[1],
        k=FIG_K,
        k_note=FIG_K_NOTE,
        dpi=FIG["dpi"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("studies", "{study}", "knn_heatmap_{dataset}"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_knn_heatmap.py"


rule plot_study_curves:
    input:
        histories=lambda wc: list(curve_histories(wc).values()),
        parent_run=P.data_run("{dataset}"),
    output:
        figure=report(P.study_file("{study}", "training_curves_{dataset}.png"), caption="../report/study_curves.rst",
                      category="{dataset}", subcategory="training curves",
                      labels={"figure": "training curves of every model", "study": "{study}"}),
        run_id=P.study_file("{study}", "training_curves_{dataset}.run_id"),
    params:
        code=code("plot_study_curves.py", "figures"),
        models=lambda wc: list(curve_histories(wc)),
        dpi=FIG["dpi"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("studies", "{study}", "training_curves_{dataset}"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_study_curves.py"


rule plot_knn_comparison:
    input:
        mnist=lambda wc: score_files("mnist", compared_scores(wc)["mnist"]),
        fashion=lambda wc: score_files("fashion-mnist", compared_scores(wc)["fashion-mnist"]),
    output:
        figure=report(P.study_file("{study}", "knn_mnist_vs_fashion.png"), caption="../report/knn_comparison.rst",
                      category="summary", subcategory="MNIST vs Fashion-MNIST",
                      labels={"figure": "kNN accuracy, MNIST vs Fashion-MNIST", "study": "{study}"}),
        run_id=P.study_file("{study}", "knn_mnist_vs_fashion.run_id"),
    params:
        code=code("plot_knn_comparison.py", "figures"),
        datasets=list(COMPARED),
        sources=lambda wc: list(compared_scores(wc)["mnist"]),
        reducers=lambda wc: grid_cells(compared_scores(wc)["mnist"], MAP_NAMES)[1],
        k=FIG_K,
        k_note=FIG_K_NOTE,
        dpi=FIG["dpi"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("studies", "{study}", "knn_mnist_vs_fashion"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_knn_comparison.py"


rule plot_sweep:
    input:
        metrics=lambda wc: [P.model_file(wc.dataset, r, "metrics.json")
                            for m in SWEEP_PLANS[wc.sweep]["members"] for r in m["repeats"]],
        scores=lambda wc: score_files(wc.dataset, sweep_scores(wc)),
        parent_run=P.data_run("{dataset}"),
    output:
        figure=report(P.figure("{dataset}", "sweep_{sweep}.png"), caption="../report/sweep.rst",
                      category="{dataset}", subcategory="sweeps", labels={"sweep": "{sweep}"}),
        run_id=P.figure("{dataset}", "sweep_{sweep}.run_id"),
    wildcard_constraints:
        sweep=one_of(SWEEP_PLANS),
    params:
        code=code("plot_sweep.py", "figures"),
        plan=lambda wc: SWEEP_PLANS[wc.sweep],
        reducers=lambda wc: grid_cells(sweep_scores(wc), MAP_NAMES)[1],
        k=FIG_K,
        k_note=FIG_K_NOTE,
        dpi=FIG["dpi"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("{dataset}", "figures", "sweep_{sweep}"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_sweep.py"


# ---------------------------------------------------------------------------- per dataset
rule plot_input_transform:
    input:
        transform=P.transform("{dataset}"),
        parent=lambda wc: P.data(DATASET_SPECS[wc.dataset]["from"]),
        resume_run=P.data_run("{dataset}"),
    output:
        figure=report(P.figure("{dataset}", "input_transform.png"), caption="../report/input_transform.rst",
                      category="{dataset}", labels={"figure": "reduced inputs"}),
    params:
        code=code("plot_input_transform.py", "figures"),
        dpi=FIG["dpi"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("{dataset}", "figures", "input_transform"),
    wildcard_constraints:
        dataset=one_of(REDUCED),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_input_transform.py"


# ---------------------------------------------------------------------------- per model
rule plot_training:
    input:
        history=P.model_file("{dataset}", "{model}", "history.csv"),
        confusion=P.model_file("{dataset}", "{model}", "confusion_test.csv"),
        metrics=P.model_file("{dataset}", "{model}", "metrics.json"),
        data=P.data("{dataset}"),
        train_outputs=P.activation("{dataset}", "{model}", "output", "train"),
        test_outputs=P.activation("{dataset}", "{model}", "output", "test"),
        resume_run=P.model_file("{dataset}", "{model}", "run_id"),
    output:
        curves=report(P.model_figure("{dataset}", "{model}", "training_curves.png"), caption="../report/training_curves.rst",
                      category="{dataset}", subcategory="model {model}",
                      labels={"figure": "training curves", "layer": "all"}),
        confusion=report(P.model_figure("{dataset}", "{model}", "confusion.png"), caption="../report/confusion.rst",
                         category="{dataset}", subcategory="model {model}",
                         labels={"figure": "confusion matrices", "layer": "all"}),
        input_pair=report(P.model_figure("{dataset}", "{model}", "input_pair.png"), caption="../report/input_pair.rst",
                          category="{dataset}", subcategory="model {model}",
                          labels={"figure": "two inputs by predicted class", "layer": "input"}),
    params:
        code=code("plot_training.py", "figures"),
        dpi=FIG["dpi"],
        cmap=FIG["cmap"],
        point_size=FIG["point_size"],
        input_pair=FIG["input_pair"],
    resources:
        **RESOURCES["plot_training"],
    log:
        P.log("{dataset}", "figures", "models", "{model}", "training"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_training.py"


rule plot_decision_regions:
    input:
        model=P.model_file("{dataset}", "{model}", "model.keras"),
        metrics=P.model_file("{dataset}", "{model}", "metrics.json"),
        data=P.data("{dataset}"),
        resume_run=P.model_file("{dataset}", "{model}", "run_id"),
    output:
        figure=report(P.model_figure("{dataset}", "{model}", "decision_regions.png"),
                      caption="../report/decision_regions.rst", category="{dataset}",
                      subcategory="model {model}", labels={"figure": "decision regions", "layer": "all"}),
    wildcard_constraints:
        dataset=one_of(PLANE_DATASETS),
    params:
        code=code("plot_decision_regions.py", "model_figures"),
        # two_cosines: the workshop's window (SEEDS.md D) and its two curves; else the data's range
        bounds=lambda wc: [[-math.pi, math.pi], [-1, 2]] if DATASET_SPECS[wc.dataset]["kind"] == "two_cosines" else None,
        curves=lambda wc: DATASET_SPECS[wc.dataset]["kind"] == "two_cosines",
        resolution=200,
        threads=1,
        dpi=FIG["dpi"],
        cmap=FIG["cmap"],
    resources:
        **RESOURCES["plot_decision_regions"],
    log:
        P.log("{dataset}", "figures", "models", "{model}", "decision_regions"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_decision_regions.py"


rule plot_activation_gifs:
    input:
        data=P.data("{dataset}"),
        layers=lambda wc: [P.activation(wc.dataset, wc.model, layer, "test")
                           for layer in hidden_layer_names(MODELS[wc.model])],
        predictions=P.activation("{dataset}", "{model}", "output", "test"),
        resume_run=P.model_file("{dataset}", "{model}", "run_id"),
    output:
        activations=report(P.model_figure("{dataset}", "{model}", "activations_class{cls}.gif"),
                           caption="../report/activations_gif.rst", category="{dataset}",
                           subcategory="model {model}",
                           labels={"figure": "activations of class {cls} (animation)", "layer": "all"}),
        running_mean=report(P.model_figure("{dataset}", "{model}", "running_mean_class{cls}.gif"),
                            caption="../report/running_mean_gif.rst", category="{dataset}",
                            subcategory="model {model}",
                            labels={"figure": "running mean of class {cls} (animation)", "layer": "all"}),
    wildcard_constraints:
        cls="[0-9]+",
        dataset=one_of(GIF_DATASETS),
    params:
        code=code("plot_activation_gifs.py", "figures"),
        layers=lambda wc: hidden_layer_names(MODELS[wc.model]),
        n_images=FIG["gif_images"],
        n_running=FIG["running_mean_images"],
        fps=FIG["gif_fps"],
        dpi=FIG["gif_dpi"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("{dataset}", "figures", "models", "{model}", "activation_gifs_class{cls}"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_activation_gifs.py"


rule plot_hidden_layer:
    input:
        activations=P.activation("{dataset}", "{model}", "{layer}", "test"),
        predictions=P.activation("{dataset}", "{model}", "output", "test"),
        data=P.data("{dataset}"),
        resume_run=P.model_file("{dataset}", "{model}", "run_id"),
    output:
        boxplots=report(P.model_figure("{dataset}", "{model}", "boxplots_{layer}.png"), caption="../report/boxplots.rst",
                        category="{dataset}", subcategory="model {model}",
                        labels={"figure": "unit activations by predicted class", "layer": "{layer}"}),
        pca=report(P.model_figure("{dataset}", "{model}", "pca_{layer}.png"), caption="../report/pca.rst",
                   category="{dataset}", subcategory="model {model}",
                   labels={"figure": "PCA 2-D and 3-D", "layer": "{layer}"}),
    wildcard_constraints:
        layer="hidden[0-9]+",
    params:
        code=code("plot_hidden_layer.py", "figures"),
        n_units=FIG["boxplot_units"],
        dpi=FIG["dpi"],
        cmap=FIG["cmap"],
        point_size=FIG["point_size"],
    resources:
        **RESOURCES["plot"],
    log:
        P.log("{dataset}", "figures", "models", "{model}", "{layer}"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_hidden_layer.py"


# ---------------------------------------------------------------------------- map explorer
# A study's interactive page of all its maps (README "Map explorer"); summary.md links it and
# the study's summary run logs it.
rule plot_explorer:
    input:
        unpack(explorer_inputs),
    output:
        page=P.study_file("{study}", "explorer.html"),
    params:
        code=code("plot_explorer.py", "explorer"),
        maps=lambda wc: explorer_plan(wc.study)[0],
        predicted=lambda wc: explorer_plan(wc.study)[1],
        datasets=lambda wc: list(STUDY_SOURCES[wc.study]),
        k=FIG_K,
    resources:
        **RESOURCES["plot_explorer"],
    log:
        P.log("studies", "{study}", "explorer"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_explorer.py"


# ---------------------------------------------------------------------------- summary.md
# One section per study: results/summary.md has every study, results/studies/{study}/summary.md
# one (the file `snakemake <study>` makes).
rule report_summary:
    input:
        unpack(lambda wc: summary_inputs(STUDIES)),
    output:
        summary=report(P.summary(), caption="../report/summary.rst", category="summary",
                       subcategory="tables", labels={"figure": "summary.md"}),
        run_id=P.summary(".run_id"),
    params:
        code=code("report_summary.py", "tables"),
        studies=[study_plan(name) for name in STUDIES],
        hidden={m: spec["hidden"] for m, spec in MODELS.items()},
        sweeps=SWEEP_PLANS,
        k=config["knn"]["k"],
        k_sweep=FIG_K,
        notes=FIG_NOTES,
    resources:
        **RESOURCES["plot"],
    log:
        P.log("summary"),
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/report_summary.py"


use rule report_summary as study_summary with:
    input:
        unpack(lambda wc: summary_inputs([wc.study])),
    output:
        summary=report(P.study_file("{study}", "summary.md"), caption="../report/summary.rst",
                       category="summary", subcategory="tables",
                       labels={"figure": "summary.md", "study": "{study}"}),
        run_id=P.study_file("{study}", "summary.run_id"),
    params:
        code=code("report_summary.py", "tables"),
        studies=lambda wc: [study_plan(wc.study)],
        hidden={m: spec["hidden"] for m, spec in MODELS.items()},
        sweeps=SWEEP_PLANS,
        k=config["knn"]["k"],
        k_sweep=FIG_K,
        notes=FIG_NOTES,
    log:
        P.log("studies", "{study}", "summary"),
