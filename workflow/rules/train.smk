# Training stage: train(model) -> model.keras, history, metrics; activations per layer.


rule train:
    input:
        data=f"{R}/{{dataset}}/data.npz",
        parent_run=f"{R}/{{dataset}}/data.run_id",
    output:
        model=f"{R}/{{dataset}}/models/{{model}}/model.keras",
        history=f"{R}/{{dataset}}/models/{{model}}/history.csv",
        metrics=f"{R}/{{dataset}}/models/{{model}}/metrics.json",
        confusion=f"{R}/{{dataset}}/models/{{model}}/confusion_test.csv",
        run_id=f"{R}/{{dataset}}/models/{{model}}/run_id",
    params:
        code=code("train.py", "train"),
        threads=THREADS["train"],
        spec=lambda wc: MODELS[wc.model],  # every model setting: a change reruns this model only
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
    log:
        f"{R}/logs/{{dataset}}/train/{{model}}.log",
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train.py"


rule raw_activations:
    input:
        data=f"{R}/{{dataset}}/data.npz",
        resume_run=f"{R}/{{dataset}}/data.run_id",
    output:
        train=f"{R}/{{dataset}}/activations/raw_train.npy",
        test=f"{R}/{{dataset}}/activations/raw_test.npy",
    params:
        code=code("raw_activations.py", "data"),
    log:
        f"{R}/logs/{{dataset}}/activations/raw.log",
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/raw_activations.py"


# One activations rule per model: each model has its own list of layers, and one job writes
# all of them (one forward pass), which a single rule with fixed outputs cannot express.
for _model, _spec in MODELS.items():
    _layers = [(layer, split) for layer in layer_names(_spec) for split in SPLITS]

    rule:
        name:
            f"activations_{_model}"
        input:
            model=f"{R}/{{dataset}}/models/{_model}/model.keras",
            data=f"{R}/{{dataset}}/data.npz",
            parent_run=f"{R}/{{dataset}}/models/{_model}/run_id",
        output:
            arrays=[activation_path("{dataset}", _model, layer, split) for layer, split in _layers],
            run_id=f"{R}/{{dataset}}/activations/{_model}/run_id",
        params:
            code=code("activations.py", "train"),
            threads=THREADS["train"],
            model=_model,
            layers=[layer for layer, _ in _layers],
            splits=[split for _, split in _layers],
        threads: THREADS["train"]
        log:
            f"{R}/logs/{{dataset}}/activations/{_model}.log",
        conda:
            "../envs/train.yaml"
        script:
            "../scripts/activations.py"
