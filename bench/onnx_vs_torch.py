"""Time onnxruntime (fp32 and static INT8) against PyTorch eager on CPU with equal thread counts.

Cases: torchvision resnet18 (random weights, 224) and the app's small CNN (32) at batch 1 and 32.
Prints a table with median milliseconds per batch and the torch/ORT ratio.

    .venv/bin/python bench/onnx_vs_torch.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def median_ms(fns: dict[str, Callable[[], object]], warmup: int, repeats: int) -> dict[str, float]:
    """Median wall time (ms) of each callable after `warmup` untimed calls.

    The callables are interleaved repeat by repeat, so a load spike from other processes on a
    shared machine hits every contender alike instead of skewing one of them.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append((time.perf_counter() - t0) * 1000.0)
    return {k: statistics.median(v) for k, v in times.items()}


def ort_session(path: Path, threads: int):
    """Same options as engine.deploy.predict.OnnxClassifier: ALL optimisations, sequential, N intra threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def build_cases() -> list[tuple[str, object, int]]:
    """(name, eval-mode torch model, input size); a missing model is reported, not fatal."""
    import torchvision

    cases: list[tuple[str, object, int]] = [("resnet18", torchvision.models.resnet18(weights=None).eval(), 224)]
    try:
        from engine.models import build_model

        cases.append(("small_cnn", build_model("small_cnn", 10).eval(), 32))
    except Exception as exc:  # the model registry may not exist yet
        print(f"small_cnn: missing ({type(exc).__name__}: {exc})")
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--int8-batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=0, help="0: 30 at batch 1, 7 at larger batches")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import onnxruntime as ort

    from engine.deploy.export import export_onnx, verify_parity
    from engine.deploy.quantize import quantize_int8

    rng = np.random.default_rng(0)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        for name, model, size in build_cases():
            t0 = time.perf_counter()
            path = export_onnx(model, torch.rand(2, 3, size, size), Path(tmp, f"{name}.onnx"), {"backbone": name})
            export_s = time.perf_counter() - t0
            parity = verify_parity(model, path, torch.rand(4, 3, size, size))
            calib = [rng.random((8, 3, size, size), dtype=np.float32) for _ in range(4)]
            t0 = time.perf_counter()
            qpath = quantize_int8(path, calib, Path(tmp, f"{name}_int8.onnx"))
            quant_s = time.perf_counter() - t0
            fp32, int8 = ort_session(path, args.threads), ort_session(qpath, args.threads)
            print(
                f"{name}: export {export_s:.1f} s (parity max diff {parity.max_abs_diff:.1e}), "
                f"int8 quantization {quant_s:.1f} s",
                flush=True,
            )
            for batch in args.batches:
                reps = args.repeats or (30 if batch == 1 else 7)
                warm = 5 if batch == 1 else 2
                x = rng.random((batch, 3, size, size), dtype=np.float32)
                xt = torch.from_numpy(x)

                def run_torch(model: torch.nn.Module = model, xt: torch.Tensor = xt) -> None:
                    with torch.inference_mode():
                        model(xt)

                fns = {"torch_ms": run_torch, "ort_ms": lambda fp32=fp32, x=x: fp32.run(None, {"image": x})}
                if batch == args.int8_batch:
                    fns["int8_ms"] = lambda int8=int8, x=x: int8.run(None, {"image": x})
                row = {"model": name, "batch": batch, "int8_ms": None, **median_ms(fns, warm, reps)}
                if batch == args.int8_batch:
                    agree = np.mean(
                        int8.run(None, {"image": x})[0].argmax(1) == fp32.run(None, {"image": x})[0].argmax(1)
                    )
                    row["int8_top1_agreement"] = float(agree)
                rows.append(row)

    print()
    print(
        f"threads={args.threads}  torch {torch.__version__}  onnxruntime {ort.__version__}  "
        f"{platform.processor() or platform.machine()}  cpus={os.cpu_count()}"
    )
    head = f"{'model':<10} {'batch':>5} {'torch ms':>10} {'ort ms':>10} {'torch/ort':>10} {'int8 ms':>10} {'torch/int8':>11}"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = r["torch_ms"] / r["ort_ms"]
        i8 = f"{r['int8_ms']:10.2f}" if r["int8_ms"] is not None else f"{'-':>10}"
        i8r = f"{r['torch_ms'] / r['int8_ms']:10.2f}x" if r["int8_ms"] is not None else f"{'-':>11}"
        print(f"{r['model']:<10} {r['batch']:>5} {r['torch_ms']:10.2f} {r['ort_ms']:10.2f} {ratio:9.2f}x {i8} {i8r}")
    for r in rows:
        if "int8_top1_agreement" in r:
            print(
                f"{r['model']} int8 vs fp32 top-1 agreement at batch {r['batch']} (random data): "
                f"{r['int8_top1_agreement']:.0%}"
            )
    if args.json is not None:
        args.json.write_text(json.dumps({"threads": args.threads, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
