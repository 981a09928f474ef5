"""`explain` (heat maps of what a model looked at, with their faithfulness) and `report` (one
self-contained HTML report card of a run)."""

from __future__ import annotations

import argparse

from engine.cli.common import BarPrinter, add_command, run_with_flags, write_json_if_asked


def cmd_explain(args: argparse.Namespace) -> int:
    from engine.jobs.explain import JOB

    flags = ("model", "images", "method", "out", "checkpoint", "limit")
    faithfulness = False if args.no_faithfulness else None
    printer = BarPrinter("explaining")
    report = run_with_flags(JOB, args, printer, *flags, classes=args.class_names, faithfulness=faithfulness)
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
    return write_json_if_asked(args, report)


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engine.jobs.report import JOB

    card = Path(args.model_card).read_text(encoding="utf-8") if args.model_card else None
    flags = ("run_dir", "out", "data", "checkpoint")
    on_off = {"robustness": args.robustness or None, "export": False if args.no_export else None}
    report = run_with_flags(JOB, args, BarPrinter("reporting"), *flags, model_card=card, **on_off)
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
    return write_json_if_asked(args, report)


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
