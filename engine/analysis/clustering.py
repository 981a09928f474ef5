"""Self-taught clustering: sort an unlabelled folder into groups by learned features.

Features come from raw pixels (the baseline), a training run, a pretraining run or a weights
file (engine.analysis.cluster_features); scikit-learn clusters them (k-means, agglomerative/Ward
or HDBSCAN), k chosen by silhouette when not given. Each cluster lists its images most typical
first (nearest the centroid). When the folder already has class sub-folders, NMI, ARI and
accuracy under the best one-to-one matching of clusters to classes (Hungarian) measure the result.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from engine.core.config import StrictModel, UserPath
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Log, Progress, Started, ignore

Algorithm = Literal["kmeans", "agglomerative", "hdbscan"]
PCA_DIM = 64  # features are reduced to this many principal components before clustering


class ClusterConfig(StrictModel):
    folder: UserPath = Field(description="Folder of images (class sub-folders, if any, are used only to measure).")
    features: str = Field("pixels", description="'pixels', a run or pretraining run directory, or a weights file.")
    backbone: str = Field("small_cnn", description="Architecture of a weights file given as features.")
    layer: Literal["features", "probabilities"] = Field(
        "features", description="Penultimate features, or a training run's class probabilities (softmax)."
    )
    k: int | None = Field(None, ge=2, le=1000, description="Number of clusters; empty: chosen by silhouette.")
    k_max: int = Field(15, ge=2, le=200, description="Largest k tried when k is chosen automatically.")
    algorithm: Algorithm = Field("kmeans", description="kmeans, agglomerative (Ward) or hdbscan (finds k itself).")
    min_cluster_size: int = Field(5, ge=2, le=10_000, description="HDBSCAN: smallest group it calls a cluster.")
    image_size: int | None = Field(None, ge=8, le=1024, description="Pixel baseline side (a model's own size wins).")
    out: UserPath | None = Field(None, description="Write cluster_NN sub-folders here (links, else copies).")
    replace: bool = Field(False, description="Replace `out` if an earlier clustering wrote it.")
    copy_files: bool = Field(False, description="Copy files into `out` instead of linking them.")
    seed: int = Field(0, description="Random seed of k-means and the silhouette sample.")


class ClusterInfo(BaseModel):
    name: str
    size: int
    members: list[str]  # most typical first
    distances: list[float]


class ClusterReport(BaseModel):
    folder: str
    features: str
    algorithm: str
    k: int
    n_images: int
    image_size: int
    sizes: list[int]
    silhouette: float | None
    k_scores: dict[str, float] = Field(default_factory=dict)
    clusters: list[ClusterInfo]
    outliers: list[str] = Field(default_factory=list)
    metrics: dict[str, float] | None = None
    classes: list[str] = Field(default_factory=list)
    labels: list[int] = Field(default_factory=list)  # true class per image when measured, else empty
    notes: list[str] = Field(default_factory=list)
    out: str | None = None
    seconds: float = 0.0


# ----------------------------------------------------------------------------- metrics
def hungarian_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy under the best one-to-one map of clusters to classes (unmatched and -1 count wrong)."""
    from scipy.optimize import linear_sum_assignment

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    keep = y_pred >= 0
    if len(y_true) == 0:
        return float("nan")
    preds, p_idx = np.unique(y_pred[keep], return_inverse=True)
    trues, t_idx = np.unique(y_true[keep], return_inverse=True)
    counts = np.zeros((len(preds), len(trues)), np.int64)
    np.add.at(counts, (p_idx, t_idx), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(y_true))


def cluster_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
        "accuracy": hungarian_accuracy(y_true, y_pred),
    }


# ----------------------------------------------------------------------------- clustering
def prepare_features(x: np.ndarray, normalise: bool, seed: int = 0) -> np.ndarray:
    """L2-normalise learned features (cosine geometry), then PCA to at most PCA_DIM dimensions."""
    from sklearn.decomposition import PCA

    x = np.asarray(x, np.float64)
    if normalise:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    dim = min(PCA_DIM, x.shape[0] - 1, x.shape[1])
    if x.shape[1] > PCA_DIM and dim >= 2:
        x = PCA(n_components=dim, random_state=seed).fit_transform(x)
    return x


def _silhouette(x: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    from sklearn.metrics import silhouette_score

    mask = labels >= 0
    n_lab = len(set(labels[mask].tolist()))
    if n_lab < 2 or n_lab >= mask.sum():
        return None
    return float(silhouette_score(x[mask], labels[mask], sample_size=min(2000, int(mask.sum())), random_state=seed))


def fit_labels(x: np.ndarray, algorithm: str, k: int, seed: int, min_cluster_size: int = 5) -> np.ndarray:
    from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans

    if algorithm == "kmeans":
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    if algorithm == "agglomerative":
        return AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x)
    return HDBSCAN(min_cluster_size=min(min_cluster_size, len(x)), copy=True).fit_predict(x)


def choose_k(x: np.ndarray, algorithm: str, k_max: int, seed: int, control: JobControl) -> tuple[int, dict[str, float]]:
    """The k in 2..k_max with the highest silhouette score; also every score tried."""
    scores: dict[str, float] = {}
    for k in range(2, min(k_max, len(x) - 1) + 1):
        control.check()
        s = _silhouette(x, fit_labels(x, algorithm, k, seed), seed)
        if s is not None:
            scores[str(k)] = s
    if not scores:
        raise UserError(f"could not choose k automatically for {len(x)} images; give k yourself (--k N).")
    return int(max(scores, key=lambda key: scores[key])), scores


