# Training stage: train(model) -> model.keras, history, metrics; activations per layer.


rule train:
    input:
        data=P.data("{dataset}"),
        parent_run=P.data_run("{dataset}"),
    output:
        model=P.model_file("{dataset}", "{model}", "model.keras"),
        history=P.model_file("{dataset}", "{model}", "history.csv"),
        metrics=P.model_file("{dataset}", "{model}", "metrics.json"),
        confusion=P.model_file("{dataset}", "{model}", "confusion_test.csv"),
        run_id=P.model_file("{dataset}", "{model}", "run_id"),
    params:
        code=code("train.py", "train"),
        threads=THREADS["train"],
        spec=lambda wc: MODELS[wc.model],  # every model setting: a change reruns this model only
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
    log:
        P.log("{dataset}", "train", "{model}"),
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train.py"


rule raw_activations:
    input:
        data=P.data("{dataset}"),
        resume_run=P.data_run("{dataset}"),
    output:
        train=P.raw_activation("{dataset}", "train"),
        test=P.raw_activation("{dataset}", "test"),
    params:
        code=code("raw_activations.py", "data"),
    log:
        P.log("{dataset}", "activations", "raw"),
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
            model=P.model_file("{dataset}", _model, "model.keras"),
            data=P.data("{dataset}"),
            parent_run=P.model_file("{dataset}", _model, "run_id"),
        output:
            arrays=[P.activation("{dataset}", _model, layer, split) for layer, split in _layers],
            run_id=P.activations_run("{dataset}", _model),
        params:
            code=code("activations.py", "train"),
            threads=THREADS["train"],
            model=_model,
            layers=[layer for layer, _ in _layers],
            splits=[split for _, split in _layers],
        threads: THREADS["train"]
        log:
            P.log("{dataset}", "activations", _model),
        conda:
            "../envs/train.yaml"
        script:
            "../scripts/activations.py"
