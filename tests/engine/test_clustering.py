"""Clustering: metrics against scikit-learn and brute force, planted groups found, bad input named."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from engine.analysis.clustering import ClusterConfig, cluster_metrics, hungarian_accuracy, run_cluster
from engine.core.errors import UserError
from engine.data.demo import DemoPaths

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _brute_force_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    clusters, classes = sorted(set(p.tolist())), sorted(set(y.tolist()))
    best = 0
    if len(clusters) >= len(classes):  # every injective matching of clusters and classes
        maps = [dict(zip(perm, classes, strict=True)) for perm in itertools.permutations(clusters, len(classes))]
    else:
        maps = [dict(zip(clusters, perm, strict=True)) for perm in itertools.permutations(classes, len(clusters))]
    for mapping in maps:
        best = max(best, sum(mapping.get(c) == t for c, t in zip(p.tolist(), y.tolist(), strict=True)))
    return best / len(y)


def test_metrics_match_scikit_learn_and_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 4, 30)
        p = rng.integers(0, rng.integers(2, 6), 30)
        m = cluster_metrics(y, p)
        assert m["nmi"] == pytest.approx(normalized_mutual_info_score(y, p))
        assert m["ari"] == pytest.approx(adjusted_rand_score(y, p))
        assert m["accuracy"] == pytest.approx(_brute_force_accuracy(y, p))
    y = np.array([0, 0, 1, 1, 2, 2])
    assert hungarian_accuracy(y, np.array([5, 5, 3, 3, 9, 9])) == 1.0  # renamed clusters
    assert hungarian_accuracy(y, np.array([0, 0, 1, 1, -1, -1])) == pytest.approx(4 / 6)  # noise counts wrong


def _planted(root: Path, per_class: int = 8, size: int = 32) -> Path:
    rng = np.random.default_rng(1)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            arr = np.clip(np.array(rgb) + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{name}_{i}.png")
    return root


def test_pixels_find_planted_groups_with_auto_k(tmp_path: Path) -> None:
    folder = _planted(tmp_path / "colours")
    report = run_cluster(ClusterConfig(folder=folder, k_max=6))
    assert report.k == 3 and sorted(report.sizes) == [8, 8, 8]
    assert report.metrics == {"nmi": pytest.approx(1.0), "ari": pytest.approx(1.0), "accuracy": pytest.approx(1.0)}
    assert max(report.k_scores, key=lambda k: report.k_scores[k]) == "3"
    for c in report.clusters:  # most typical first
        assert c.distances == sorted(c.distances)
        assert len({Path(m).parent.name for m in c.members}) == 1
    assert report.silhouette is not None and report.silhouette > 0.5


@pytest.mark.parametrize("algorithm", ["agglomerative", "hdbscan"])
def test_other_algorithms(tmp_path: Path, algorithm: str) -> None:
    report = run_cluster(ClusterConfig(folder=_planted(tmp_path / "c"), algorithm=algorithm, k=3, min_cluster_size=4))
    assert report.metrics is not None and report.metrics["nmi"] > 0.9
    assert report.k == 3


def test_bad_input_is_named(tmp_path: Path) -> None:
    folder = _planted(tmp_path / "c", per_class=1)
    with pytest.raises(UserError, match=r"k = 5 but .* only 3 readable images"):
        run_cluster(ClusterConfig(folder=folder, k=5))
    single = tmp_path / "single"
    single.mkdir()
    Image.new("RGB", (32, 32)).save(single / "a.png")
    with pytest.raises(UserError, match="at least 2"):
        run_cluster(ClusterConfig(folder=single, k=2))
    with pytest.raises(UserError, match="inside the image folder"):
        run_cluster(ClusterConfig(folder=folder, k=2, out=folder / "clusters"))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="already exists"):
        run_cluster(ClusterConfig(folder=folder, k=2, out=taken))
    with pytest.raises(UserError, match="not written by Transfer Studio"):
        run_cluster(ClusterConfig(folder=folder, k=2, out=taken, replace=True))
    assert (taken / "mine.txt").read_text() == "keep me"
    with pytest.raises(UserError, match="not 'pixels', a run directory or a weights file"):
        run_cluster(ClusterConfig(folder=folder, k=2, features=str(tmp_path / "nope")))


def test_writes_cluster_folders_and_json_via_cli(tmp_path: Path) -> None:
    from engine.cli import main

    folder = _planted(tmp_path / "c")
    out, js = tmp_path / "out", tmp_path / "report.json"
    assert main(["cluster", str(folder), "--k", "3", "--out", str(out), "--json", str(js)]) == 0
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == ["cluster_01", "cluster_02", "cluster_03"]
    assert sum(len(list((out / n).iterdir())) for n in names) == 24
    import json

    data = json.loads(js.read_text())
    assert data["sizes"] == [8, 8, 8] and data["metrics"]["accuracy"] == 1.0
    assert main(["cluster", str(folder), "--k", "3", "--out", str(out)]) == 2  # exists: refused
    assert main(["cluster", str(folder), "--k", "2", "--out", str(out), "--replace"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["cluster_01", "cluster_02"]
    assert main(["cluster", str(folder), "--k", "many"]) == 2


def test_pretraining_run_features_resize_other_image_sizes(tiny_demo: DemoPaths, tmp_path: Path) -> None:
    from engine.ssl.config import PretrainConfig
    from engine.ssl.pretrain import run_pretrain

    run = run_pretrain(PretrainConfig(data=[tiny_demo.target_train], epochs=1, batch_size=16, runs_dir=tmp_path / "r"))
    folder = _planted(tmp_path / "big", per_class=4, size=48)
    report = run_cluster(ClusterConfig(folder=folder, features=str(run.run_dir), k=3, image_size=64))
    assert report.image_size == 32
    assert any("resized" in n and "48×48" in n for n in report.notes)
    assert any("image size 64 ignored" in n for n in report.notes)
    assert report.features.startswith("pretraining run")


def test_training_run_features_and_class_probabilities(train_config, tiny_demo: DemoPaths, tmp_path: Path) -> None:
    from engine.training.trainer import run_train

    train_config.epochs = 1
    run = run_train(train_config).run_dir
    feats = run_cluster(ClusterConfig(folder=tiny_demo.target_test, features=str(run), k=3))
    probs = run_cluster(ClusterConfig(folder=tiny_demo.target_test, features=str(run), k=3, layer="probabilities"))
    assert feats.features == f"run {run.name}" and probs.features.endswith("(class probabilities)")
    assert feats.n_images == probs.n_images == sum(feats.sizes) == sum(probs.sizes)
    with pytest.raises(UserError, match="only a training run has class probabilities"):
        run_cluster(ClusterConfig(folder=tiny_demo.target_test, k=3, layer="probabilities"))
