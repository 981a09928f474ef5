"""`transfer-studio cluster`: sort a folder of images into clusters by learned features."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli.common import add_command
from engine.core.errors import UserError


def _k(text: str) -> int | None:
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise UserError(f"--k {text!r}: give a whole number of clusters (2 or more) or 'auto'.") from None


def cmd_cluster(args: argparse.Namespace) -> int:
    from engine.analysis.clustering import ClusterConfig
    from engine.cli.common import BarPrinter, flag_overrides, run_job, write_json_if_asked
    from engine.core.config import load_config
    from engine.jobs.cluster import JOB

    flags = ("folder", "features", "backbone", "layer", "algorithm", "k_max", "image_size", "out", "seed")
    on = {"replace": args.replace or None, "copy_files": args.copy or None}
    overrides = flag_overrides(args, *flags, **on)
    if args.k is not None:
        overrides["k"] = _k(args.k)
    cfg = load_config(ClusterConfig, args.config, overrides)
    if args.k is not None and overrides["k"] is None:
        cfg.k = None
    report = run_job(JOB, cfg, BarPrinter("clustering"))
    sil = f"{report.silhouette:.3f}" if report.silhouette is not None else "-"
    print(f"{report.k} clusters of {report.n_images} images ({report.features}, {report.algorithm}); silhouette {sil}")
    for c in report.clusters:
        print(f"  {c.name}: {c.size:>5d}  most typical: {c.members[0]}")
    if report.outliers:
        print(f"  outliers: {len(report.outliers)}")
    if report.metrics:
        m = report.metrics
        print(f"against the class folders: NMI {m['nmi']:.3f}, ARI {m['ari']:.3f}, accuracy {m['accuracy']:.3f}")
    if report.out:
        print(f"folders: {report.out}")
    return write_json_if_asked(args, report)


def register(sub: Any) -> None:
    """Add the `cluster` command to the CLI's sub-parsers."""
    help = "sort a folder of images into clusters (raw pixels, a run or a pretraining run as features)"
    sp = add_command(sub, "cluster", cmd_cluster, help)
    sp.add_argument("folder", nargs="?", help="folder of images (class sub-folders are used only to measure)")
    sp.add_argument("--features", help="'pixels' (default), a run or pretraining run directory, or a weights file")
    sp.add_argument("--backbone", help="architecture of a weights file given as --features")
    sp.add_argument(
        "--layer",
        choices=["features", "probabilities"],
        help="a training run's features (default) or class probabilities",
    )
    sp.add_argument("--k", help="number of clusters, or 'auto' (silhouette; default)")
    sp.add_argument("--k-max", type=int, help="largest k tried by 'auto' (15)")
    sp.add_argument("--algorithm", choices=["kmeans", "agglomerative", "hdbscan"])
    sp.add_argument("--image-size", type=int, help="side of the raw-pixel baseline (a model's own size wins)")
    sp.add_argument("--out", help="write cluster_NN sub-folders here (links where possible, else copies)")
    sp.add_argument("--replace", action="store_true", help="replace --out if an earlier clustering wrote it")
    sp.add_argument("--copy", action="store_true", help="copy the images into --out instead of linking")
    sp.add_argument("--seed", type=int)
    sp.add_argument("--json", help="write sizes, silhouette, members and metrics as JSON")
