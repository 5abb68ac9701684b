"""workflow/envs/*.yaml (for --sdm conda users) pin exactly what requirements.lock pins."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if m := re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip()):
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_every_env_pin_matches_the_lock():
    pins = lock_pins()
    envs = sorted((REPO / "workflow/envs").glob("*.yaml"))
    assert envs
    for env in envs:
        deps = yaml.safe_load(env.read_text())["dependencies"]
        pip = next(d["pip"] for d in deps if isinstance(d, dict))
        assert pip, env
        for req in pip:
            name, version = req.split("==")
            assert pins.get(name.lower().replace("_", "-")) == version, f"{env.name}: {req} is not the lock's"
        assert "python=3.11" in deps


def test_every_script_rule_names_an_existing_env():
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        text = smk.read_text()
        scripts = len(re.findall(r"^\s+script:", text, re.M))
        envs = re.findall(r'^\s+conda:\n\s+"\.\./envs/([\w-]+\.yaml)"', text, re.M)
        assert len(envs) == scripts, f"{smk.name}: {scripts} script rules, {len(envs)} conda envs"
        for env in envs:
            assert (REPO / "workflow/envs" / env).is_file(), env


def test_lock_has_no_torch_or_cuda():
    pins = lock_pins()
    assert not [p for p in pins if p.startswith(("torch", "nvidia-", "cuda"))]
    assert pins["trimap"] == "1.1.5"
