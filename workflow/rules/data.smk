# Dataset stage: download (verified; built-in datasets) -> data.npz (checked, subsampled, split,
# scaling). A dataset of one's own is read from its path; two_cosines is generated; a reduced
# dataset is its parent's prepared rows put through a transform fitted on the training rows.


rule download:
    output:
        files=[P.raw_file("{dataset}", name) for name in RAW_FILES],
        run_id=P.download_run("{dataset}"),
    log:
        P.log("{dataset}", "download"),
    wildcard_constraints:
        dataset=one_of(PLAN.downloaded),
    priority: UPSTREAM
    retries: 1
    localrule: True  # compute nodes of a cluster often have no internet
    conda:
        "../envs/data.yaml"
    resources:
        **requested("download"),
    # No code fingerprint (params: code=, layermaps.fingerprint), unlike every other rule: a
    # download is verified by the sha256 of its content, so no edit of its code can change
    # its result, and rerunning it would remake every downstream file (new mtimes).
    script:
        "../scripts/download.py"


rule prepare:
    input:
        unpack(lambda wc: PLAN.prepare_inputs(wc.dataset)),
    output:
        data=P.data("{dataset}"),
        run_id=P.data_run("{dataset}"),
    log:
        P.log("{dataset}", "prepare"),
    wildcard_constraints:
        dataset=one_of([d for d in PLAN.datasets if d not in PLAN.reduced]),
    priority: UPSTREAM
    conda:
        "../envs/data.yaml"
    # it holds every array more than once: memory from the files' declared sizes (Plan.prepare_mem_mb)
    resources:
        runtime=RESOURCES["prepare"]["runtime"],
        mem_mb=lambda wc: PLAN.prepare_mem_mb(wc.dataset, RESOURCES["prepare"]["mem_mb"]),
    params:
        code=code("prepare.py", "data"),
        spec=lambda wc: PLAN.dataset_specs[wc.dataset],  # kind, scale, path: a change reruns the dataset
        train_size=config["data"]["subsample"].get("train"),
        test_size=config["data"]["subsample"].get("test"),
        validation_fraction=lambda wc: PLAN.validation_fraction(wc.dataset),
        seed=config["data"]["seed"],
    script:
        "../scripts/prepare.py"


# A reduced dataset keeps its parent's rows, labels and split: no subsample or split settings.
rule prepare_reduced:
    input:
        parent=lambda wc: P.data(PLAN.dataset_specs[wc.dataset]["from"]),
        transform=P.transform("{dataset}"),
    output:
        data=P.data("{dataset}"),
        run_id=P.data_run("{dataset}"),
    log:
        P.log("{dataset}", "prepare"),
    wildcard_constraints:
        dataset=one_of(PLAN.reduced),
    priority: UPSTREAM
    conda:
        "../envs/data.yaml"
    resources:
        **requested("prepare_reduced"),
    params:
        code=code("prepare_reduced.py", "data"),
        spec=lambda wc: PLAN.dataset_specs[wc.dataset],
    script:
        "../scripts/prepare_reduced.py"


# A reduced dataset's transform (layermaps.data.transforms), fitted on its parent's prepared
# training rows only; its `prepare` applies the stored transform to training and test rows and
# logs it to its run. The forest's result does not depend on its thread count.
rule fit_input_transform:
    input:
        parent=lambda wc: P.data(PLAN.dataset_specs[wc.dataset]["from"]),
    output:
        transform=P.transform("{dataset}"),
    log:
        P.log("{dataset}", "fit_input_transform"),
    wildcard_constraints:
        dataset=one_of(PLAN.reduced),
    priority: UPSTREAM
    conda:
        "../envs/data.yaml"
    threads: THREADS["train"]
    resources:
        **requested("fit_input_transform"),
    params:
        code=code("fit_input_transform.py", "data"),
        spec=lambda wc: PLAN.dataset_specs[wc.dataset],
    script:
        "../scripts/fit_input_transform.py"
