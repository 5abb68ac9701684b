# Layer measures (layermaps.measures): per source a linear probe and its intrinsic dimension, per
# map trustworthiness, continuity, triplet accuracies and neighbourhood hit, per model linear CKA
# between every pair of its layers; results/measures.csv holds them all. Settings: config
# `measures:`, in each rule's params (a change reruns that rule's jobs only).


rule measure_source:
    input:
        unpack(lambda wc: PLAN.source_arrays(wc.dataset, wc.source)),
        resume_run=P.score("{dataset}", "{source}", "unreduced", ".run_id"),
    output:
        measures=P.source_measures("{dataset}", "{source}"),
    log:
        P.log("{dataset}", "measures", "sources", "{source}"),
    conda:
        "../envs/measures.yaml"
    resources:
        **requested("measure_source"),
    params:
        code=code("measure_source.py", "measures"),
        settings=PLAN.measure_settings("source"),
    script:
        "../scripts/measure_source.py"


rule measure_map:
    input:
        unpack(lambda wc: PLAN.source_arrays(wc.dataset, wc.source)),
        embedding=P.embedding("{dataset}", "{source}", "{reducer}"),
        resume_run=P.embedding("{dataset}", "{source}", "{reducer}", ".run_id"),
    output:
        measures=P.map_measures("{dataset}", "{source}", "{reducer}"),
    log:
        P.log("{dataset}", "measures", "maps", "{source}", "{reducer}"),
    conda:
        "../envs/measures.yaml"
    resources:
        **requested("measure_map"),
    params:
        code=code("measure_map.py", "measures"),
        settings=PLAN.measure_settings("map"),
    script:
        "../scripts/measure_map.py"


rule measure_cka:
    input:
        sources=lambda wc: [P.source_array(wc.dataset, s, "test") for s in PLAN.cka_sources(wc.model)],
        parent_run=P.model_run("{dataset}", "{model}"),
    output:
        cka=P.model_cka("{dataset}", "{model}"),
        run_id=P.model_cka("{dataset}", "{model}", ".run_id"),
    log:
        P.log("{dataset}", "measures", "cka", "{model}"),
    conda:
        "../envs/measures.yaml"
    resources:
        **requested("measure_cka"),
    params:
        code=code("measure_cka.py", "measures"),
        sources=lambda wc: PLAN.cka_sources(wc.model),
    script:
        "../scripts/measure_cka.py"


rule measures_table:
    input:
        PLAN.measure_records(),
    output:
        P.measures_table(),
    log:
        P.log("measures"),
    localrule: True
    conda:
        "../envs/measures.yaml"
    resources:
        **requested("plot"),
    params:
        code=code("measures_table.py", "tables"),
    script:
        "../scripts/measures_table.py"


# The later repeats' layers come from their models (TensorFlow: the train stage's environment).
rule measure_study_cka:
    input:
        sources=lambda wc: list(PLAN.study_cka_arrays(wc.study, wc.dataset).values()),
        models=lambda wc: list(PLAN.study_cka_models(wc.study, wc.dataset).values()),
        data=P.data("{dataset}"),
        parent_run=P.data_run("{dataset}"),
    output:
        cka=P.study_cka("{study}", "{dataset}"),
        run_id=P.study_cka("{study}", "{dataset}", ".run_id"),
    log:
        P.log("studies", "{study}", "cka_{dataset}"),
    conda:
        "../envs/train.yaml"
    resources:
        **requested("measure_study_cka"),
    params:
        code=code("measure_study_cka.py", "train"),
        plan=lambda wc: PLAN.study_cka_plan(wc.study, wc.dataset),
        sources=lambda wc: list(PLAN.study_cka_arrays(wc.study, wc.dataset)),
        models=lambda wc: list(PLAN.study_cka_models(wc.study, wc.dataset)),
    script:
        "../scripts/measure_study_cka.py"


rule plot_layer_profile:
    input:
        unpack(lambda wc: PLAN.profile_inputs(wc.study, wc.dataset)),
        parent_run=P.data_run("{dataset}"),
    output:
        figure=listed("layer_profile", "{study}", "{dataset}"),
        run_id=P.layer_profile("{study}", "{dataset}", ".run_id"),
    log:
        P.log("studies", "{study}", "layers_{dataset}"),
    conda:
        "../envs/measures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.style("dpi"),
        code=code("plot_layer_profile.py", "measures"),
        k=PLAN.figures.k,
        plan=lambda wc: PLAN.profile_plan(wc.study, wc.dataset),
        depths=lambda wc: PLAN.depths(PLAN.profile_plan(wc.study, wc.dataset)),
    script:
        "../scripts/plot_layer_profile.py"


