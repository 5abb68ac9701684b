"""The source documents' numbers are data (src/layermaps/figures/reference.yaml), each group
naming the section of docs/experiments.md it comes from, read by the summary."""

import re
from pathlib import Path

import yaml

from layermaps.figures.summary import REFERENCE_FILE, SEED_REFERENCE, read_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "experiments.md"


def test_every_group_names_a_section_of_the_experiments_page():
    sections = set(re.findall(r"^## ([A-Z])\. ", DOC.read_text(), re.M))
    assert sections == {"A", "B", "C", "D", "E"}
    data = yaml.safe_load(REFERENCE_FILE.read_text())
    named = [data[k]["section"] for k in ("knn", "sweep", "report", "assignment", "map_quality")]
    named += [m["section"] for m in data["knn"]["maps"]]
    named += [m["section"] for m in data["models"] + data["model_notes"]]
    assert named and all(s[0] in sections for s in named)
    assert "what the report's code trains" in DOC.read_text()


def test_the_numbers_are_read_in_the_shapes_the_summary_uses():
    ref = read_reference()
    assert ref == SEED_REFERENCE
    assert ref["knn"][("mnist", "umap")]["hidden2"] == (0.9770, 0.9777, 0.9779)
    assert ref["models"][("fashion-mnist", "seed_mlp")] == {"test_accuracy": 0.876}
    assert ref["sweep"]["rows"][2][:3] == (0.114, 0.106, 0.114)
    assert ref["report"]["rows"][3][2] == ("mnist_pca154", "msds_w5_reduced")
    assert ref["assignment"]["rows"][-1][-1] == 143 and ref["report"]["unstable"] == ("model1", "model2")


def test_each_number_is_in_the_experiments_page():
    """A number of the data file that the page does not give would be one nobody reported."""
    text = DOC.read_text()
    ref = read_reference()
    for layers in ref["knn"].values():
        for values in layers.values():
            assert " / ".join(f"{v:.4f}".removeprefix("0") for v in values) in text
    for row in ref["report"]["rows"]:
        assert f"{row[3] * 100:.2f} %" in text
    for value in ref["map_quality"].values():
        assert f"| {value:.4f} |" in text
