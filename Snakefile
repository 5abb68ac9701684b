# layermaps: how do the hidden layers of small Keras networks see MNIST and Fashion-MNIST?
# Run `snakemake --cores 8` (or `make run`); see README.md. Keep this file light: the DAG of the
# full experiment must build in about a second (no TensorFlow, MLflow or reducer imports here).

import os
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The library lives in src/: importable here and, through PYTHONPATH, in every job's script.
LAYERMAPS_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, LAYERMAPS_SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (LAYERMAPS_SRC, os.environ.get("PYTHONPATH")) if p)


configfile: "config.yaml"


from layermaps.errors import stop


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/measures.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        PLAN.final_targets(),


# One target rule per study (config `studies:`): `snakemake --cores 8 <study>` makes that
# study and nothing else. A study's name may not be another rule's.
or_stop(checked, check_study_names, PLAN.studies, [r.name for r in workflow.rules])
for _study in PLAN.studies:
    if _study != IMPLICIT:

        rule:
            name:
                _study
            input:
                PLAN.study_targets(_study),
            localrule: True
