"""The domain shift made visible: source and target features embedded in 2-D, and the proxy
A-distance between the two domains.

PCA always (fast, deterministic); t-SNE on request (on the first 50 principal components).
The proxy A-distance (Ben-David et al. 2007/2010, as used by Ganin et al. 2016) trains a
linear classifier to tell the domains apart on half of the features and measures its error
ε on the other half: PAD = 2(1 − 2ε); 0 means indistinguishable, 2 perfectly separable.
The PNG has two panels, coloured by domain and by class (target markers hollow).

The features are the classifier's own: the output of the bottleneck, i.e. exactly what the final
linear layer reads (`ImageClassifier.features`). The same distance is also measured on that
layer's output, the class scores, and the target accuracy is measured on the same images when
they carry labels: a feature-level distance alone often *rises* under DANN while the target
accuracy doubles (demo: 1.80 -> 1.93 while 23 % -> 46 %), because adversarial adaptation aligns
what the classifier uses, not every direction a fresh domain classifier can find. `describe_shift`
puts the figures into words that agree with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engine.core.errors import UserError
from engine.core.fsutil import atomic_path
from engine.jobs.embed import EmbedReport

Projection = Literal["pca", "tsne"]


EmbeddingResult = EmbedReport  # the embed job's report is what the maths returns


# ----------------------------------------------------------------------------- maths
def proxy_a_distance(f_source: np.ndarray, f_target: np.ndarray, seed: int = 0) -> float:
    """PAD = 2(1 − 2ε) with ε the held-out error of a linear domain classifier, in [0, 2].

    Balanced halves of each domain train a standardised logistic regression; the other halves
    measure ε (taken as min(ε, 1 − ε), a worse-than-chance classifier flipped).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fs, ft = np.asarray(f_source, np.float64), np.asarray(f_target, np.float64)
    n = min(len(fs), len(ft))
    if n < 4:
        raise UserError(
            f"the proxy A-distance needs at least 4 images per domain; got {len(fs)} source and {len(ft)} target."
        )
    rng = np.random.default_rng(seed)
    fs, ft = fs[rng.permutation(len(fs))[:n]], ft[rng.permutation(len(ft))[:n]]
    half = n // 2
    x_tr = np.concatenate([fs[:half], ft[:half]])
    y_tr = np.r_[np.zeros(half), np.ones(half)]
    x_te = np.concatenate([fs[half:], ft[half:]])
    y_te = np.r_[np.zeros(n - half), np.ones(n - half)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    clf.fit(x_tr, y_tr)
    err = float((clf.predict(x_te) != y_te).mean())
    err = min(err, 1.0 - err)
    return 2.0 * (1.0 - 2.0 * err)


PAD_MEANING = (
    "The proxy A-distance measures how well a fresh linear classifier, trained for the purpose, tells "
    "source from target features (0: indistinguishable, 2: fully separable)."
)
PAD_CAVEAT = (
    "It can stay high while target accuracy improves: DANN-style adaptation aligns the class structure "
    "the classifier relies on, not every direction a new domain classifier can exploit."
)


def _pad_trend(before: float, after: float, tol: float = 0.05) -> str:
    return "fell" if after < before - tol else "rose" if after > before + tol else "barely changed"


def describe_shift(after: EmbeddingResult, before: EmbeddingResult | None = None) -> str:
    """The Domains headline: target accuracy first (when known), then the distances, in words that
    agree with the numbers (a rising distance is not called a failure when accuracy rose)."""
    parts: list[str] = []
    acc_a = after.target_accuracy
    acc_b = before.target_accuracy if before is not None else None
    pad_a, pad_b = after.proxy_a_distance, before.proxy_a_distance if before is not None else None
    if acc_a is not None and acc_b is not None:
        gain = 100 * (acc_a - acc_b)
        verdict = "adaptation helped" if gain >= 2 else "adaptation hurt" if gain <= -2 else "about the same"
        parts.append(f"Target accuracy {100 * acc_b:.0f}% -> {100 * acc_a:.0f}% ({gain:+.0f} points): {verdict}.")
    elif acc_a is not None:
        parts.append(f"Target accuracy {100 * acc_a:.0f}%.")
    if pad_b is not None:
        trend = _pad_trend(pad_b, pad_a)
        parts.append(f"Proxy A-distance of the classifier's features {pad_b:.2f} -> {pad_a:.2f} ({trend}).")
    else:
        parts.append(f"Proxy A-distance of the classifier's features {pad_a:.2f}.")
    out_a = after.output_a_distance
    out_b = before.output_a_distance if before is not None else None
    if out_a is not None and out_b is not None:
        trend = _pad_trend(out_b, out_a)
        parts.append(f"On its class scores {out_b:.2f} -> {out_a:.2f} ({trend}).")
    parts.append(PAD_MEANING)
    improved = acc_a is not None and acc_b is not None and acc_a - acc_b >= 0.02
    if pad_b is not None and improved and pad_a >= pad_b - 0.05:
        parts.append(PAD_CAVEAT + " Judge the adaptation by the target accuracy.")
    elif pad_b is not None and pad_a < pad_b - 0.05 and acc_a is None:
        parts.append("Lower suggests the domains look more alike; check with a labelled target-test folder.")
    elif pad_b is None:
        parts.append(PAD_CAVEAT)
    return " ".join(parts)


def project(features: np.ndarray, method: Projection = "pca", seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """2-D coordinates of `features` [N, D] and (for PCA) the explained-variance ratios."""
    from sklearn.decomposition import PCA

    x = np.asarray(features, np.float64)
    if len(x) < 3:
        raise UserError(f"an embedding needs at least 3 images; got {len(x)}.")
    x = x - x.mean(0, keepdims=True)
    if method == "pca":
        pca = PCA(n_components=2, random_state=seed).fit(x)
        return pca.transform(x), [float(v) for v in pca.explained_variance_ratio_]
    if method == "tsne":
        from sklearn.manifold import TSNE

        k = min(50, x.shape[1], len(x))
        reduced = PCA(n_components=k, random_state=seed).fit_transform(x) if x.shape[1] > k else x
        perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
        pts = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)
        return pts, []
    raise UserError(f"embedding method '{method}' is unknown. Choose 'pca' or 'tsne'.")


def embed_features(
    f_source: np.ndarray,
    f_target: np.ndarray,
    y_source: Sequence[int] | np.ndarray | None = None,
    y_target: Sequence[int] | np.ndarray | None = None,
    classes: Sequence[str] = (),
    method: Projection = "pca",
    seed: int = 0,
) -> EmbeddingResult:
    """Embed source and target features together and measure their proxy A-distance."""
    fs, ft = np.asarray(f_source), np.asarray(f_target)
    feats = np.concatenate([fs, ft])
    points, var = project(feats, method, seed)
    ys = np.full(len(fs), -1) if y_source is None else np.asarray(y_source, np.int64)
    yt = np.full(len(ft), -1) if y_target is None else np.asarray(y_target, np.int64)
    return EmbeddingResult(
        method=method,
        points=points,
        domain=np.r_[np.zeros(len(fs), np.int64), np.ones(len(ft), np.int64)],
        labels=np.concatenate([ys, yt]),
        classes=list(classes),
        proxy_a_distance=proxy_a_distance(fs, ft, seed),
        explained_variance=list(var),
    )


# ----------------------------------------------------------------------------- figure
def save_embedding_png(result: EmbeddingResult, out_png: str | Path, title: str = "") -> Path:
    """Two scatter panels (by domain, by class) written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    out = Path(out_png).expanduser()
    fig = Figure(figsize=(11, 5), dpi=110)
    ax_d, ax_c = fig.subplots(1, 2)
    pts, dom, lab = result.points, result.domain, result.labels
    for d, name, colour in ((0, "source", "tab:blue"), (1, "target", "tab:orange")):
        sel = dom == d
        ax_d.scatter(
            pts[sel, 0], pts[sel, 1], s=9, alpha=0.6, c=colour, label=f"{name} ({int(sel.sum())})", linewidths=0
        )
    ax_d.legend(loc="best", fontsize=8)
    ax_d.set_title(f"By domain — proxy A-distance {result.proxy_a_distance:.2f}")
    cmap = matplotlib.colormaps["tab10" if max(len(result.classes), 1) <= 10 else "tab20"]
    known = lab >= 0
    unknown = ~known
    if unknown.any():
        ax_c.scatter(pts[unknown, 0], pts[unknown, 1], s=9, c="lightgrey", label="no label", linewidths=0)
    for k in sorted(set(lab[known].tolist())):
        name = result.classes[k] if k < len(result.classes) else str(k)
        colour = cmap(k % cmap.N)
        s = known & (lab == k) & (dom == 0)
        t = known & (lab == k) & (dom == 1)
        ax_c.scatter(pts[s, 0], pts[s, 1], s=9, color=colour, alpha=0.7, linewidths=0, label=name)
        ax_c.scatter(pts[t, 0], pts[t, 1], s=14, facecolors="none", edgecolors=[colour], linewidths=0.8)
    if known.any() or unknown.any():
        ax_c.legend(loc="best", fontsize=7, ncol=2, markerscale=1.5)
    ax_c.set_title("By class — filled: source, hollow: target")
    axis = "PC" if result.method == "pca" else "t-SNE "
    for ax in (ax_d, ax_c):
        ax.set_xlabel(f"{axis}1")
        ax.set_ylabel(f"{axis}2")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    result.png = str(out)
    return out


# ----------------------------------------------------------------------------- from a run
def model_features(model: Any, images_uint8: Any, batch_size: int = 256) -> np.ndarray:
    """`model.features` of uint8 images [N, 3, H, W] (eval mode, CPU), as float32 [N, D]."""
    return classifier_inputs(model, images_uint8, batch_size)[0]


def classifier_inputs(model: Any, images_uint8: Any, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(features, class scores) of uint8 images: the final linear layer's input (after the
    bottleneck) and its output, so the distances are measured on what the classifier uses."""
    import torch

    model.eval()
    feats, scores = [], []
    with torch.inference_mode():
        for i in range(0, len(images_uint8), batch_size):
            x = images_uint8[i : i + batch_size].float() / 255.0
            f = model.features(x)
            feats.append(f.float().cpu())
            scores.append(model.head(f).float().cpu())
    if not feats:
        return np.zeros((0, model.feature_dim), np.float32), np.zeros((0, 0), np.float32)
    return torch.cat(feats).numpy(), torch.cat(scores).numpy()


def _load_domain(path: Path, size: int, classes: list[str], limit: int, seed: int, role: str) -> tuple[Any, np.ndarray]:
    """Up to `limit` images of a folder (a seeded sample), decoded for the model, and labels (−1 if none)."""
    from dataclasses import replace

    from engine.data.disk_images import budget_bytes
    from engine.data.folders import scan_domain
    from engine.data.loading import decode_domain

    try:
        domain = scan_domain(path, name=role)
    except UserError as err:
        raise UserError(f"{role} folder: {err}") from None
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(domain.samples))[:limit]
    sample = replace(domain, samples=[domain.samples[i] for i in sorted(order.tolist())])
    # the shared decoder, through the disk cache of decoded images; a sample over the memory
    # budget stays there as DiskImages, read a batch at a time by classifier_inputs
    dec = decode_domain(sample, size, budget=budget_bytes(None))
    if len(dec) == 0:  # unreadable files are reported by training; the picture just has fewer dots
        raise UserError(f"{role} folder {path}: no readable images to embed.")
    index = {c: i for i, c in enumerate(classes)}
    labels = [index.get(domain.classes[int(lab)], -1) if lab >= 0 and domain.labelled else -1 for lab in dec.labels]
    return dec.images, np.asarray(labels, np.int64)


