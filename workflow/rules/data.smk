# Dataset stage: download (verified; built-in datasets) -> data.npz (checked, subsampled, split,
# scaling). A dataset of one's own is read from its path; two_cosines is generated.


rule download:
    output:
        files=[P.raw_file("{dataset}", name) for name in RAW_FILES],
        run_id=P.download_run("{dataset}"),
    params:
        code=code("download.py", "data"),
    log:
        P.log("{dataset}", "download"),
    wildcard_constraints:
        dataset=one_of(DOWNLOADED),
    localrule: True  # compute nodes of a cluster often have no internet
    retries: 1
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/download.py"


rule prepare:
    input:
        unpack(prepare_inputs),
    output:
        data=P.data("{dataset}"),
        run_id=P.data_run("{dataset}"),
    params:
        code=code("prepare.py", "data"),
        spec=lambda wc: DATASET_SPECS[wc.dataset],  # kind, scale, path: a change reruns the dataset
        train_size=config["data"]["subsample"].get("train"),
        test_size=config["data"]["subsample"].get("test"),
        validation_fraction=lambda wc: DATASET_SPECS[wc.dataset].get(
            "validation_fraction", config["data"]["validation_fraction"]),
        seed=config["data"]["seed"],
    log:
        P.log("{dataset}", "prepare"),
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/prepare.py"
