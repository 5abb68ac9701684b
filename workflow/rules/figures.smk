# Figures and the summary report. Every figure is its own file at a documented path; ask
# Snakemake for that file to (re)make it, e.g.
#   snakemake results/mnist/figures/embeddings/seed_mlp/hidden2/umap.png
# Plot-only settings (config `figures:`) reach the rules through params:, so changing one
# reruns plot jobs only. Figures are logged to the MLflow run of the data they draw. Captions
# for `snakemake --report results/report.html`: workflow/report/*.rst and listing.yaml.


report: "../report/workflow.rst"


rule plot_embedding:
    input:
        embedding=P.embedding("{dataset}", "{source}", "{reducer}"),
        data=P.data("{dataset}"),
        resume_run=P.embedding("{dataset}", "{source}", "{reducer}", ".run_id"),
    output:
        figure=listed("embedding_figure", "{dataset}", "{source}", "{reducer}"),
    log:
        P.log("{dataset}", "figures", "embeddings", "{source}", "{reducer}"),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.style("dpi", "cmap", "point_size"),
        code=code("plot_embedding.py", "figures"),
    script:
        "../scripts/plot_embedding.py"


rule plot_grid:
    input:
        unpack(lambda wc: PLAN.grid_inputs(wc.dataset, wc.model)),
        data=P.data("{dataset}"),
        resume_run=P.model_run("{dataset}", "{model}"),
    output:
        figure=listed("grid", "{dataset}", "{model}"),
    log:
        P.log("{dataset}", "figures", "grid_{model}"),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.k_shown,
        **PLAN.style("dpi", "cmap", point_size="grid_point_size"),
        code=code("plot_grid.py", "figures"),
        rows=lambda wc: PLAN.grid_plan(wc.dataset, wc.model)[0],
        reducers=lambda wc: PLAN.grid_plan(wc.dataset, wc.model)[1],
        # in the order of the inputs
        cells=lambda wc: [list(cell) for cell in PLAN.grid_cells(wc.dataset, wc.model)],
    script:
        "../scripts/plot_grid.py"


rule plot_snapshot_grid:
    input:
        unpack(lambda wc: PLAN.snapshot_grid_inputs(wc.dataset, wc.model, wc.reducer)),
        data=P.data("{dataset}"),
        resume_run=P.model_run("{dataset}", "{model}"),
    output:
        figure=listed("snapshot_grid", "{dataset}", "{model}", "{reducer}"),
    log:
        P.log("{dataset}", "figures", "models", "{model}", "snapshots_{reducer}"),
    wildcard_constraints:
        model=one_of(PLAN.snapshots),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.k_shown,
        **PLAN.style("dpi", "cmap", point_size="grid_point_size"),
        code=code("plot_snapshot_grid.py", "figures"),
        epochs=lambda wc: PLAN.snapshots_of(wc.dataset, wc.model)["epochs"],
        layers=lambda wc: PLAN.snapshots_of(wc.dataset, wc.model)["layers"],
        cells=lambda wc: PLAN.snapshot_cells(wc.dataset, wc.model, wc.reducer),  # the inputs' order
    script:
        "../scripts/plot_snapshot_grid.py"


# Its own fits (all but the first frame): UMAP's packages decide it, as they do an embedding.
rule animate_snapshots:
    input:
        unpack(lambda wc: PLAN.animation_inputs(wc.dataset, wc.model, wc.layer, wc.reducer)),
        data=P.data("{dataset}"),
        resume_run=P.model_run("{dataset}", "{model}"),
    output:
        animation=listed("snapshot_animation", "{dataset}", "{model}", "{layer}", "{reducer}"),
    log:
        P.log("{dataset}", "figures", "models", "{model}", "snapshots_{layer}_{reducer}"),
    wildcard_constraints:
        model=one_of(PLAN.snapshots),
        layer="hidden[0-9]+|output",
        reducer=one_of(PLAN.aligned_maps),
    conda:
        "../envs/embed.yaml"
    threads: THREADS["embed"]
    resources:
        **requested("animate_snapshots"),
    params:
        **PLAN.style("cmap", "point_size", fps="snapshot_fps", dpi="gif_dpi"),
        code=code("animate_snapshots.py", "aligned"),
        epochs=lambda wc: PLAN.snapshots_of(wc.dataset, wc.model)["epochs"],
        settings=lambda wc: PLAN.maps[wc.reducer].entry,
        seed=config["embed"]["seed"],
        threads=THREADS["embed"],
        k=PLAN.figures.k,
    script:
        "../scripts/animate_snapshots.py"


rule plot_knn_over_training:
    input:
        scores=lambda wc: PLAN.score_files(wc.dataset, PLAN.snapshot_sources_of(wc.study, wc.dataset)),
        parent_run=P.data_run("{dataset}"),
    output:
        figure=listed("knn_over_training", "{study}", "{dataset}"),
        run_id=P.knn_over_training("{study}", "{dataset}", ".run_id"),
    log:
        P.log("studies", "{study}", "knn_over_training_{dataset}"),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.k_shown,
        **PLAN.style("dpi"),
        code=code("plot_knn_over_training.py", "figures"),
        plans=lambda wc: PLAN.snapshot_plan(wc.study, wc.dataset),
    script:
        "../scripts/plot_knn_over_training.py"


