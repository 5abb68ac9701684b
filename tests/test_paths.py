"""The one table of output paths: the layout the README documents, for values and patterns."""

from layermaps.paths import STATE_DIR, Paths


def test_paths_follow_the_documented_layout():
    at = Paths("results/")
    assert at.root == "results"
    assert at.raw_file("mnist", "t10k-labels-idx1-ubyte.gz") == "results/mnist/raw/t10k-labels-idx1-ubyte.gz"
    assert (
        at.data("mnist") == "results/mnist/data.npz" and at.data_run("mnist") == "results/mnist/data.run_id"
    )
    assert at.model_file("mnist", "seed_mlp", "metrics.json") == "results/mnist/models/seed_mlp/metrics.json"
    assert at.source_array("mnist", "raw", "test") == "results/mnist/activations/raw_test.npy"
    assert (
        at.source_array("mnist", "seed_mlp/hidden2", "train")
        == at.activation("mnist", "seed_mlp", "hidden2", "train")
        == "results/mnist/activations/seed_mlp/hidden2_train.npy"
    )
    assert at.graph("mnist", "seed_mlp/hidden2") == "results/mnist/neighbors/seed_mlp/hidden2.npz"
    assert at.embedding("mnist", "raw", "umap", ".run_id") == "results/mnist/embeddings/raw/umap.run_id"
    assert at.score("mnist", "raw", "unreduced") == "results/mnist/scores/raw/unreduced.json"
    assert at.knn_summary() == "results/knn_summary.csv"
    assert at.knn_summary("mnist", ".run_id") == "results/mnist/knn_summary.run_id"
    assert at.embedding_figure("mnist", "raw", "pca") == "results/mnist/figures/embeddings/raw/pca.png"
    assert at.model_figure("mnist", "m", "confusion.png") == "results/mnist/figures/models/m/confusion.png"
    assert at.study_file("s", "knn_mnist_vs_fashion.png") == "results/studies/s/knn_mnist_vs_fashion.png"
    assert at.summary() == "results/summary.md" and at.state() == f"results/{STATE_DIR}"
    assert at.log("mnist", "embed", "raw", "umap") == "results/logs/mnist/embed/raw/umap.log"


def test_wildcards_give_the_rules_patterns():
    assert (
        Paths("r").embedding("{dataset}", "{source}", "{reducer}")
        == "r/{dataset}/embeddings/{source}/{reducer}.npz"
    )
    assert Paths("r").figure("{dataset}", "grid_{model}.png") == "r/{dataset}/figures/grid_{model}.png"


def test_all_scores_lists_existing_records(tmp_path):
    at = Paths(tmp_path)
    for source, reducer in (("raw", "umap"), ("m/hidden1", "pca")):
        path = tmp_path / at.score("mnist", source, reducer).removeprefix(at.root + "/")
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    (tmp_path / "mnist/scores/raw/notes.txt").write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in at.all_scores()] == [
        "mnist/scores/m/hidden1/pca.json",
        "mnist/scores/raw/umap.json",
    ]
