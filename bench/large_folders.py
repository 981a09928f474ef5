"""Real photo folders: scan, decode, cache, memory, time to the first step, and predict speed.

Synthetic 400x300 JPEG folders (engine.data.synthetic_photos), written to a temp dir and
deleted after. Sections (`--sections`, default all):

  folders  per folder size (`--sizes 1000 10000`; 50000 by hand): in a fresh process each,
           scan time, decode time, peak RSS and time to the first training step of a frozen
           resnet18 linear probe at 224 px, for the first run (empty cache) and the second
           (cache warm), with the memory budget above the data (in memory) and below it (disk);
           then linear-probe images/s with the cache in memory vs on disk.
  predict  `transfer-studio predict` on 2,000 JPEGs with a 32-px small_cnn ONNX model against a
           plain loop (PIL draft mode, 2 threads, onnxruntime in batches of 256).
  pools    decoding 1,000 JPEGs to 224 px: threads vs processes, 1 and 2 workers.

    OMP_NUM_THREADS=1 .venv/bin/python bench/large_folders.py --sizes 1000 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import save_json  # noqa: E402  (after the repository root is on sys.path)

os.environ.setdefault("TRANSFER_STUDIO_OFFLINE", "1")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


# ---- one training start, in its own process (peak RSS is per process) ----------------------
def child_first_step(folder: str, budget_mb: int, threads: int, steps: int) -> dict[str, float]:
    """Prepare the folder for a frozen resnet18 probe at 224 px and take `steps` steps."""
    import torch

    import engine.data.loading
    import engine.models.classifier  # noqa: F401
    from engine.core.config import TrainConfig
    from engine.core.events import Log
    from engine.data.prepare import DecodeCache, prepare_data

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    stages: dict[str, float] = {}

    def emit(e: object) -> None:
        if isinstance(e, Log) and " in " in e.message and e.message.startswith(("Scanning", "Decoding")):
            stages[e.message.split(":")[0]] = float(e.message.rsplit(" in ", 1)[1].split(" s")[0])

    cfg = TrainConfig(source=Path(folder), backbone="resnet18", weights="random", val_fraction=0.1)
    cfg = cfg.model_copy(update={"threads": threads, "cache_memory_mb": budget_mb})
    data = prepare_data(cfg, 224, emit, cache=DecodeCache())
    t_prepared = time.perf_counter() - t0
    from engine.models.classifier import build_model
    from engine.training.devices import to_device_float

    model = build_model("resnet18", len(data.classes), weights="random").eval()
    head = torch.nn.Linear(model.backbone_dim, len(data.classes))
    opt = torch.optim.SGD(head.parameters(), lr=0.01)
    bs = 32
    perm = torch.randperm(len(data.x_train))
    t_first = 0.0
    t1 = time.perf_counter()
    for s in range(steps):
        idx = perm[s * bs : (s + 1) * bs]
        x = to_device_float(data.x_train[idx], torch.device("cpu"))
        with torch.no_grad():
            f = model.backbone_features(x)
        loss = torch.nn.functional.cross_entropy(head(f), data.y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s == 0:
            t_first = time.perf_counter() - t0
    probe = steps * bs / (time.perf_counter() - t1)
    return {
        "scan_s": stages.get("Scanning source", float("nan")),
        "decode_s": stages.get("Decoding source", float("nan")),
        "prepare_s": t_prepared,
        "first_step_s": t_first,
        "peak_rss_mb": peak_rss_mb(),
        "probe_img_s": probe,
        "on_disk": float(type(data.x_train).__name__ == "DiskImages"),
    }


def run_child(folder: Path, budget_mb: int, threads: int, steps: int, cache: Path) -> dict[str, float]:
    env = dict(os.environ, TRANSFER_STUDIO_CACHE=str(cache), PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--child", str(folder), str(budget_mb), str(threads), str(steps)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(out.stderr[-2000:])


def section_folders(
    sizes: list[int], threads: int, steps: int, work: Path, modes: tuple[str, ...] = ("memory", "disk")
) -> list[dict[str, object]]:
    from engine.data.synthetic_photos import write_photo_folder

    rows: list[dict[str, object]] = []
    for n in sizes:
        folder = work / f"photos_{n}"
        t = time.perf_counter()
        write_photo_folder(folder, n, classes=4, threads=threads)
        print(f"wrote {n} JPEGs in {time.perf_counter() - t:.1f} s", flush=True)
        data_mb = n * 0.9 * 3 * 224 * 224 / 2**20
        budgets = {"memory": int(data_mb * 2) + 64, "disk": max(16, int(data_mb / 8))}
        for mode, budget in ((m, budgets[m]) for m in modes):
            cache = work / f"cache_{n}_{mode}"
            for run in ("first", "second"):
                r = run_child(folder, budget, threads, steps, cache)
                row: dict[str, object] = {"images": n, "cache": mode, "run": run, "budget_mb": budget, **r}
                rows.append(row)
                print(json.dumps(row), flush=True)
            shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    return rows


# ---- predict vs the plain loop -----------------------------------------------------------
def _export_small_cnn(path: Path) -> Path:
    import torch

    from engine.deploy.export import export_onnx
    from engine.models.classifier import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", 4, weights="random").eval()
    meta = {"classes": json.dumps([f"class_{k}" for k in range(4)]), "input_size": "32", "backbone": "small_cnn"}
    return export_onnx(model, torch.rand(2, 3, 32, 32), path, meta)


def _plain_load(path: str) -> np.ndarray:
    from PIL import Image

    img: Image.Image = Image.open(path)
    img.draft("RGB", (32, 32))  # libjpeg picks 1/8 here: 50x38
    img = img.convert("RGB")
    w, h = img.size
    s = 32 / min(w, h)
    img = img.resize((max(32, round(w * s)), max(32, round(h * s))), Image.Resampling.BILINEAR)
    left, top = (img.size[0] - 32) // 2, (img.size[1] - 32) // 2
    img = img.crop((left, top, left + 32, top + 32))
    return np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0


def plain_loop(model: Path, paths: list[str]) -> float:
    import onnxruntime as ort

    t = time.perf_counter()
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    with ThreadPoolExecutor(2) as pool:
        for lo in range(0, len(paths), 256):
            x = np.stack(list(pool.map(_plain_load, paths[lo : lo + 256])))
            sess.run(None, {name: (x - mean) / std})
    return time.perf_counter() - t


def section_predict(work: Path, n: int = 2000, repeats: int = 3) -> dict[str, float]:
    from engine.cli import main as cli_main
    from engine.data.synthetic_photos import write_photo_folder

    folder = write_photo_folder(work / "predict", n, classes=4)
    model = _export_small_cnn(work / "small_cnn.onnx")
    paths = sorted(str(p) for p in folder.rglob("*.jpg"))
    plain, app = [], []
    for _ in range(repeats):  # interleaved, so load from other processes hits both alike
        plain.append(plain_loop(model, paths))
        import engine.jobs.predict as pj

        pj._cached = None  # count loading the model, as the command line does
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            rc = cli_main(["predict", str(model), str(folder)])
        app.append(time.perf_counter() - t)
        assert rc == 0
    p, a = min(plain), min(app)
    res = {"images": n, "plain_s": p, "predict_s": a, "plain_img_s": n / p, "predict_img_s": n / a, "ratio": p / a}
    print(json.dumps(res), flush=True)
    return res


# ---- threads vs processes ----------------------------------------------------------------
def _decode_one(path: str) -> np.ndarray:
    from engine.data.decode import decode_square

    return decode_square(path, 224)


def section_pools(work: Path, n: int = 1000) -> list[dict[str, object]]:
    from engine.data.synthetic_photos import write_photo_folder

    folder = write_photo_folder(work / "pools", n, classes=2, width=1600, height=1200)
    paths = sorted(str(p) for p in folder.rglob("*.jpg"))
    out: list[dict[str, object]] = []
    for workers in (1, 2):
        for kind, cls in (("threads", ThreadPoolExecutor), ("processes", ProcessPoolExecutor)):
            t = time.perf_counter()
            with cls(workers) as pool:
                for _ in pool.map(_decode_one, paths, chunksize=1 if kind == "threads" else 16):
                    pass
            dt = time.perf_counter() - t
            out.append({"pool": kind, "workers": workers, "seconds": dt, "img_s": n / dt})
            print(json.dumps(out[-1]), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", nargs="+", default=["pools", "predict", "folders"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="probe steps after the first")
    ap.add_argument("--modes", nargs="+", default=["memory", "disk"], help="cache in memory and/or on disk")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        folder, budget, threads, steps = args.child
        print("RESULT", json.dumps(child_first_step(folder, int(budget), int(threads), int(steps))), flush=True)
        return 0
    results: dict[str, object] = {"cpu": os.cpu_count(), "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="ts-large-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        if "pools" in args.sections:
            results["pools"] = section_pools(work)
        if "predict" in args.sections:
            results["predict"] = section_predict(work)
        if "folders" in args.sections:
            results["folders"] = section_folders(args.sizes, args.threads, args.steps, work, tuple(args.modes))
    save_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
