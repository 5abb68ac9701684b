"""Code fingerprints (layermaps.fingerprint): what each rule's digest covers, what it ignores,
and that the declared package lists cover what the code imports."""

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

from layermaps import fingerprint
from layermaps.embed.reducers import REDUCERS
from layermaps.fingerprint import STAGE_PACKAGES, closure, code_version

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow/scripts"


def rule_scripts() -> dict[str, str]:
    """script -> stage, as the rules declare them (code("x.py", "stage") in workflow/rules)."""
    out = {}
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        out.update(re.findall(r'code\("(\w+\.py)", "(\w+)"\)', smk.read_text()))
    return out


def reducer_root(name):
    cls = REDUCERS[name]
    return f"{cls.__module__}.{cls.__qualname__}"


def names(script, *roots):
    return {name for name, _ in closure(script, *roots)[0]}


# download.py: a download is verified by the sha256 of its content, so its code cannot change
# its result; a fingerprint would only rerun it, and with it everything downstream (data.smk).
UNFINGERPRINTED = {"download.py"}


def test_every_script_rule_has_a_fingerprint():
    scripts = {p.name for p in SCRIPTS.glob("*.py")}
    assert set(rule_scripts()) | {"embed.py"} | UNFINGERPRINTED == scripts
    assert not set(rule_scripts()) & UNFINGERPRINTED
    text = (REPO / "workflow/rules/data.smk").read_text()
    download = text[text.index("rule download:") : text.index("rule prepare:")]
    assert "\n    params:" not in download  # no code=, and no other param that a change would rerun
    text = (REPO / "workflow/rules/embed.smk").read_text()
    assert "code=embed_code," in text


@pytest.mark.parametrize("reducer", REDUCERS)
def test_embed_digest_covers_its_reducer_only(reducer):
    got = names(SCRIPTS / "embed.py", reducer_root(reducer))
    assert {REDUCERS[reducer].__name__, "Reducer", "embed", "embed_job", "Embedding"} <= got
    others = {cls.__name__ for name, cls in REDUCERS.items() if name != reducer}
    assert not got & others
    assert not got & {"REDUCERS", "tracked_job", "job_run"}  # registry and recording left out


def test_digests_differ_between_reducers_and_rules():
    digests = {code_version(SCRIPTS / "embed.py", reducer_root(r))["digest"] for r in REDUCERS}
    digests |= {code_version(SCRIPTS / s)["digest"] for s in rule_scripts()}
    assert len(digests) == len(REDUCERS) + len(rule_scripts())


def test_code_version_is_plain_json_with_versions():
    v = code_version(SCRIPTS / "train.py", packages=STAGE_PACKAGES["train"])
    assert re.fullmatch(r"[0-9a-f]{16}", v["digest"])
    assert v["packages"]["keras"] == importlib.metadata.version("keras")
    assert fingerprint.package_versions(["no-such-distribution"]) == {"no-such-distribution": None}


def test_normalization_ignores_docstrings_comments_layout_and_module(tmp_path):
    """The same definitions written differently, and split over modules differently, give the
    same digest; a change of behaviour gives another."""
    package = tmp_path / "layermaps"
    package.mkdir()

    def digest(modules: dict, script: str) -> str:
        for f in package.glob("*.py"):
            f.unlink()
        for name, text in modules.items():
            (package / f"{name}.py").write_text(text)
        (tmp_path / "script.py").write_text(script)
        old = fingerprint.SRC
        fingerprint.SRC = tmp_path
        for cached in (
            fingerprint._module_file,
            fingerprint._definitions,
            fingerprint._script,
            fingerprint.code_version,
        ):
            cached.cache_clear()
        try:
            return code_version(tmp_path / "script.py")["digest"]
        finally:
            fingerprint.SRC = old
            for cached in (
                fingerprint._module_file,
                fingerprint._definitions,
                fingerprint._script,
                fingerprint.code_version,
            ):
                cached.cache_clear()

    script = "from layermaps.a import run\nrun(3)\n"
    helper = "def double(x):\n    return 2 * x\n"
    base = digest(
        {"a": "from layermaps.b import double\n\ndef run(n):\n    return double(n)\n", "b": helper}, script
    )
    restyled = digest(
        {
            "a": '"""Module doc."""\nfrom layermaps.b import double\n\n\ndef run(n):\n'
            '    """Doubles n."""\n    # why: a comment\n    return double( n )\n',
            "b": helper,
        },
        script,
    )
    moved = digest(
        {"a": f"def run(n):\n    return double(n)\n\n\n{helper}"},
        script.replace("layermaps.a", "layermaps.a"),
    )
    changed = digest(
        {
            "a": "from layermaps.b import double\n\ndef run(n):\n    return double(n)\n",
            "b": "def double(x):\n    return x + x\n",
        },
        script,
    )
    unused = digest(
        {
            "a": "from layermaps.b import double\n\ndef run(n):\n    return double(n)\n",
            "b": helper + "\n\ndef unrelated():\n    return 1\n",
        },
        script,
    )
    assert base == restyled == moved == unused
    assert changed != base


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distribution_of(module: str) -> set[str]:
    return {canonical(d) for d in importlib.metadata.packages_distributions().get(module, [])}


# Imported by the code but not deciding its numbers: the tracking library.
RECORDING = {"mlflow"}


@pytest.mark.parametrize(
    "script, roots, packages",
    [
        *[(s, (), STAGE_PACKAGES[stage]) for s, stage in rule_scripts().items()],
        *[("embed.py", (reducer_root(r),), REDUCERS[r].packages) for r in REDUCERS],
    ],
    ids=[*rule_scripts(), *(f"embed-{r}" for r in REDUCERS)],
)
def test_declared_packages_cover_the_imports(script, roots, packages):
    """Every library the code of a rule imports is among its declared packages, so a new
    version of it reruns the rule's jobs (tensorflow is installed as tensorflow-cpu)."""
    _, external = closure(SCRIPTS / script, *roots)
    declared = {canonical(p) for p in packages}
    for module in external - set(sys.stdlib_module_names) - RECORDING:
        dists = distribution_of(module)
        if module == "faiss" and not dists:
            continue  # optional in PaCMAP
        assert dists & declared, f"{script} {roots}: {module} ({dists}) not in {sorted(declared)}"


def test_left_out_modules_and_registries_exist():
    """A reorganisation that moves these must update the lists, or their code would count."""
    for module in fingerprint.RECORDING_MODULES:
        assert fingerprint._module_file(module), module
    import layermaps.embed.reducers

    for name in fingerprint.REGISTRIES:
        assert isinstance(getattr(layermaps.embed.reducers, name), dict)


def test_a_planning_only_method_is_not_part_of_a_class_digest():
    """Reducer.check_settings decides whether a config is accepted, never what a job computes:
    editing it (or what it imports) reruns nothing; editing a method a job runs does."""
    import ast

    from layermaps.fingerprint import _analyse, _Module

    def analysis(source):
        tree = ast.parse(source)
        module = _Module("layermaps.example", tree)
        return _analyse(module.defs["R"], module)

    base = (
        "class R:\n"
        "    def fit(self):\n"
        "        return 1\n"
        "    @classmethod\n"
        "    def check_settings(cls, settings, where):\n"
        "        import yaml\n"
        "        return 0\n"
    )
    digest, _, external = analysis(base)
    assert "yaml" not in external
    assert analysis(base.replace("return 0", "return 2"))[0] == digest
    assert analysis(base.replace("return 1", "return 2"))[0] != digest