def _order_clusters(x: np.ndarray, labels: np.ndarray, paths: list[str]) -> tuple[list[ClusterInfo], np.ndarray]:
    """Clusters largest first, named cluster_01...; members nearest their centroid first."""
    ids = sorted(set(labels.tolist()) - {-1}, key=lambda c: (-(labels == c).sum(), c))
    clusters, remap = [], np.full(len(labels), -1)
    for new, c in enumerate(ids):
        idx = np.flatnonzero(labels == c)
        d = np.linalg.norm(x[idx] - x[idx].mean(axis=0), axis=1)
        order = np.argsort(d, kind="stable")
        remap[idx] = new
        clusters.append(
            ClusterInfo(
                name=f"cluster_{new + 1:02d}",
                size=len(idx),
                members=[paths[i] for i in idx[order]],
                distances=[round(float(v), 5) for v in d[order]],
            )
        )
    return clusters, remap


# ----------------------------------------------------------------------------- job
def run_cluster(config: ClusterConfig, emit: Emit = ignore, control: JobControl | None = None) -> ClusterReport:
    """Decode the folder, extract features, cluster, measure when labelled; write folders if asked."""
    from engine.analysis.cluster_features import PIXEL_SIZE, feature_source
    from engine.data.disk_images import budget_bytes
    from engine.data.folders import scan_domain
    from engine.data.images import open_rgb_with_info
    from engine.data.loading import decode_domain

    control = control or JobControl()
    t0 = time.monotonic()
    emit(Started("cluster"))
    notes: list[str] = []

    def note(msg: str) -> None:
        notes.append(msg)
        emit(Log(msg, "warning"))

    if config.out is not None:  # refuse a bad destination before any work
        from engine.analysis.cluster_folders import check_destination

        check_destination(config.out, [config.folder], config.replace)
    domain = scan_domain(config.folder)
    source = feature_source(config.features, config.backbone, config.layer)
    size = source.size or config.image_size or PIXEL_SIZE
    if source.size is not None and config.image_size not in (None, source.size):
        note(
            f"{source.label} works on {source.size} px images; image size {config.image_size} ignored, images resized to {source.size} px."
        )
    try:
        _, first = open_rgb_with_info(domain.paths[0])
        if (first.width, first.height) != (size, size):
            note(
                f"images are {first.width}×{first.height} px; resized and centre-cropped to {size}×{size} for {source.label}."
            )
    except UserError:
        pass
    # within the memory budget in memory, over it DiskImages read a batch at a time by the extractor
    dec = decode_domain(
        domain, size, control=control, budget=budget_bytes(None), progress=lambda d, n: emit(Progress(0, d, n))
    )
    n = len(dec)
    if dec.skipped:
        note(f"{len(dec.skipped)} unreadable file(s) left out, e.g. {dec.skipped[0][0]} ({dec.skipped[0][1]}).")
    if n < 2:
        raise UserError(f"{config.folder}: {n} readable image(s); clustering needs at least 2.")
    if config.k is not None and config.k > n and config.algorithm != "hdbscan":
        raise UserError(f"k = {config.k} but {config.folder} has only {n} readable images; choose k of at most {n}.")
    if config.algorithm == "hdbscan" and config.k is not None:
        note("HDBSCAN finds the number of clusters itself; k is ignored.")
    emit(Log(f"features: {source.label} on {n} images of {size}×{size} px"))
    x = prepare_features(source.extract(dec.images), normalise=source.kind != "pixels", seed=config.seed)
    control.check()
    scores: dict[str, float] = {}
    if config.algorithm == "hdbscan":
        k = 0
    elif config.k is None:
        if n < 3:
            raise UserError(f"{config.folder}: {n} images are too few to choose k; give k yourself.")
        k, scores = choose_k(x, config.algorithm, config.k_max, config.seed, control)
        emit(Log(f"k = {k} chosen by silhouette ({scores[str(k)]:.3f})"))
    else:
        k = config.k
    raw = fit_labels(x, config.algorithm, k, config.seed, config.min_cluster_size)
    clusters, labels = _order_clusters(x, raw, dec.paths)
    outliers = [dec.paths[i] for i in np.flatnonzero(labels < 0)]
    metrics = None
    truth: list[int] = []
    if domain.labelled and len(domain.classes) >= 2:
        y = dec.labels.numpy()
        metrics = cluster_metrics(y, labels)
        truth = y.tolist()
    report = ClusterReport(
        folder=str(domain.root),
        features=source.label,
        algorithm=config.algorithm,
        k=len(clusters),
        n_images=n,
        image_size=size,
        sizes=[c.size for c in clusters],
        silhouette=_silhouette(x, labels, config.seed),
        k_scores=scores,
        clusters=clusters,
        outliers=outliers,
        metrics=metrics,
        classes=list(domain.classes) if metrics else [],
        labels=truth,
        notes=notes,
    )
    if config.out is not None:
        from engine.analysis.cluster_folders import write_groups

        groups = {c.name: c.members for c in clusters}
        if outliers:
            groups["outliers"] = outliers
        written = write_groups(
            groups, config.out, [config.folder], mode="copy" if config.copy_files else "link", replace=config.replace
        )
        report.out = str(written["path"])
        emit(Log(f"wrote {len(groups)} folders to {written['path']} ({written['how']})"))
    report.seconds = time.monotonic() - t0
    emit(Finished("cluster", metrics=dict(metrics or {}) | {"k": float(report.k)}))
    return report
