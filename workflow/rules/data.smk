# Dataset stage: download (verified) -> data.npz (subsample, split).


rule download:
    output:
        files=[P.raw_file("{dataset}", name) for name in RAW_FILES],
        run_id=P.download_run("{dataset}"),
    params:
        code=code("download.py", "data"),
    log:
        P.log("{dataset}", "download"),
    localrule: True  # compute nodes of a cluster often have no internet
    retries: 1
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/download.py"


rule prepare:
    input:
        files=rules.download.output.files,
    output:
        data=P.data("{dataset}"),
        run_id=P.data_run("{dataset}"),
    params:
        code=code("prepare.py", "data"),
        train_size=config["data"]["subsample"].get("train"),
        test_size=config["data"]["subsample"].get("test"),
        validation_fraction=config["data"]["validation_fraction"],
        seed=config["data"]["seed"],
    log:
        P.log("{dataset}", "prepare"),
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/prepare.py"
