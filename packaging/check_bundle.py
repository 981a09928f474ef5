"""Check a built bundle's structure and measure the oldest glibc it runs on.

`python packaging/check_bundle.py dist/transfer-studio [--glibc-only]` exits 1 with one line per
problem when something the app needs at run time is missing (each item below broke an earlier
bundle), and prints the size and the glibc minimum: the highest GLIBC_x.y symbol version that any
ELF file in the bundle requires (read from its .gnu.version_r section, as `objdump -T` shows it).
Also printed: the highest GLIBCXX_ version, which the system's libstdc++ must provide (the bundle
uses the system's libstdc++, as manylinux wheels do).

Standard library only: it runs with any python3 on the build machine.
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import sys
from pathlib import Path

SHT_GNU_VERNEED = 0x6FFFFFFE

# (path inside _internal, why it must be there)
REQUIRED = [
    ("torch/lib/libtorch_cuda.so", "torch's CUDA kernels (the PyPI build)"),
    ("nvidia/cudnn/lib/libcudnn.so.9", "cuDNN, linked by libtorch_cuda.so"),
    ("nvidia/cudnn/lib/libcudnn_cnn.so.9", "cuDNN's convolutions, loaded by libcudnn.so.9"),
    ("nvidia/cu13/lib/libcublasLt.so.13", "cuBLAS, linked by libtorch_cuda.so"),
    ("nvidia/cu13/lib/libnvrtc-builtins.so.13.0", "NVRTC's builtins, loaded by libnvrtc"),
    ("nvidia/nccl/lib/libnccl.so.2", "NCCL, linked by libtorch_cuda.so"),
    ("nvidia/cusparselt/lib/libcusparseLt.so.0", "cuSPARSELt, linked by libtorch_cuda.so"),
    ("nvidia/nvshmem/lib/libnvshmem_host.so.3", "NVSHMEM, linked by libtorch_nvshmem.so"),
    ("torchvision/_C_stable.so", "torchvision's ops (nms, roi_align), loaded by path"),
    ("torchvision/image_stable.so", "torchvision's image decoders, loaded by path"),
    ("onnxscript/function_libs/torch_lib/ops/core.py", "onnxscript reads its functions' source"),
    ("resources/icons/transfer-studio.png", "the window icon"),
    ("resources/style.qss", "the app's style sheet"),
]
# Distributions whose metadata the app reads (versions in the About box, the gui entry point).
REQUIRED_METADATA = ["transfer_studio", "torch", "torchvision", "onnxruntime", "onnx", "onnxscript"]
# Top-level packages that must not ship (dev tools, torch.compile's GPU compiler).
FORBIDDEN = ["triton", "pytest", "_pytest", "setuptools", "pkg_resources", "hypothesis", "mypy", "tkinter"]
EXECUTABLES = ["transfer-studio", "transfer-studio-gui"]


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name))


def needed_versions(path: Path) -> set[str]:
    """Symbol version names (GLIBC_2.34, GLIBCXX_3.4.29, ...) an ELF file requires; empty if not ELF."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return set()  # not a little-endian 64-bit ELF file
            (shoff,) = struct.unpack_from("<Q", head, 0x28)
            shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
            if not shoff or not shnum:
                return set()
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(shnum)]
            found: set[str] = set()
            for _name, sh_type, _fl, _addr, offset, size, link, info, _al, _es in sections:
                if sh_type != SHT_GNU_VERNEED:
                    continue
                f.seek(offset)
                data = f.read(size)
                str_off, str_size = sections[link][4], sections[link][5]
                f.seek(str_off)
                strings = f.read(str_size)
                pos = 0
                for _ in range(info):  # sh_info = number of Verneed entries
                    _ver, cnt, _file, aux, nxt = struct.unpack_from("<HHIII", data, pos)
                    apos = pos + aux
                    for _ in range(cnt):
                        _hash, _flags, _other, name, anext = struct.unpack_from("<IHHII", data, apos)
                        found.add(strings[name : strings.index(b"\0", name)].decode())
                        apos += anext
                    if not nxt:
                        break
                    pos += nxt
            return found
    except (OSError, struct.error, IndexError, ValueError):
        return set()


def glibc_report(root: Path) -> tuple[str, list[str], str]:
    """(highest GLIBC_ version, files that need it, highest GLIBCXX_ version) over every file in `root`."""
    best, files, best_cxx = "GLIBC_2.2.5", [], "GLIBCXX_3.4"
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        versions = needed_versions(path)
        for v in versions:
            if v.startswith("GLIBC_") and v[6:7].isdigit():
                if _version_key(v) > _version_key(best):
                    best, files = v, [str(path.relative_to(root))]
                elif v == best:
                    files.append(str(path.relative_to(root)))
            elif v.startswith("GLIBCXX_") and _version_key(v) > _version_key(best_cxx):
                best_cxx = v
    return best, files, best_cxx


def structure_problems(bundle: Path) -> list[str]:
    internal = bundle / "_internal"
    problems = []
    for exe in EXECUTABLES:
        if not os.access(bundle / exe, os.X_OK):
            problems.append(f"{bundle / exe}: missing or not executable")
    for rel, why in REQUIRED:
        if not (internal / rel).is_file():
            problems.append(f"{internal / rel}: missing ({why})")
    names = [p.name for p in internal.iterdir()] if internal.is_dir() else []
    for dist in REQUIRED_METADATA:
        if not any(n.lower().startswith(dist.lower() + "-") and n.endswith(".dist-info") for n in names):
            problems.append(f"{internal}: no {dist}-*.dist-info (package metadata read at run time)")
    for pkg in FORBIDDEN:
        if (internal / pkg).exists():
            problems.append(f"{internal / pkg}: must not be bundled")
    for path in bundle.rglob("*"):
        if path.is_symlink() and not path.exists():
            problems.append(f"{path}: dangling symbolic link -> {os.readlink(path)}")
    return problems


def size_of(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path, help="the bundle folder (dist/transfer-studio)")
    p.add_argument("--glibc-only", action="store_true", help="only measure the glibc minimum")
    args = p.parse_args(argv)
    if not args.bundle.is_dir():
        print(f"check_bundle: {args.bundle} is not a folder; build it first (bash packaging/build.sh)", file=sys.stderr)
        return 1
    problems = [] if args.glibc_only else structure_problems(args.bundle)
    glibc, files, cxx = glibc_report(args.bundle)
    shown = ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
    print(f"bundle: {args.bundle} ({size_of(args.bundle) / 1e9:.2f} GB)")
    print(f"glibc minimum: {glibc.removeprefix('GLIBC_')} (needed by {shown})")
    print(f"libstdc++ minimum: {cxx} (the system's libstdc++.so.6)")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if problems:
        print(f"check_bundle: {len(problems)} problem(s) in {args.bundle}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