rule plot_knn_heatmap:
    input:
        scores=lambda wc: PLAN.score_files(wc.dataset, PLAN.study_sources[wc.study][wc.dataset]),
        parent_run=P.data_run("{dataset}"),
    output:
        figure=listed("knn_heatmap", "{study}", "{dataset}"),
        run_id=P.knn_heatmap("{study}", "{dataset}", ".run_id"),
    log:
        P.log("studies", "{study}", "knn_heatmap_{dataset}"),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.k_shown,
        **PLAN.style("dpi"),
        code=code("plot_knn_heatmap.py", "figures"),
        sources=lambda wc: list(PLAN.study_sources[wc.study][wc.dataset]),
        reducers=lambda wc: PLAN.map_columns(PLAN.study_sources[wc.study][wc.dataset]),
    script:
        "../scripts/plot_knn_heatmap.py"


rule plot_study_curves:
    input:
        histories=lambda wc: list(PLAN.curve_histories(wc.study, wc.dataset).values()),
        parent_run=P.data_run("{dataset}"),
    output:
        figure=listed("study_curves", "{study}", "{dataset}"),
        run_id=P.study_curves("{study}", "{dataset}", ".run_id"),
    log:
        P.log("studies", "{study}", "training_curves_{dataset}"),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.style("dpi"),
        code=code("plot_study_curves.py", "figures"),
        models=lambda wc: PLAN.curve_models(wc.study, wc.dataset),
    script:
        "../scripts/plot_study_curves.py"


rule plot_knn_comparison:
    input:
        mnist=lambda wc: PLAN.score_files("mnist", PLAN.compared_scores(wc.study)["mnist"]),
        fashion=lambda wc: PLAN.score_files("fashion-mnist", PLAN.compared_scores(wc.study)["fashion-mnist"]),
    output:
        figure=listed("knn_comparison", "{study}"),
        run_id=P.knn_comparison("{study}", ".run_id"),
    log:
        P.log("studies", "{study}", "knn_mnist_vs_fashion"),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.k_shown,
        **PLAN.style("dpi"),
        code=code("plot_knn_comparison.py", "figures"),
        datasets=list(PLAN.compared_datasets),
        sources=lambda wc: list(PLAN.compared_scores(wc.study)["mnist"]),
        reducers=lambda wc: PLAN.map_columns(PLAN.compared_scores(wc.study)["mnist"]),
    script:
        "../scripts/plot_knn_comparison.py"


rule plot_sweep:
    input:
        metrics=lambda wc: PLAN.sweep_metrics(wc.dataset, wc.sweep),
        scores=lambda wc: PLAN.score_files(wc.dataset, PLAN.sweep_scores(wc.dataset, wc.sweep)),
        parent_run=P.data_run("{dataset}"),
    output:
        figure=listed("sweep", "{dataset}", "{sweep}"),
        run_id=P.sweep("{dataset}", "{sweep}", ".run_id"),
    log:
        P.log("{dataset}", "figures", "sweep_{sweep}"),
    wildcard_constraints:
        sweep=one_of(PLAN.sweeps),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.k_shown,
        **PLAN.style("dpi"),
        code=code("plot_sweep.py", "figures"),
        plan=lambda wc: PLAN.sweeps[wc.sweep],
        reducers=lambda wc: PLAN.map_columns(PLAN.sweep_scores(wc.dataset, wc.sweep)),
    script:
        "../scripts/plot_sweep.py"


rule plot_input_transform:
    input:
        transform=P.transform("{dataset}"),
        parent=lambda wc: P.data(PLAN.dataset_specs[wc.dataset]["from"]),
        resume_run=P.data_run("{dataset}"),
    output:
        figure=listed("input_transform", "{dataset}"),
    log:
        P.log("{dataset}", "figures", "input_transform"),
    wildcard_constraints:
        dataset=one_of(PLAN.reduced),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.style("dpi"),
        code=code("plot_input_transform.py", "figures"),
    script:
        "../scripts/plot_input_transform.py"


rule plot_training:
    input:
        history=P.history("{dataset}", "{model}"),
        confusion=P.confusion_counts("{dataset}", "{model}"),
        metrics=P.metrics("{dataset}", "{model}"),
        data=P.data("{dataset}"),
        train_outputs=P.activation("{dataset}", "{model}", "output", "train"),
        test_outputs=P.activation("{dataset}", "{model}", "output", "test"),
        resume_run=P.model_run("{dataset}", "{model}"),
    output:
        curves=listed("training_curves", "{dataset}", "{model}"),
        confusion=listed("confusion", "{dataset}", "{model}"),
        input_pair=listed("input_pair", "{dataset}", "{model}"),
    log:
        P.log("{dataset}", "figures", "models", "{model}", "training"),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot_training"),
    params:
        **PLAN.style("dpi", "cmap", "point_size", "input_pair"),
        code=code("plot_training.py", "figures"),
    script:
        "../scripts/plot_training.py"


