# Training stage: train(model) -> model.keras, history, metrics; activations per layer.


# One rule for the models without snapshots, and one per model with them (its outputs list its
# epochs, which a rule's fixed outputs cannot vary by model).
for _model in [None, *PLAN.snapshots]:

    rule:
        name:
            "train" if _model is None else f"train_{_model}"
        input:
            data=P.data("{dataset}"),
            parent_run=P.data_run("{dataset}"),
        output:
            **PLAN.train_outputs("{model}" if _model is None else _model, PLAN.snapshots.get(_model, ())),
        log:
            P.log("{dataset}", "train", "{model}" if _model is None else _model),
        wildcard_constraints:
            model=one_of([m for m in PLAN.models if m not in PLAN.snapshots]),
        priority: UPSTREAM
        conda:
            "../envs/train.yaml"
        threads: THREADS["train"]
        resources:
            **requested("train"),
        params:
            code=code("train.py", "train"),
            threads=THREADS["train"],
            model=(lambda wc: wc.model) if _model is None else _model,
            # every model setting: a change reruns this model only
            spec=(lambda wc: PLAN.models[wc.model]) if _model is None else PLAN.models[_model],
        script:
            "../scripts/train.py"


rule raw_activations:
    input:
        data=P.data("{dataset}"),
        resume_run=P.data_run("{dataset}"),
    output:
        train=P.raw_activation("{dataset}", "train"),
        test=P.raw_activation("{dataset}", "test"),
    log:
        P.log("{dataset}", "activations", "raw"),
    priority: UPSTREAM
    conda:
        "../envs/train.yaml"
    resources:
        **requested("raw_activations"),
    params:
        code=code("raw_activations.py", "data"),
    script:
        "../scripts/raw_activations.py"


# One activations rule per model: each model has its own list of layers, and one job writes
# all of them (one forward pass), which a single rule with fixed outputs cannot express.
for _model, _spec in PLAN.models.items():
    _layers = [(layer, split) for layer in layer_names(_spec) for split in SPLITS]

    rule:
        name:
            f"activations_{_model}"
        input:
            model=P.model("{dataset}", _model),
            data=P.data("{dataset}"),
            parent_run=P.model_run("{dataset}", _model),
        output:
            arrays=[P.activation("{dataset}", _model, layer, split) for layer, split in _layers],
            run_id=P.activations_run("{dataset}", _model),
        log:
            P.log("{dataset}", "activations", _model),
        priority: UPSTREAM
        conda:
            "../envs/train.yaml"
        threads: THREADS["train"]
        resources:
            **requested("activations"),
        params:
            code=code("activations.py", "train"),
            threads=THREADS["train"],
            model=_model,
            layers=[layer for layer, _ in _layers],
            splits=[split for _, split in _layers],
        script:
            "../scripts/activations.py"


# A snapshot's activations: every layer, the test rows and a seeded subset of the fit rows
# (embed.snapshot_rows); its maps are ordinary embeddings of the source `{model}@epoch{e}/{layer}`.
for _model, _epochs in PLAN.snapshots.items():
    _layers = [(layer, split) for layer in layer_names(PLAN.models[_model]) for split in SPLITS]
    _name = snapshot_name(_model, "{epoch}")

    rule:
        name:
            f"snapshot_activations_{_model}"
        input:
            model=P.snapshot("{dataset}", _model, "{epoch}"),
            data=P.data("{dataset}"),
            parent_run=P.model_run("{dataset}", _model),
        output:
            arrays=[P.activation("{dataset}", _name, layer, split) for layer, split in _layers],
            rows=P.source_rows("{dataset}", _name),
            run_id=P.activations_run("{dataset}", _name),
        log:
            P.log("{dataset}", "activations", _name),
        wildcard_constraints:
            epoch=one_of([str(e) for e in _epochs]),
        priority: UPSTREAM
        conda:
            "../envs/train.yaml"
        threads: THREADS["train"]
        resources:
            **requested("activations"),
        params:
            code=code("activations.py", "train"),
            threads=THREADS["train"],
            model=lambda wc, m=_model: snapshot_name(m, wc.epoch),
            layers=[layer for layer, _ in _layers],
            splits=[split for _, split in _layers],
            subset=PLAN.snapshot_rows,
        script:
            "../scripts/activations.py"
