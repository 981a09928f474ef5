"""PGD-10 throughput: engine.attacks.pgd against a plain reference PGD loop written here.

Same model (the project's small_cnn, 10 classes, random weights, eval mode), same images, same
steps, eps and step size. Prints images/second of each and the ratio ours / reference (aim >= 1).
The reference is the textbook loop (loss.backward() every step); a second reference using
torch.autograd.grad on the input only is timed too, for transparency.

    .venv/bin/python bench/pgd_throughput.py [--batch 128] [--size 32] [--reps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from engine.attacks.pgd import PGD
from engine.models import build_model


def reference_backward(model, x, y, eps: float, alpha: float, steps: int) -> torch.Tensor:
    """Madry-style PGD as usually written: random start, loss.backward(), sign step, project."""
    delta = torch.empty_like(x).uniform_(-eps, eps)
    delta = (x + delta).clamp(0, 1) - x
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y)
        loss.backward()
        with torch.no_grad():
            delta = (delta + alpha * delta.grad.sign()).clamp(-eps, eps)
            delta = (x + delta).clamp(0, 1) - x
        model.zero_grad(set_to_none=True)
    return (x + delta).detach()


def reference_autograd(model, x, y, eps: float, alpha: float, steps: int) -> torch.Tensor:
    """The same loop with torch.autograd.grad w.r.t. the images only (torchattacks' style)."""
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = x + (adv + alpha * grad.sign() - x).clamp(-eps, eps)
            adv = adv.clamp(0, 1)
    return adv.detach()


def timed(fn: Callable[[], object], reps: int, sync: Callable[[], None]) -> float:
    """Best wall time of `reps` runs (after one warm-up), robust to noisy shared machines."""
    fn()
    sync()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    model = build_model("small_cnn", 10).to(device).eval()
    x = torch.rand(a.batch, 3, a.size, a.size, device=device)
    with torch.no_grad():
        y = model(x).argmax(1)
    eps = 8 / 255
    alpha = eps / 4
    ours = PGD(eps=eps, steps=a.steps, step_size=alpha)
    runs = {
        "engine PGD": lambda: ours(model, x, y),
        "reference (loss.backward)": lambda: reference_backward(model, x, y, eps, alpha, a.steps),
        "reference (autograd.grad)": lambda: reference_autograd(model, x, y, eps, alpha, a.steps),
    }
    best = {k: float("inf") for k in runs}
    for _ in range(2):  # interleave the contenders so background load hits them alike
        for name, fn in runs.items():
            best[name] = min(best[name], timed(fn, a.reps, sync))
    print(
        f"PGD-{a.steps} linf eps=8/255 alpha=eps/4, small_cnn, batch {a.batch} x {a.size}x{a.size}, "
        f"{device.type}, threads {torch.get_num_threads()}"
    )
    ips = {k: a.batch / v for k, v in best.items()}
    for name, v in ips.items():
        print(f"  {name:<28} {v:9.1f} images/s")
    print(f"ratio engine / reference (loss.backward): {ips['engine PGD'] / ips['reference (loss.backward)']:.2f}")
    print(f"ratio engine / reference (autograd.grad): {ips['engine PGD'] / ips['reference (autograd.grad)']:.2f}")


if __name__ == "__main__":
    main()
