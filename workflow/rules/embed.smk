# Embedding and scoring stage: neighbors(source) -> embed(reducer x source) -> score; unreduced
# ceiling; summaries. A source is `raw` or `{model}/{layer}` (layermaps.paths.Source).


# No MLflow run of its own: every embedding that reads the graph logs its size and cost. The
# exact search gives the same graph on any number of threads: no `threads` in params.
rule neighbors:
    input:
        unpack(lambda wc: PLAN.source_arrays(wc.dataset, wc.source)),
    output:
        graph=P.graph("{dataset}", "{source}"),
    log:
        P.log("{dataset}", "neighbors", "{source}"),
    priority: UPSTREAM
    conda:
        "../envs/embed.yaml"
    threads: THREADS["embed"]
    resources:
        **requested("neighbors"),
    params:
        code=code("neighbors.py", "neighbors"),
        k_train=PLAN.graph_k[0],
        k_test=PLAN.graph_k[1],
    script:
        "../scripts/neighbors.py"


# A reducer variant that needs more neighbours than the base graph holds reads one of its own
# size (neighbors/{source}.k120x25.npz): adding the variant leaves the base graph as it is.
use rule neighbors as neighbors_sized with:
    output:
        graph=P.graph("{dataset}", "{source}", "{size}"),
    log:
        P.log("{dataset}", "neighbors", "{source}.{size}"),
    params:
        code=code("neighbors.py", "neighbors"),
        k_train=lambda wc: parse_size(wc.size)[0],
        k_test=lambda wc: parse_size(wc.size)[1],


rule embed:
    input:
        unpack(lambda wc: PLAN.embed_inputs(wc.dataset, wc.source, wc.reducer)),
    output:
        embedding=P.embedding("{dataset}", "{source}", "{reducer}"),
        run_id=P.embedding("{dataset}", "{source}", "{reducer}", ".run_id"),
    log:
        P.log("{dataset}", "embed", "{source}", "{reducer}"),
    priority: lambda wc: map_priority(PLAN.maps[wc.reducer].method)
    conda:
        "../envs/embed.yaml"
    threads: THREADS["embed"]
    resources:
        **requested("embed"),
    params:
        code=lambda wc: class_code(SCRIPTS / "embed.py", PLAN.maps[wc.reducer].cls),
        threads=THREADS["embed"],
        settings=lambda wc: PLAN.maps[wc.reducer].settings,  # only this map's (and its fit subset)
        seed=config["embed"]["seed"],
    script:
        "../scripts/embed.py"


rule score:
    input:
        unpack(lambda wc: PLAN.source_arrays(wc.dataset, wc.source)),
        embedding=rules.embed.output.embedding,
        resume_run=rules.embed.output.run_id,
    output:
        scores=P.score("{dataset}", "{source}", "{reducer}"),
    log:
        P.log("{dataset}", "score", "{source}", "{reducer}"),
    conda:
        "../envs/embed.yaml"
    resources:
        **requested("score"),
    params:
        code=code("score.py", "score"),
        k=config["knn"]["k"],
        trust_max=config["knn"]["trustworthiness_max_points"],
        trust_k=config["knn"]["trustworthiness_neighbors"],
        seed=config["embed"]["seed"],
    script:
        "../scripts/score.py"


rule ceiling:
    input:
        unpack(lambda wc: PLAN.source_inputs(wc.dataset, wc.source)),
    output:
        scores=P.score("{dataset}", "{source}", "unreduced"),
        run_id=P.score("{dataset}", "{source}", "unreduced", ".run_id"),
    log:
        P.log("{dataset}", "score", "{source}", "unreduced"),
    conda:
        "../envs/embed.yaml"
    threads: THREADS["embed"]
    resources:
        **requested("ceiling"),
    params:
        code=code("ceiling.py", "score"),
        threads=THREADS["embed"],
        k=config["knn"]["k"],
    script:
        "../scripts/ceiling.py"


rule knn_summary:
    input:
        scores=lambda wc: PLAN.score_files(wc.dataset),
        parent_run=P.data_run("{dataset}"),
    output:
        csv=P.knn_summary("{dataset}"),
        run_id=P.knn_summary("{dataset}", ".run_id"),
    log:
        P.log("{dataset}", "knn_summary"),
    conda:
        "../envs/embed.yaml"
    resources:
        **requested("knn_summary"),
    params:
        code=code("summary.py", "tables"),
    script:
        "../scripts/summary.py"


rule knn_summary_all:
    input:
        [P.knn_summary(d) for d in PLAN.datasets],
    output:
        P.knn_summary(),
    log:
        P.log("knn_summary"),
    localrule: True
    conda:
        "../envs/embed.yaml"
    resources:
        **requested("plot"),
    params:
        code=code("summary_all.py", "tables"),
    script:
        "../scripts/summary_all.py"
