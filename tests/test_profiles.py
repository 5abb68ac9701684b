"""The profiles: plain `snakemake` finds profiles/default (tests/test_workflow_rerun.py runs it);
the SLURM profile, which replaces it when named, keeps every one of its settings."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def profile(name):
    return yaml.safe_load((REPO / "profiles" / name / "profile.yaml").read_text())


def test_slurm_profile_repeats_the_default_settings():
    default, slurm = profile("default"), profile("slurm")
    assert {k: slurm.get(k) for k in default} == default
    assert slurm["executor"] == "slurm"


def test_default_profile_leaves_code_changes_to_the_fingerprints():
    triggers = profile("default")["rerun-triggers"]
    assert "code" not in triggers and {"mtime", "params", "input"} <= set(triggers)


def test_make_uses_plain_snakemake():
    (line,) = [l for l in (REPO / "Makefile").read_text().splitlines() if l.startswith("SNAKEMAKE :=")]
    assert line == "SNAKEMAKE := $(BIN)/snakemake --cores $(CORES)"