def embed_run(
    run_dir: str | Path,
    out_png: str | Path | None = None,
    method: Projection = "pca",
    limit: int = 500,
    which: str = "best",
    seed: int = 0,
) -> EmbeddingResult:
    """Embed up to `limit` source and `limit` target images through a run's model.

    Target images come from the labelled target test folder when the run has one (so the
    class panel is coloured), else from the target folder. Writes a PNG when `out_png` is set.
    """
    from engine.core.runs import load_run_model, open_run

    if limit < 4:
        raise UserError(f"limit is {limit}; use at least 4 images per domain (e.g. 500).")
    run = open_run(run_dir)
    cfg = run.config()
    target = cfg.target_test or cfg.target
    if target is None:
        raise UserError(
            f"{run.path}: the run has no target folder; an embedding compares source and target features. Train with a target folder."
        )
    model, info = load_run_model(run.path, which=which)
    classes, size = list(info["classes"]), int(info["input_size"])
    xs, ys = _load_domain(Path(cfg.source), size, classes, limit, seed, "source")
    xt, yt = _load_domain(Path(target), size, classes, limit, seed + 1, "target")
    fs, ss = classifier_inputs(model, xs)
    ft, st = classifier_inputs(model, xt)
    result = embed_features(fs, ft, ys, yt, classes, method, seed)
    result.output_a_distance = proxy_a_distance(ss, st, seed)
    known = yt >= 0
    if known.any():
        result.target_accuracy = float((st[known].argmax(1) == yt[known]).mean())
    result.info = {
        "run": run.path.name,
        "method": cfg.method,
        "checkpoint": str(info.get("checkpoint", "")),
        "source": str(cfg.source),
        "target": str(target),
    }
    if out_png is not None:
        save_embedding_png(result, out_png, f"{run.path.name} ({cfg.method}) — {method.upper()}")
    return result
