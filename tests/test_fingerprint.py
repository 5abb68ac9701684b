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
    assert 'code=lambda wc: class_code(SCRIPTS / "embed.py", PLAN.maps[wc.reducer].cls),' in text


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


def _class_digest(source: str, name: str, module: str = "layermaps.example") -> tuple:
    import ast

    tree = ast.parse(source)
    parsed = fingerprint._Module(module, tree)
    return fingerprint._analyse(parsed.defs[name], parsed)


def test_the_order_of_one_imports_names_is_not_part_of_a_digest():
    """`ruff check --fix` sorts the names of an import: that reruns nothing; importing another
    name, or under another alias, does."""
    base = "class R:\n    def fit(self):\n        from math import {}\n        return 1\n"
    digest = _class_digest(base.format("sqrt, exp as e, ceil"), "R")[0]
    assert _class_digest(base.format("ceil, exp as e, sqrt"), "R")[0] == digest
    assert _class_digest(base.format("ceil, exp, sqrt"), "R")[0] != digest
    assert _class_digest(base.format("ceil, exp as e, floor"), "R")[0] != digest


def test_a_planning_only_member_is_not_part_of_a_class_digest():
    """Reducer.check_settings and the rules only it reads decide whether a config is accepted,
    never what a job computes: editing them (or what they import) reruns nothing; editing a
    method a job runs does."""
    base = (
        "class R:\n"
        "    whole_numbers = ('k',)\n"
        "    own_types: dict = {'mode': {'str'}}\n"
        "    def fit(self):\n"
        "        return 1\n"
        "    @classmethod\n"
        "    def check_settings(cls, settings, where):\n"
        "        import yaml\n"
        "        return 0\n"
    )
    digest, _, external = _class_digest(base, "R")
    assert "yaml" not in external
    for edit in (("return 0", "return 2"), ("('k',)", "()"), ("{'str'}", "{'int'}")):
        assert _class_digest(base.replace(*edit), "R")[0] == digest, edit
    assert _class_digest(base.replace("return 1", "return 2"), "R")[0] != digest


def test_editing_a_real_reducers_settings_rules_keeps_its_embed_digest():
    """The same on layermaps.embed.reducers itself: UMAP's whole-number rule, t-SNE's nested
    settings and the shared check_settings are planning-only; UMAP's fit is not."""
    source = (REPO / "src/layermaps/embed/reducers.py").read_text()
    module = "layermaps.embed.reducers"

    def digests(text):
        return [_class_digest(text, c, module)[0] for c in ("Reducer", "UMAPReducer", "TSNEReducer")]

    before = digests(source)
    for old, new in (
        ('whole_numbers = ("n_neighbors",)', "whole_numbers = ()"),
        ('nested_settings = {"transform": "openTSNE:TSNEEmbedding.transform"}', "nested_settings = {}"),
        ("        cls(seed=0, **settings)  # cheap", "        cls(seed=1, **settings)  # cheap"),
    ):
        assert old in source, old  # the edit must apply: a renamed line fails here, not silently
        assert digests(source.replace(old, new, 1)) == before, old
    fit = 'kw = {"transform_seed": self.seed, **self.settings}'
    assert fit in source
    assert digests(source.replace(fit, "kw = {**self.settings}"))[1] != before[1]


def test_no_code_a_job_runs_reads_a_planning_only_member():
    """A planning-only member read by a job's code (say `cls.whole_numbers` in fit) would decide
    results without counting in the digest: none of the definitions in any rule's closure, its
    planning-only members left out, names one."""
    import ast

    from layermaps.embed.reducers import Reducer

    for member in fingerprint.PLANNING_ONLY_MEMBERS:
        assert hasattr(Reducer, member), member  # renamed without updating the list
    jobs = [(SCRIPTS / s, ()) for s in rule_scripts()]
    jobs += [(SCRIPTS / "embed.py", (reducer_root(r),)) for r in REDUCERS]
    checked = set()
    for script, roots in jobs:
        _, used, _ = fingerprint.used_definitions(script, *roots)
        nodes = [("__script__", ast.parse(script.read_text()))]
        for module, name in sorted(set(used) - checked):
            checked.add((module, name))
            tree = ast.parse(fingerprint._module_file(module).read_text())
            nodes.append((f"{module}.{name}", fingerprint._Module(module, tree).defs[name]))
        for where, node in nodes:
            read = {
                n.attr if isinstance(n, ast.Attribute) else n.id
                for n in ast.walk(fingerprint.drop_planning_only(node))
                if isinstance(n, (ast.Attribute, ast.Name))
            }
            assert not read & set(fingerprint.PLANNING_ONLY_MEMBERS), (script.name, where)


def test_an_embed_jobs_code_is_its_reducer_class_with_its_packages():
    for name, cls in REDUCERS.items():
        got = fingerprint.class_code(SCRIPTS / "embed.py", cls)
        assert got == code_version(SCRIPTS / "embed.py", reducer_root(name), packages=cls.packages)
