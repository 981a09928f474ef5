"""Pretrained weights: from the torch hub cache, a user's file, or a download when online.

Files are read with `torch.load(weights_only=True)` or safetensors: never unpickled.
Set TRANSFER_STUDIO_OFFLINE=1 to forbid downloads (tests do).
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.core.errors import UnsafeFile, UserError, WeightsMissing
from engine.models.backbones import BackboneSpec


def hub_checkpoint_dir() -> Path:
    """Where torch hub keeps downloaded weights (honours TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_weights_path(spec: BackboneSpec) -> Path | None:
    if not spec.weights_file:
        return None
    return hub_checkpoint_dir() / spec.weights_file


def pretrained_available(spec: BackboneSpec) -> bool:
    path = cached_weights_path(spec)
    return path is not None and path.is_file()


def offline() -> bool:
    return os.environ.get("TRANSFER_STUDIO_OFFLINE", "") not in ("", "0")


VALID_WEIGHTS = "a state dict of tensors saved with torch.save(model.state_dict(), path), or a .safetensors file"


def first_global(err: BaseException) -> str | None:
    """What torch's weights-only unpickler refused: a global such as 'posix.system', or an opcode."""
    text = str(err)
    m = re.search(r"GLOBAL ([\w.]+)", text)
    if m:
        return m.group(1)
    m = re.search(r"Unsupported operand (\d+)", text)
    return f"pickle instruction {m.group(1)}" if m else None


def refusal_message(path: Path, err: BaseException, valid: str) -> str:
    """One line: which file, that it holds more than tensors (first global), not loaded, what is valid."""
    name = first_global(err)
    if name is None:
        what = "objects that could run code"
    elif name.startswith("pickle instruction"):
        what = f"it is a raw pickle: {name} is not allowed in a weights file"
    else:
        what = f"the first it tried to load is '{name}'"
    return (
        f"{path}: refused: the file holds Python objects other than tensors ({what}). It was not loaded. "
        f"A valid file is {valid}."
    )


def safe_torch_load(path: Path, valid: str) -> Any:
    """torch.load(weights_only=True) with readable refusals; never falls back to full unpickling."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": the refusal says it all
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeFile(refusal_message(path, err, valid)) from None
    except OSError as err:
        raise UserError(f"{path}: could not be read ({err.strerror or err}). It was not loaded.") from None
    except Exception as err:  # torn zip, truncated file, not a torch file at all
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise UserError(
            f"{path}: not a readable torch file ({type(err).__name__}: {first}). It was not loaded. A valid file is {valid}."
        ) from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .pth/.pt (weights only) or .safetensors; unwrap common containers."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"{p}: weights file not found. Pick an existing .pth, .pt or .safetensors file.")
    try:
        if p.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(p))
        else:
            obj = safe_torch_load(p, VALID_WEIGHTS)
    except UserError:
        raise
    except Exception as err:
        raise UserError(
            f"{p}: could not read weights ({type(err).__name__}: {str(err).splitlines()[0][:200]}). "
            "Use a state dict saved with torch.save(model.state_dict()) or a .safetensors file."
        ) from None
    for key in ("state_dict", "model", "model_state"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{p}: holds no state dict of tensors. Save weights with torch.save(model.state_dict(), path).")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_into(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load matching tensors; refuse files that fit the architecture poorly."""
    own = module.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    wanted = [k for k in own if not k.endswith("num_batches_tracked")]
    missing = [k for k in wanted if k not in usable]
    if not usable or len(missing) > 0.1 * len(wanted):
        raise UserError(
            f"{source}: only {len(usable)} of {len(wanted)} weight tensors fit this backbone "
            f"(first missing: {missing[:3]}). Pick weights saved from the same architecture."
        )
    module.load_state_dict(usable, strict=False)


def download(spec: BackboneSpec, progress: bool = True) -> Path:
    """Fetch the pretrained file into the hub cache (shows a progress bar on the terminal)."""
    assert spec.weights_url
    dest = cached_weights_path(spec)
    assert dest is not None
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(spec.weights_url, str(dest), progress=progress)
    return dest


def download_weights(
    spec: BackboneSpec,
    progress: Callable[[int, int], None] | None = None,
    control: Any = None,
    chunk: int = 1 << 20,
) -> Path:
    """Download `spec`'s pretrained file into the hub cache, reporting (bytes done, total) after
    every chunk; `control.check()` between chunks lets the window stop it. The file appears in
    the cache only once complete (engine.core.fsutil.atomic_path), so a stopped or broken
    download leaves nothing half-written for the next run to load."""
    import urllib.error
    import urllib.request

    from engine.core.fsutil import atomic_path

    if not spec.weights_url:
        raise UserError(f"backbone '{spec.name}' has no pretrained weights to download.")
    if offline():
        raise UserError("downloads are turned off (TRANSFER_STUDIO_OFFLINE is set); unset it to download weights.")
    dest = cached_weights_path(spec)
    assert dest is not None
    try:
        with urllib.request.urlopen(spec.weights_url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            with atomic_path(dest, needed=total or None) as tmp, open(tmp, "wb") as out:
                while block := response.read(chunk):
                    out.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
                    if control is not None:
                        control.check()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise UserError(
            f"could not download {spec.weights_url}: {err}. Check the connection and try again, or pick a weights "
            "file yourself."
        ) from err
    return dest


def missing_message(spec: BackboneSpec) -> str:
    dest = cached_weights_path(spec)
    return (
        f"pretrained weights for '{spec.name}' are not on this computer: expected the file "
        f"'{spec.weights_file}' in {dest.parent if dest else '?'} (the torch hub cache; set TORCH_HOME to move it). "
        f"Download {spec.weights_url} and put it there, pick a weights file yourself, "
        "or choose random initialisation (weights = 'random')."
    )


def resolve_pretrained(
    spec: BackboneSpec, weights: str, *, downloader: Callable[[BackboneSpec], Path] | None = None
) -> dict[str, torch.Tensor] | None:
    """State dict for the `weights` choice ('auto', 'pretrained', 'random', a file or a pretraining run), or None."""
    choice = weights.strip()
    if choice == "random":
        return None
    if choice in ("auto", "pretrained", "imagenet"):
        if not spec.has_pretrained:
            if choice == "auto":
                return None
            raise UserError(f"backbone '{spec.name}' has no pretrained weights; use weights = 'random' or a file.")
        path = cached_weights_path(spec)
        assert path is not None
        if not path.is_file():
            if offline():
                raise WeightsMissing(missing_message(spec))
            try:
                path = (downloader or download)(spec)
            except Exception as err:
                raise WeightsMissing(f"{missing_message(spec)} (download failed: {err})") from None
        return read_state_dict(path)
    if Path(choice).expanduser().is_dir():  # a pretraining run directory (transfer-studio pretrain)
        from engine.ssl.run_io import read_pretrained_backbone

        return read_pretrained_backbone(choice, spec.name)[0]
    return read_state_dict(choice)
