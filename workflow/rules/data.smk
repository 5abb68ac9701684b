# Dataset stage: download (verified) -> data.npz (subsample, split).


rule download:
    output:
        files=[f"{R}/{{dataset}}/raw/{name}" for name in RAW_FILES],
        run_id=f"{R}/{{dataset}}/raw/download.run_id",
    params:
        code=code("download.py", "data"),
    log:
        f"{R}/logs/{{dataset}}/download.log",
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
        data=f"{R}/{{dataset}}/data.npz",
        run_id=f"{R}/{{dataset}}/data.run_id",
    params:
        code=code("prepare.py", "data"),
        train_size=config["data"]["subsample"].get("train"),
        test_size=config["data"]["subsample"].get("test"),
        validation_fraction=config["data"]["validation_fraction"],
        seed=config["data"]["seed"],
    log:
        f"{R}/logs/{{dataset}}/prepare.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/prepare.py"
