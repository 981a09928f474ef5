"""`transfer-studio`: every action of the window as a headless command on the same engine.

Heavy modules (torch, onnxruntime) are imported inside each command, so `predict` never loads
torch and `--help` is instant. User errors print one clear message and exit with code 2;
`--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tomllib

from engine.core.errors import UserError


def parse_value(text: str) -> Any:
    """A TOML literal (number, bool, list, quoted string) or else the plain string. Never code."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_options(pairs: Sequence[str] | None, flag: str = "--set") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"{flag} {pair!r}: expected NAME=VALUE, for example {flag} freeze_stages=2")
        key, value = pair.split("=", 1)
        out[key.strip()] = parse_value(value.strip())
    return out


def write_json(path: str | Path, obj: Any) -> None:
    from engine.core.fsutil import atomic_write_json

    atomic_write_json(Path(path), obj)
    print(f"wrote {path}")


# ----------------------------------------------------------------------------- commands
def cmd_demo(args: argparse.Namespace) -> int:
    from engine.data.demo import make_demo

    paths = make_demo(Path(args.dir), seed=args.seed, shift=args.shift)
    print(f"source (labelled):       {paths.source}")
    print(f"target train (unlabelled): {paths.target_train}")
    print(f"target test (labelled):  {paths.target_test}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from engine.data.health import check_folders

    with _progress_bar("checking images") as bar:
        report = check_folders(args.folder, target=args.target, target_test=args.target_test, progress=bar)
    print(report.to_text())
    if args.json:
        write_json(args.json, json.loads(report.model_dump_json()))
    return 1 if report.has_errors else 0


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = [
        "source",
        "target",
        "target_test",
        "method",
        "backbone",
        "weights",
        "epochs",
        "batch_size",
        "lr",
        "optimizer",
        "augment",
        "device",
        "seed",
        "runs_dir",
        "image_size",
        "workers",
        "name",
        "select",
        "ema_decay",
    ]
    out = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    opts = parse_options(args.set)
    if opts:
        out["method_options"] = opts
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from engine.cli.progress import TrainPrinter, stop_on_interrupt
    from engine.core.config import TrainConfig, load_config
    from engine.core.control import JobControl
    from engine.training.trainer import run_train

    control = JobControl()
    printer = TrainPrinter(quiet=args.quiet)
    with stop_on_interrupt(control):
        if args.resume:
            result = run_train(emit=printer, control=control, resume=args.resume)
        else:
            overrides = train_overrides(args)
            config = load_config(TrainConfig, args.config, overrides)
            if args.config and "method_options" in overrides:
                base = load_config(TrainConfig, args.config, {})
                config.method_options = {**base.method_options, **overrides["method_options"]}
            result = run_train(config, emit=printer, control=control)
    printer.close()
    if os.environ.get("RANK", "0") != "0":  # torchrun: rank 0 reports
        return 0
    best = ", ".join(f"{k} {v:.4f}" for k, v in result.best_metrics.items() if k.endswith("acc"))
    print(
        f"run: {result.run_dir}  ({result.status}, {result.epochs_done} epochs; best epoch {result.best_epoch}: {best})"
    )
    return 0 if result.status in ("finished", "stopped") else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    from engine.analysis.evaluate import EvaluateConfig, evaluate_run
    from engine.core.config import load_config

    cfg = load_config(
        EvaluateConfig, args.config, {"run_dir": args.run_dir, "data": args.data, "checkpoint": args.checkpoint}
    )
    report = evaluate_run(cfg)
    print(f"accuracy: {report['accuracy']:.4f} on {report['n']} images")
    print(f"{'class':<20} {'precision':>9} {'recall':>7} {'support':>8}")
    for row in report["per_class"]:
        note = f"  ({row['note']})" if row.get("note") else ""
        print(f"{row['class']:<20} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['support']:>8d}{note}")
    print("confusion matrix (rows: true, columns: predicted)")
    for name, row in zip(report["classes"], report["confusion_matrix"], strict=False):
        print(f"{name:<12} " + " ".join(f"{v:>4d}" for v in row))
    if args.json:
        write_json(args.json, report)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from engine.core.config import load_config
    from engine.deploy.export_job import ExportConfig, export_run

    cfg = load_config(ExportConfig, args.config, {"run_dir": args.run_dir, "out": args.out, "int8": args.int8 or None})
    report = export_run(cfg, emit=_print_logs)
    print(f"model: {report['path']}")
    print(
        f"parity vs PyTorch: max |logit diff| {report['max_abs_diff']:.2e}, top-1 agreement {report['top1_agreement']:.2%} on {report['n']} images"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from engine.deploy.predict import OnnxClassifier, list_images, write_csv

    model = OnnxClassifier(args.model)
    paths = list_images(args.input)
    with _progress_bar("predicting", total=len(paths)) as bar:
        preds = model.predict_paths(paths, top_k=args.top_k, progress=bar)
    for p in preds if not args.csv or len(preds) <= 20 else preds[:20]:
        if p.error:
            print(f"{p.path}: ERROR {p.error}")
        else:
            print(f"{p.path}: " + ", ".join(f"{c} {prob:.3f}" for c, prob in p.top))
    if args.csv:
        write_csv(preds, args.csv, args.top_k)
        print(f"wrote {args.csv} ({len(preds)} rows)")
    return 0


def cmd_attack(args: argparse.Namespace) -> int:
    from engine.attacks.robustness import AttackJobConfig, run_attack
    from engine.cli.progress import TrainPrinter, stop_on_interrupt
    from engine.core.config import load_config
    from engine.core.control import JobControl

    overrides: dict[str, Any] = {
        "model": args.model,
        "data": args.data,
        "attack": args.attack,
        "norm": args.norm,
        "limit": args.limit,
        "surrogate": args.surrogate,
    }
    if args.eps is not None:
        overrides["eps"] = [float(e) for e in args.eps.split(",") if e.strip()]
    opts = parse_options(args.set)
    if opts:
        overrides["attack_options"] = opts
    cfg = load_config(AttackJobConfig, args.config, overrides)
    control = JobControl()
    printer = TrainPrinter(quiet=False)
    with stop_on_interrupt(control):
        report = run_attack(cfg, printer, control)
    printer.close()
    data = report.model_dump(mode="json")
    print(f"clean accuracy {data['clean_accuracy']:.3f} on {data['n_images']} images; report in {data['folder']}")
    print(f"{'eps':>8} {'accuracy':>9} {'success':>8} {'L2 mean':>8} {'Linf mean':>9} {'queries':>8}")

    def num(v: Any, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, (int, float)) else "-"

    for row in data["results"]:
        print(
            f"{row['eps']:>8.4f} {row['accuracy']:>9.3f} {row['success_rate']:>8.3f} {num(row['l2_mean'], '8.3f'):>8} "
            f"{num(row['linf_mean'], '9.4f'):>9} {num(row['queries_mean'], '8.0f'):>8}"
        )
    if args.json:
        write_json(args.json, data)
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from engine.analysis.embedding import embed_run

    result = embed_run(args.run_dir, args.out, method=args.method, limit=args.limit)
    print(f"wrote {args.out}")
    pad = getattr(result, "proxy_a_distance", None)
    if pad is not None:
        print(f"proxy A-distance between source and target features: {pad:.3f}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from engine.core.runs import list_runs

    for run in list_runs(args.runs_dir):
        info = run.info()
        best = info.get("best_metrics", {})
        print(
            f"{run.path.name:<45} {info.get('status', '?'):<9} {info.get('method', ''):<14} {info.get('backbone', ''):<18} "
            f"val {best.get('val/acc', float('nan')):.3f} target {best.get('target/acc', float('nan')):.3f}"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "methods":
        from engine.methods import list_methods

        for m in list_methods():
            print(f"{m.name:<16} {m.kind:<18} {m.summary}")
    elif args.what == "backbones":
        from engine.models.backbones import BACKBONES

        for spec in BACKBONES.values():
            print(f"{spec.name:<20} {spec.input_size:>4}px  {spec.summary}")
    else:
        from engine.attacks import list_attacks

        for name in list_attacks():
            print(name)
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    """Start the desktop front end, found through its entry point (engine never imports Qt code)."""
    from importlib.metadata import entry_points

    found = entry_points(group="transfer_studio.frontends", name="gui")
    if not found:
        raise UserError(
            "the desktop app is not installed. Install the package with its GUI (pip install -e .) and try again."
        )
    gui_main = next(iter(found)).load()
    return int(gui_main(["--demo"] if args.demo else []) or 0)


def _print_logs(event: Any) -> None:
    from engine.core.events import Log

    if isinstance(event, Log):
        print(event.message, file=sys.stderr if event.level != "info" else sys.stdout)


def _progress_bar(desc: str, total: int | None = None) -> Any:
    from engine.cli.progress import CallbackBar

    return CallbackBar(desc, total)


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="transfer-studio", description="Transfer learning, domain adaptation and robustness on images."
    )
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=fn)
        sp.add_argument("--config", help="TOML file with the command's settings (flags override it)")
        return sp

    sp = add("demo", cmd_demo, "write the offline demo domains (digits -> coloured textured digits) as PNG folders")
    sp.add_argument("dir")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument(
        "--shift",
        default="texture",
        choices=["texture", "blur", "rotation", "inversion", "noise", "scale"],
        help="target domain from the shift zoo (engine/data/shifts.py); texture is the original demo",
    )

    sp = add("check", cmd_check, "health report of an image folder (and its target folders)")
    sp.add_argument("folder")
    sp.add_argument("--target")
    sp.add_argument("--target-test")
    sp.add_argument("--json", help="also write the report as JSON")

    sp = add("train", cmd_train, "train a model (fine-tuning, domain adaptation, adversarial training)")
    sp.add_argument("--source")
    sp.add_argument("--target")
    sp.add_argument("--target-test")
    sp.add_argument("--method")
    sp.add_argument("--backbone")
    sp.add_argument("--weights", help="auto, pretrained, random, or a .pth/.pt/.safetensors file")
    sp.add_argument("--epochs", type=int)
    sp.add_argument("--batch-size", type=int)
    sp.add_argument("--lr", type=float)
    sp.add_argument("--optimizer", choices=["sgd", "adamw"])
    sp.add_argument("--augment", choices=["none", "light", "strong"])
    sp.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    sp.add_argument("--image-size", type=int)
    sp.add_argument("--workers", type=int)
    sp.add_argument("--seed", type=int)
    sp.add_argument("--select", choices=["val_acc", "target_entropy", "last"])
    sp.add_argument("--ema-decay", type=float)
    sp.add_argument("--name")
    sp.add_argument("--runs-dir")
    sp.add_argument("--set", action="append", metavar="NAME=VALUE", help="a method setting, e.g. --set freeze_stages=2")
    sp.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped or killed run from its last checkpoint")
    sp.add_argument("--quiet", action="store_true", help="no progress bar, one line per epoch")

    sp = add("evaluate", cmd_evaluate, "accuracy, per-class precision/recall and confusion matrix on a labelled folder")
    sp.add_argument("run_dir")
    sp.add_argument("--data", required=True)
    sp.add_argument("--checkpoint", choices=["best", "last"], default=None)
    sp.add_argument("--json")

    sp = add("export", cmd_export, "export a run's model to ONNX and check it against PyTorch")
    sp.add_argument("run_dir")
    sp.add_argument("--out")
    sp.add_argument("--int8", action="store_true", help="also write a static INT8 (QDQ) model")

    sp = add("predict", cmd_predict, "classify images with an ONNX model (onnxruntime, no torch)")
    sp.add_argument("model")
    sp.add_argument("input", help="an image or a folder")
    sp.add_argument("--csv")
    sp.add_argument("--top-k", type=int, default=3)

    sp = add(
        "attack", cmd_attack, "attack a run (white-box) or an ONNX model (query-only, transfer) and chart robustness"
    )
    sp.add_argument("model", help="run directory or .onnx file")
    sp.add_argument("--data")
    sp.add_argument("--attack")
    sp.add_argument("--eps", help="comma-separated budgets in pixel units [0,1], e.g. 0,0.01,0.03,0.1")
    sp.add_argument("--norm", choices=["linf", "l2"])
    sp.add_argument("--limit", type=int)
    sp.add_argument("--surrogate", help="run directory used to craft transfer attacks on an ONNX model")
    sp.add_argument("--set", action="append", metavar="NAME=VALUE", help="an attack setting, e.g. --set steps=20")
    sp.add_argument("--json")

    sp = add("embed", cmd_embed, "plot source and target features (PCA or t-SNE) and the proxy A-distance")
    sp.add_argument("run_dir")
    sp.add_argument("--out", required=True)
    sp.add_argument("--method", choices=["pca", "tsne"], default="pca")
    sp.add_argument("--limit", type=int, default=1000)

    sp = add("runs", cmd_runs, "list runs")
    sp.add_argument("runs_dir", nargs="?", default="runs")

    sp = add("list", cmd_list, "list registered methods, backbones or attacks")
    sp.add_argument("what", choices=["methods", "backbones", "attacks"])

    sp = add("gui", cmd_gui, "open the desktop app")
    sp.add_argument("--demo", action="store_true", help="open on the demo data")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        if args.debug:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stderr.close()
        return 0
    except Exception as err:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"error: {type(err).__name__}: {err} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
