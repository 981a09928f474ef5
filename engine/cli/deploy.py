"""`export` (a run to ONNX, checked against PyTorch) and `predict` (ONNX model, no torch)."""

from __future__ import annotations

import argparse

from engine.cli.common import BarPrinter, add_command, run_with_flags

SHOWN_WITH_CSV = 20  # rows printed when they also go to a CSV file


def cmd_export(args: argparse.Namespace) -> int:
    from engine.jobs.export import JOB

    on = {"int8": args.int8 or None, "cam": args.cam or None}
    report = run_with_flags(JOB, args, BarPrinter("exporting"), "run_dir", "out", **on)
    print(f"model: {report.path}")
    print(
        f"parity vs PyTorch: max |logit diff| {report.max_abs_diff:.2e}, "
        f"top-1 agreement {report.top1_agreement:.2%} on {report.n} images"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from engine.jobs.predict import JOB

    report = run_with_flags(JOB, args, BarPrinter("predicting"), "model", "top_k", "csv", inputs=[args.input])
    preds = report.predictions
    for p in preds if not args.csv or len(preds) <= SHOWN_WITH_CSV else preds[:SHOWN_WITH_CSV]:
        if p.error:
            print(f"{p.path}: ERROR {p.error}")
        elif p.tasks:  # a multitask model: each task's top-k
            print(
                f"{p.path}: "
                + "; ".join(f"{t}: " + ", ".join(f"{c} {q:.3f}" for c, q in top) for t, top in p.tasks.items())
            )
        else:
            print(f"{p.path}: " + ", ".join(f"{c} {prob:.3f}" for c, prob in p.top))
    if report.score is not None:
        s = report.score
        print(f"accuracy against the class folders: {s.accuracy:.1%} ({s.correct} of {s.counted} images)")
    if report.csv:
        print(f"wrote {report.csv} ({len(preds)} rows)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = add_command(sub, "export", cmd_export, "export a run's model to ONNX and check it against PyTorch")
    sp.add_argument("run_dir")
    sp.add_argument("--out")
    sp.add_argument("--int8", action="store_true", help="also write a static INT8 (QDQ) model")
    sp.add_argument("--cam", action="store_true", help="also output class activation maps, for 'explain --method cam'")

    sp = add_command(sub, "predict", cmd_predict, "classify images with an ONNX model (onnxruntime, no torch)")
    sp.add_argument("model")
    sp.add_argument("input", help="an image or a folder")
    sp.add_argument("--csv")
    sp.add_argument("--top-k", type=int, default=3)