rule plot_decision_regions:
    input:
        model=P.model("{dataset}", "{model}"),
        metrics=P.metrics("{dataset}", "{model}"),
        data=P.data("{dataset}"),
        resume_run=P.model_run("{dataset}", "{model}"),
    output:
        figure=listed("decision_regions", "{dataset}", "{model}"),
    log:
        P.log("{dataset}", "figures", "models", "{model}", "decision_regions"),
    wildcard_constraints:
        dataset=one_of(PLAN.figures.plane_datasets),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot_decision_regions"),
    params:
        **PLAN.style("dpi", "cmap"),
        code=code("plot_decision_regions.py", "model_figures"),
        bounds=lambda wc: PLAN.decision_bounds(wc.dataset),
        curves=lambda wc: PLAN.is_two_cosines(wc.dataset),  # the workshop's two curves
        resolution=200,
        threads=1,
    script:
        "../scripts/plot_decision_regions.py"


rule plot_activation_gifs:
    input:
        data=P.data("{dataset}"),
        layers=lambda wc: [
            P.activation(wc.dataset, wc.model, l, "test") for l in PLAN.hidden_layers(wc.model)
        ],
        predictions=P.activation("{dataset}", "{model}", "output", "test"),
        resume_run=P.model_run("{dataset}", "{model}"),
    output:
        activations=listed("activations_gif", "{dataset}", "{model}", "{cls}"),
        running_mean=listed("running_mean_gif", "{dataset}", "{model}", "{cls}"),
    log:
        P.log("{dataset}", "figures", "models", "{model}", "activation_gifs_class{cls}"),
    wildcard_constraints:
        cls="[0-9]+",
        dataset=one_of(PLAN.figures.gif_datasets),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.style(n_images="gif_images", n_running="running_mean_images", fps="gif_fps", dpi="gif_dpi"),
        code=code("plot_activation_gifs.py", "figures"),
        layers=lambda wc: PLAN.hidden_layers(wc.model),
    script:
        "../scripts/plot_activation_gifs.py"


rule plot_hidden_layer:
    input:
        activations=P.activation("{dataset}", "{model}", "{layer}", "test"),
        predictions=P.activation("{dataset}", "{model}", "output", "test"),
        data=P.data("{dataset}"),
        resume_run=P.model_run("{dataset}", "{model}"),
    output:
        boxplots=listed("boxplots", "{dataset}", "{model}", "{layer}"),
        pca=listed("pca", "{dataset}", "{model}", "{layer}"),
    log:
        P.log("{dataset}", "figures", "models", "{model}", "{layer}"),
    wildcard_constraints:
        layer="hidden[0-9]+",
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.style("dpi", "cmap", "point_size", n_units="boxplot_units"),
        code=code("plot_hidden_layer.py", "figures"),
    script:
        "../scripts/plot_hidden_layer.py"


# A study's interactive page of all its maps (README "Map explorer"); summary.md links it and
# the study's summary run logs it.
rule plot_explorer:
    input:
        unpack(lambda wc: PLAN.explorer_inputs(wc.study)),
    output:
        page=P.explorer("{study}"),
    log:
        P.log("studies", "{study}", "explorer"),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot_explorer"),
    params:
        code=code("plot_explorer.py", "explorer"),
        maps=lambda wc: PLAN.explorer_plan(wc.study)[0],
        predicted=lambda wc: PLAN.explorer_plan(wc.study)[1],
        datasets=lambda wc: list(PLAN.study_sources[wc.study]),
        k=PLAN.figures.k,
        compare=lambda wc: PLAN.is_measured(wc.study) and bool(PLAN.compared(wc.study)),
    script:
        "../scripts/plot_explorer.py"


# One section per study: results/summary.md has every study, results/studies/{study}/summary.md
# one (the file `snakemake <study>` makes).
rule report_summary:
    input:
        unpack(lambda wc: PLAN.summary_inputs(PLAN.studies)),
        reference=REFERENCE,
    output:
        summary=listed("summary"),
        run_id=P.summary(".run_id"),
    log:
        P.log("summary"),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.summary_settings,
        code=code("report_summary.py", "report"),
        studies=[PLAN.study_plan(name) for name in PLAN.studies],
    script:
        "../scripts/report_summary.py"


use rule report_summary as study_summary with:
    input:
        unpack(lambda wc: PLAN.summary_inputs([wc.study])),
        reference=REFERENCE,
    output:
        summary=listed("study_summary", "{study}"),
        run_id=P.study_summary("{study}", ".run_id"),
    log:
        P.log("studies", "{study}", "summary"),
    params:
        **PLAN.summary_settings,
        code=code("report_summary.py", "report"),
        studies=lambda wc: [PLAN.study_plan(wc.study)],
