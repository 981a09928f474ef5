"""`explain` (heat maps of what a model looked at, with their faithfulness) and `report` (one
self-contained HTML report card of a run)."""

from __future__ import annotations

import argparse

from engine.cli.common import BarPrinter, add_command, run_job, write_json


def cmd_explain(args: argparse.Namespace) -> int:
    from engine.core.config import load_config
    from engine.jobs.explain import JOB, ExplainConfig

    overrides = {
        "model": args.model,
        "images": args.images,
        "method": args.method,
        "classes": args.class_names,
        "out": args.out,
        "checkpoint": args.checkpoint,
        "limit": args.limit,
        "faithfulness": False if args.no_faithfulness else None,
    }
    report = run_job(JOB, load_config(ExplainConfig, args.config, overrides), BarPrinter("explaining"))
    for image in report.images:
        for m in image.maps:
            scores = ""
            if m.scores is not None:
                s = m.scores
                scores = (
                    f"  deletion {s.deletion:.3f} (random {s.random_deletion:.3f}), "
                    f"insertion {s.insertion:.3f} (random {s.random_insertion:.3f})"
                )
            print(f"{image.path}: {m.name} p={m.probability:.3f} -> {m.overlay}{scores}")
    for skipped in report.skipped:
        print(f"skipped {skipped}")
    print(
        f"{report.method} on {len(report.images)} image(s): {report.seconds_per_image * 1000:.1f} ms and "
        f"{report.queries_per_image:.0f} queries per image"
    )
    if report.mean_scores is not None:
        s = report.mean_scores
        verdict = "more faithful than a random map" if report.faithful else "NOT more faithful than a random map"
        print(
            f"mean deletion AUC {s.deletion:.3f} (random {s.random_deletion:.3f}), insertion AUC "
            f"{s.insertion:.3f} (random {s.random_insertion:.3f}): {verdict}"
        )
    if args.json:
        write_json(args.json, report)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from engine.core.config import load_config
    from engine.jobs.report import JOB, ReportConfig

    overrides = {
        "run_dir": args.run_dir,
        "out": args.out,
        "data": args.data,
        "robustness": args.robustness or None,
        "checkpoint": args.checkpoint,
        "export": False if args.no_export else None,
    }
    if args.model_card:
        from pathlib import Path

        overrides["model_card"] = Path(args.model_card).read_text(encoding="utf-8")
    report = run_job(JOB, load_config(ReportConfig, args.config, overrides), BarPrinter("reporting"))
    for note in report.notes:
        print(f"note: {note}")
    line = f"source validation accuracy {report.source_eval.accuracy:.2%}"
    if report.target_eval is not None:
        line += f", target {report.target_eval.accuracy:.2%}"
    if report.calibration:
        c = report.calibration[0]
        line += f"; ECE {c.ece_before:.3f} -> {c.ece_after:.3f} at T = {report.temperature:.2f}"
    print(line)
    if report.more_faithful:
        print(report.more_faithful)
    print(f"wrote {report.path}")
    if args.json:
        write_json(args.json, report)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = add_command(sub, "explain", cmd_explain, "heat maps of what a model looked at (overlays, .npy maps, scores)")
    sp.add_argument("model", help="a run directory, or an .onnx file (occlusion, rise, cam)")
    sp.add_argument("images", help="an image or a folder of images")
    sp.add_argument("--method", choices=["gradcam", "gradcam++", "occlusion", "rise", "cam"], default=None)
    sp.add_argument(
        "--class",
        dest="class_names",
        action="append",
        default=None,
        metavar="NAME",
        help="explain this class (repeat for several); default: the predicted class",
    )
    sp.add_argument("--out", required=True, help="folder for overlays (PNG) and maps (.npy)")
    sp.add_argument("--checkpoint", choices=["best", "last"], default=None)
    sp.add_argument("--limit", type=int, default=None, help="explain at most this many images")
    sp.add_argument("--no-faithfulness", action="store_true", help="skip the deletion/insertion scores")
    sp.add_argument("--json", help="also write the report as JSON")

    sp = add_command(sub, "report", cmd_report, "one self-contained HTML report card of a run")
    sp.add_argument("run_dir")
    sp.add_argument("--out", required=True, help="the HTML file to write")
    sp.add_argument("--data", help="labelled target folder (default: the run's target test folder)")
    sp.add_argument("--robustness", action="store_true", help="run a quick PGD sweep and include it")
    sp.add_argument("--checkpoint", choices=["best", "last"], default=None)
    sp.add_argument("--model-card", help="a text file with the model card (intended use, limitations)")
    sp.add_argument("--no-export", action="store_true", help="skip the ONNX/INT8 export measurements")
    sp.add_argument("--json", help="also write the report's figures as JSON")