# The CKA figures: drawn from the records, so a plot setting (figures: dpi) redraws them only.
rule plot_cka:
    input:
        cka=P.model_cka("{dataset}", "{model}"),
        resume_run=P.model_cka("{dataset}", "{model}", ".run_id"),
    output:
        figure=listed("cka_figure", "{dataset}", "{model}"),
    log:
        P.log("{dataset}", "figures", "models", "{model}", "cka"),
    conda:
        "../envs/measures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.style("dpi"),
        code=code("plot_cka.py", "measures"),
    script:
        "../scripts/plot_cka.py"


rule plot_study_cka:
    input:
        cka=P.study_cka("{study}", "{dataset}"),
        resume_run=P.study_cka("{study}", "{dataset}", ".run_id"),
    output:
        figure=listed("study_cka_figure", "{study}", "{dataset}"),
    log:
        P.log("studies", "{study}", "cka_{dataset}_figure"),
    conda:
        "../envs/measures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.style("dpi"),
        code=code("plot_study_cka.py", "measures"),
    script:
        "../scripts/plot_study_cka.py"


# The compare stage: a study's maps point by point on one dataset (the compare page reads it), and
# per model and map its consecutive layers side by side (README "Compare two maps").
rule compare_points:
    input:
        unpack(lambda wc: PLAN.compare_inputs(wc.study, wc.dataset)),
        parent_run=P.data_run("{dataset}"),
    output:
        arrays=P.compare_points("{study}", "{dataset}"),
        record=P.compare_points("{study}", "{dataset}", ".json"),
        run_id=P.compare_points("{study}", "{dataset}", ".run_id"),
    log:
        P.log("studies", "{study}", "compare_{dataset}"),
    conda:
        "../envs/measures.yaml"
    resources:
        **requested("compare_points"),
    params:
        code=code("compare_points.py", "measures"),
        maps=lambda wc: PLAN.compare_maps(wc.study, wc.dataset),
        sources=lambda wc: list(dict.fromkeys(m["source"] for m in PLAN.compare_maps(wc.study, wc.dataset))),
        k=PLAN.compare_k,
        vote_k=PLAN.figures.k,
    script:
        "../scripts/compare_points.py"


rule plot_layer_change:
    input:
        sources=lambda wc: [
            P.source_array(wc.dataset, s, "test")
            for s in PLAN.layer_change_chain(wc.dataset, wc.model, wc.reducer)
        ],
        embeddings=lambda wc: [
            P.embedding(wc.dataset, s, wc.reducer)
            for s in PLAN.layer_change_chain(wc.dataset, wc.model, wc.reducer)
        ],
        data=P.data("{dataset}"),
        resume_run=lambda wc: P.embedding(
            wc.dataset, PLAN.layer_change_chain(wc.dataset, wc.model, wc.reducer)[-1], wc.reducer, ".run_id"
        ),
    output:
        figure=listed("layer_change", "{dataset}", "{model}", "{reducer}"),
    log:
        P.log("{dataset}", "figures", "models", "{model}", "layer_change_{reducer}"),
    conda:
        "../envs/measures.yaml"
    resources:
        **requested("plot"),
    params:
        **PLAN.style("dpi"),
        code=code("plot_layer_change.py", "measures"),
        sources=lambda wc: PLAN.layer_change_chain(wc.dataset, wc.model, wc.reducer),
        k=PLAN.compare_k,
    script:
        "../scripts/plot_layer_change.py"


# A study's two maps side by side (README "Compare two maps"); summary.md links it and the
# study's summary run logs it beside the explorer.
rule plot_compare:
    input:
        unpack(lambda wc: PLAN.compare_page_inputs(wc.study)),
    output:
        page=P.compare_page("{study}"),
    log:
        P.log("studies", "{study}", "compare"),
    conda:
        "../envs/figures.yaml"
    resources:
        **requested("plot_explorer"),
    params:
        code=code("plot_compare.py", "explorer"),
        datasets=lambda wc: PLAN.compare_page_plan(wc.study)[0],
        predicted=lambda wc: PLAN.compare_page_plan(wc.study)[1],
        counts=lambda wc: [len(PLAN.compare_maps(wc.study, d)) for d in PLAN.compare_page_plan(wc.study)[0]],
    script:
        "../scripts/plot_compare.py"
