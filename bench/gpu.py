"""The GPU path, measured: resnet50 at 224 px on CUDA, in a few minutes.

Cases (images/s, median of timed steps after warm-up):

  plain     a bare loop: model.cuda(), channels_last, SGD, uint8 batches already on the GPU;
            AMP off and on. The ceiling of the model itself.
  trainer   the app's trainer (run_train, finetune, resnet50, weights random) on a synthetic
            JPEG folder decoded once into the cache: steps/s from its Progress events, AMP off/on.
  loader    files -> GPU: a DataLoader decoding JPEGs (PIL via engine.data.decode, or
            torchvision.io.decode_jpeg on the CPU) with 0/4/8 workers, pinned memory off/on,
            alone (decode images/s) and feeding the AMP model; nvjpeg (decode_jpeg on the GPU)
            as well. When "feeding" is well under "plain AMP", decoding starves the GPU - the
            reason the app decodes once into its cache and trains from uint8 tensors.

    python bench/gpu.py --json bench/results/gpu.json        # needs a CUDA GPU, ~3-5 minutes
    python bench/gpu.py --smoke                              # CPU, tiny: checks the script runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn

from bench._common import save_json

os.environ.setdefault("TRANSFER_STUDIO_OFFLINE", "1")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(step: Callable[[], None], batch: int, device: torch.device, warmup: int, steps: int) -> float:
    """Images/s: median over `steps` timed calls after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def resnet50(classes: int, device: torch.device) -> nn.Module:
    import torchvision

    model = torchvision.models.resnet50(weights=None, num_classes=classes).to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def plain(device: torch.device, size: int, batch: int, amp: bool, warmup: int, steps: int) -> float:
    model = resnet50(10, device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x8 = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16

    def step() -> None:
        x = x8.float().div_(255)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=amp and device.type == "cuda"):
            loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return rate(step, batch, device, warmup, steps)


def trainer(folder: Path, device: str, size: int, batch: int, amp: bool, runs: Path) -> float:
    from engine.core.config import TrainConfig
    from engine.core.events import Progress
    from engine.training.trainer import run_train

    stamps: list[tuple[int, float]] = []

    def emit(e: object) -> None:
        if isinstance(e, Progress):
            stamps.append((e.step, time.perf_counter()))

    cfg = TrainConfig(
        source=folder,
        backbone="resnet50",
        weights="random",
        image_size=size,
        epochs=2,
        batch_size=batch,
        device=device,
        amp=amp,
        precise_bn=False,
        val_fraction=0.05,
        runs_dir=runs,
    )
    run_train(cfg, emit)
    steady = stamps[len(stamps) // 3 :]  # past warm-up (cudnn autotune, first epoch's allocations)
    if len(steady) < 2:
        return float("nan")
    (s0, t0), (s1, t1) = steady[0], steady[-1]
    return (s1 - s0) * batch / (t1 - t0)


class Files(torch.utils.data.Dataset):
    """Index -> uint8 CHW tensor decoded from a JPEG by `how` ("pil" or "tvio")."""

    def __init__(self, paths: list[str], size: int, how: str) -> None:
        self.paths, self.size, self.how = paths, size, how

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.how == "pil":
            from engine.data.decode import decode_square

            return torch.from_numpy(decode_square(self.paths[i], self.size).copy()).permute(2, 0, 1).contiguous()
        import torchvision.io as tvio
        from torchvision.transforms.v2 import functional as F

        img = tvio.decode_jpeg(tvio.read_file(self.paths[i]), mode=tvio.ImageReadMode.RGB)
        return F.center_crop(F.resize(img, [self.size], antialias=True), [self.size])


def loader_cases(
    paths: list[str], device: torch.device, size: int, batch: int, workers: list[int], steps: int
) -> list[dict[str, Any]]:
    model = resnet50(10, device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    rows: list[dict[str, Any]] = []
    for how in ("pil", "tvio"):
        for w in workers:
            for pin in (False, True) if device.type == "cuda" else (False,):
                dl = torch.utils.data.DataLoader(
                    Files(paths, size, how),
                    batch_size=batch,
                    shuffle=True,
                    num_workers=w,
                    pin_memory=pin,
                    drop_last=True,
                    persistent_workers=w > 0,
                )
                for feed in (False, True):
                    it = iter(dl)
                    n, t = 0, 0.0
                    for k in range(steps + 1):
                        try:
                            xb = next(it)
                        except StopIteration:
                            it = iter(dl)
                            xb = next(it)
                        if k == 1:
                            sync(device)
                            t = time.perf_counter()  # the first batch pays for the workers' start
                        x = xb.to(device, non_blocking=pin).float().div_(255)
                        if feed:
                            with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
                                loss = model(x).float().mean()
                            opt.zero_grad(set_to_none=True)
                            loss.backward()
                            opt.step()
                        if k >= 1:
                            n += len(xb)
                    sync(device)
                    row = {"decode": how, "workers": w, "pinned": pin, "feeding_model": feed}
                    rows.append({**row, "img_s": n / (time.perf_counter() - t)})
                    print(json.dumps(rows[-1]), flush=True)
    if device.type == "cuda":  # nvjpeg: decode on the GPU itself, batch of encoded files
        import torchvision.io as tvio

        data = [tvio.read_file(p) for p in paths[: batch * 4]]
        t = time.perf_counter()
        for lo in range(0, len(data), batch):
            tvio.decode_jpeg(data[lo : lo + batch], device=device)
        sync(device)
        rows.append({"decode": "nvjpeg (GPU)", "workers": 0, "img_s": len(data) / (time.perf_counter() - t)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, 64 px, tiny counts: checks the script runs")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--images", type=int, default=4096, help="JPEGs in the synthetic folder")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 4, 8])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available() and not args.smoke:
        print("bench/gpu.py needs a CUDA GPU (none visible to PyTorch); use --smoke to check it on CPU.")
        return 2
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    size, batch, warmup, steps = (64, 4, 1, 2) if args.smoke else (224, args.batch, 10, 30)
    n_images = 48 if args.smoke else args.images
    workers = [0, 2] if args.smoke else args.workers
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (smoke)",
        "torch": torch.__version__,
        "size": size,
        "batch": batch,
    }
    with tempfile.TemporaryDirectory(prefix="ts-gpu-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        os.environ.setdefault("TRANSFER_STUDIO_CACHE", str(work / "cache"))
        results["plain"] = {f"amp_{amp}": plain(device, size, batch, amp, warmup, steps) for amp in (False, True)}
        print(json.dumps({"plain": results["plain"]}), flush=True)
        from engine.data.synthetic_photos import write_photo_folder

        folder = write_photo_folder(work / "photos", n_images, classes=10, width=500, height=375, threads=8)
        results["trainer"] = {
            f"amp_{amp}": trainer(folder, device.type, size, batch, amp, work / "runs") for amp in (False, True)
        }
        print(json.dumps({"trainer": results["trainer"]}), flush=True)
        paths = sorted(str(p) for p in folder.rglob("*.jpg"))
        results["loader"] = loader_cases(paths, device, size, batch, workers, steps)
    save_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
