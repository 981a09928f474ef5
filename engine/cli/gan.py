"""`transfer-studio gan train|sample|score|export|translate`: GANs on folders of images, transfer to a
few target images (fine-tune, FreezeD, DiffAugment), sample, score and export. Each command
builds its job's config (flags over an optional --config TOML) and runs the job."""

from __future__ import annotations

import argparse

from engine.cli.common import BarPrinter, add_command, run_job, run_with_flags, write_json_if_asked

TRAIN_FLAGS = (
    "data", "from_run", "freeze_d", "diffaugment", "image_size", "steps", "batch_size", "loss", "lr_g", "lr_d",
    "ema", "sample_every", "kid_every", "checkpoint_every", "z_dim", "g_width", "d_width", "device", "seed",
    "runs_dir", "name", "resume",
)  # fmt: skip
TRANSLATE_FLAGS = (
    "source", "target", "out", "classifier", "steps", "batch_size", "image_size", "diffaugment", "lr", "loss",
    "checkpoint_every", "sample_every", "device", "seed", "runs_dir", "name",
)  # fmt: skip


def cmd_train(args: argparse.Namespace) -> int:
    from engine.cli.progress import TrainPrinter
    from engine.jobs.gan_train import JOB

    printer = TrainPrinter(quiet=args.quiet)
    on = {flag: True for flag in ("conditional", "resize_mixed") if getattr(args, flag)}
    report = run_with_flags(JOB, args, printer, *TRAIN_FLAGS, **on)
    printer.close()
    shown = ", ".join(f"{k} {v:.4f}" for k, v in report.metrics.items())
    print(f"run: {report.run_dir}  ({report.status}, {report.steps_done} steps; {shown})")
    print(f"samples: {report.run_dir / 'samples' / 'latest.png'}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    return write_json_if_asked(args, report)


def cmd_sample(args: argparse.Namespace) -> int:
    from engine.jobs.gan_sample import JOB

    per_class = args.per_class or None
    report = run_with_flags(
        JOB, args, BarPrinter("sampling"), "n", "out", "seed", run_dir=args.run, per_class=per_class
    )
    classes = f" in {len(report.classes)} class folders" if report.classes else ""
    print(f"wrote {report.written} images{classes} to {report.out}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from engine.jobs.gan_score import JOB

    r = run_with_flags(JOB, args, BarPrinter("scoring"), "real", "features", "n_fake", "seed", run_dir=args.run)
    print(f"KID {r.kid:.4f} ± {r.kid_std:.4f}   FID {r.fid:.2f}   ({r.n_fake} generated vs {r.n_real} real)")
    print(f"precision {r.precision:.3f}  recall {r.recall:.3f}  density {r.density:.3f}  coverage {r.coverage:.3f}")
    print(r.note)
    return write_json_if_asked(args, r)


def cmd_export(args: argparse.Namespace) -> int:
    from engine.jobs.gan_export import JOB

    r = run_with_flags(JOB, args, BarPrinter("exporting"), "out", run_dir=args.run)
    verdict = "passed" if r.passed else "FAILED"
    print(f"generator: {r.out}  (z {r.z_dim}, {r.num_classes or 'no'} classes, {r.image_size} px)")
    print(f"parity vs PyTorch: max |pixel diff| {r.max_abs_diff:.2e} ({verdict})")
    print(f"sample it without torch: transfer-studio gan sample {r.out} --n 64 --out DIR")
    return 0 if r.passed else 1


def cmd_translate(args: argparse.Namespace) -> int:
    from engine.cli.common import flag_overrides
    from engine.cli.progress import TrainPrinter
    from engine.core.config import load_config
    from engine.jobs.gan_translate import JOB, TranslateConfig, TranslateRequest

    if args.resume:
        request = TranslateRequest(resume=args.resume)
    else:
        overrides = flag_overrides(args, *TRANSLATE_FLAGS)
        request = TranslateRequest(config=load_config(TranslateConfig, args.config, overrides))
    printer = TrainPrinter(quiet=args.quiet)
    r = run_job(JOB, request, printer)
    printer.close()
    sem = "on" if r.semantic else "off"
    print(f"run: {r.run_dir}  ({r.status}, {r.steps_done} steps; {r.loss} loss, semantic consistency {sem})")
    if r.status == "stopped":
        print(f"continue it: transfer-studio gan translate --resume {r.run_dir}")
    if r.out is not None:
        print(f"translated source: {r.out} ({r.written} images); train on it: transfer-studio train --source {r.out}")
    return 0


def cmd_gan(args: argparse.Namespace) -> int:
    args.gan_parser.print_help()
    return 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `gan` and its sub-commands to the CLI."""
    gp = sub.add_parser("gan", help="GANs: train, transfer to few images, sample, score, export", description=__doc__)
    gp.set_defaults(func=cmd_gan, gan_parser=gp)
    gsub = gp.add_subparsers(dest="gan_command")

    sp = add_command(gsub, "train", cmd_train, "train a GAN on a folder, or transfer a GAN run to a few images")
    sp.add_argument("--data", help="folder of training images (class sub-folders with --conditional)")
    sp.add_argument("--from", dest="from_run", metavar="GAN_RUN", help="GAN run to transfer from (fine-tune)")
    sp.add_argument("--freeze-d", type=int, metavar="N", help="FreezeD: keep the discriminator's first N blocks frozen")
    sp.add_argument("--diffaugment", metavar="POLICY", help="e.g. color,translation,cutout ('' or none: off)")
    sp.add_argument("--conditional", action="store_true", help="class-conditional G and D")
    sp.add_argument("--image-size", type=int, choices=[32, 64])
    sp.add_argument("--steps", type=int)
    sp.add_argument("--batch-size", type=int)
    sp.add_argument("--loss", choices=["hinge", "nonsaturating"])
    sp.add_argument("--lr-g", type=float)
    sp.add_argument("--lr-d", type=float)
    sp.add_argument("--ema", type=float, help="decay of the generator's moving average")
    sp.add_argument("--sample-every", type=int, help="steps between sample grids and KID checks")
    sp.add_argument("--kid-every", type=int, help="KID at every k-th grid (0: never)")
    sp.add_argument("--checkpoint-every", type=int)
    sp.add_argument("--z-dim", type=int)
    sp.add_argument("--g-width", type=int)
    sp.add_argument("--d-width", type=int)
    sp.add_argument("--resize-mixed", action="store_true", help="accept images of different sizes (resize + crop)")
    sp.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    sp.add_argument("--seed", type=int)
    sp.add_argument("--runs-dir")
    sp.add_argument("--name")
    sp.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped GAN run")
    sp.add_argument("--json", help="write the report as JSON")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")

    sp = add_command(gsub, "sample", cmd_sample, "write generated images to a folder (from a run or a G.onnx)")
    sp.add_argument("run", help="GAN run directory or exported .onnx generator")
    sp.add_argument("--n", type=int, help="images (per class with --per-class)")
    sp.add_argument("--out", help="new or empty folder")
    sp.add_argument("--per-class", action="store_true", help="n per class, in class sub-folders (conditional runs)")
    sp.add_argument("--seed", type=int)

    sp = add_command(gsub, "score", cmd_score, "KID, FID, precision/recall/density/coverage against real images")
    sp.add_argument("run", help="GAN run directory")
    sp.add_argument("--real", help="folder of real images")
    sp.add_argument("--features", metavar="RUN", help="training run whose classifier gives the features")
    sp.add_argument("--n-fake", type=int, help="generated images (default: as many as real, at least 500)")
    sp.add_argument("--seed", type=int)
    sp.add_argument("--json", help="write the scores as JSON")

    sp = add_command(gsub, "translate", cmd_translate, "translate labelled source images into the target's style")
    sp.add_argument("--source", help="labelled source folder (class sub-folders)")
    sp.add_argument("--target", help="target folder (unlabelled images are fine)")
    sp.add_argument("--out", help="new folder for the translated source (same class sub-folders)")
    sp.add_argument("--classifier", metavar="RUN", help="training run on the source: semantic consistency (CyCADA)")
    sp.add_argument("--steps", type=int)
    sp.add_argument("--batch-size", type=int)
    sp.add_argument("--image-size", type=int, choices=[32, 64])
    sp.add_argument("--diffaugment", metavar="POLICY")
    sp.add_argument("--lr", type=float)
    sp.add_argument("--loss", choices=["cycle", "cut"], help="keep the content by the cycle loss or CUT's PatchNCE")
    sp.add_argument("--sample-every", type=int, help="steps between sample pairs")
    sp.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (a resume starts there)")
    sp.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    sp.add_argument("--seed", type=int)
    sp.add_argument("--runs-dir")
    sp.add_argument("--name")
    sp.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped or killed translation run")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")

    sp = add_command(gsub, "export", cmd_export, "export the generator to ONNX (sampling then needs no torch)")
    sp.add_argument("run", help="GAN run directory")
    sp.add_argument("--out", help="ONNX file, e.g. G.onnx")
