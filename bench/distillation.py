"""Distillation benchmark: an adapted teacher distilled into tiny_cnn on the demo pair.

Rows: the teacher (CORAL on small_cnn unless --teacher-method names another method or --teacher
a run); students (`--student`, default tiny_cnn) trained (a) on the source labels only, (b) with KD on
the source, (c) with KD on the source and the unlabelled target, (d) DKD and DIST on (c). Target
test accuracy (mean ± std over seeds; labels used only for measuring), and the ONNX latency of
teacher and student at batch 1 on one thread (median of repeated runs).

    .venv/bin/python bench/distillation.py                         # demo in a temp folder, 3 seeds
    .venv/bin/python bench/distillation.py --data DEMO --seeds 0 1 --teacher runs/<coral run>
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import mean_std  # noqa: E402  (bench/ on sys.path above)

ROWS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "(a) source labels only": ("finetune", {}, False),
    "(b) KD, source": ("distill", {"loss": "kd", "use_target": False}, False),
    "(c) KD, source + target": ("distill", {"loss": "kd"}, True),
    "(d) DKD, source + target": ("distill", {"loss": "dkd", "warmup": 0.2}, True),
    "(d) DIST, source + target": ("distill", {"loss": "dist"}, True),
}


def train(
    data: Path, runs: Path, method: str, backbone: str, seed: int, epochs: int, options: dict[str, Any], target: bool
) -> Any:
    from engine.core.config import TrainConfig
    from engine.training.trainer import run_train

    cfg = TrainConfig(
        source=data / "source",
        target=data / "target" / "train" if target else None,
        target_test=data / "target" / "test",
        method=method,
        method_options=options,
        backbone=backbone,
        weights="random",
        epochs=epochs,
        seed=seed,
        runs_dir=runs,
    )
    return run_train(cfg)


def main() -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="demo folder (made in a temp folder when omitted)")
    p.add_argument("--teacher", type=Path, help="a finished teacher run (default: train CORAL on small_cnn)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--student", default="tiny_cnn", help="the students' backbone (tiny_cnn, tiny_cnn_fc, ...)")
    p.add_argument("--teacher-method", default="coral", help="the method of the teacher trained here")
    p.add_argument("--rows", nargs="+", default=list(ROWS), help="which rows to run (names as in the table)")
    p.add_argument("--runs-dir", type=Path)
    p.add_argument("--repeats", type=int, default=100, help="timed runs for each latency figure")
    args = p.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="distill-bench-"))
    data = args.data
    if data is None:
        from engine.data.demo import make_demo

        data = make_demo(tmp / "demo").source.parent
    runs = args.runs_dir or tmp / "runs"
    teacher = args.teacher
    if teacher is None:
        t0 = time.perf_counter()
        teacher = train(data, runs, args.teacher_method, "small_cnn", 0, args.epochs, {}, True).run_dir
        print(f"teacher trained in {time.perf_counter() - t0:.0f} s: {teacher}", flush=True)
    from engine.core.runs import open_run

    t_best = open_run(teacher).info()["best_metrics"]
    results: dict[str, list[float]] = {}
    times: dict[str, list[float]] = {}
    last_student: dict[str, Path] = {}
    for name in args.rows:
        method, opts, target = ROWS[name]
        options = {**opts, "teacher": str(teacher)} if method == "distill" else opts
        for seed in args.seeds:
            t0 = time.perf_counter()
            r = train(data, runs, method, args.student, seed, args.epochs, options, target)
            times.setdefault(name, []).append(time.perf_counter() - t0)
            results.setdefault(name, []).append(r.best_metrics["target/acc"])
            last_student[name] = r.run_dir
            print(
                f"{name} seed {seed}: target acc {r.best_metrics['target/acc']:.3f} ({times[name][-1]:.0f} s)",
                flush=True,
            )

    from engine.deploy.compression import latency_ms
    from engine.deploy.export_job import ExportConfig, export_run

    t_onnx = Path(export_run(ExportConfig(run_dir=teacher, out=runs / "teacher.onnx")).path)
    student = last_student.get("(c) KD, source + target") or next(iter(last_student.values()))
    s_onnx = Path(export_run(ExportConfig(run_dir=student)).path)
    lt, ls = latency_ms(t_onnx, args.repeats), latency_ms(s_onnx, args.repeats)

    print(f"\nseeds {args.seeds}, {args.epochs} epochs, {args.student} students; target test accuracy (%)\n")
    print("| model | target acc (%) | time / run (s) |")
    print("|---|---|---|")
    print(
        f"| teacher: {open_run(teacher).info().get('method')} small_cnn (1 run) | {100 * t_best['target/acc']:.1f} | - |"
    )
    for name in args.rows:
        print(f"| {name} | {mean_std(results[name])} | {statistics.fmean(times[name]):.0f} |")
    print(
        f"\nONNX latency, batch 1, one thread (median of {args.repeats}): teacher {lt['b1_t1']:.3f} ms, "
        f"student {ls['b1_t1']:.3f} ms: {lt['b1_t1'] / ls['b1_t1']:.1f}x; batch 32: {lt['b32_t1']:.2f} ms vs "
        f"{ls['b32_t1']:.2f} ms: {lt['b32_t1'] / ls['b32_t1']:.1f}x"
    )


if __name__ == "__main__":
    main()
