"""Turn the folders of a TrainConfig into tensors ready for training.

Every image is decoded and resized once and kept as uint8 in memory (32x32 demo: 3 KB an
image; 224x224: 150 KB, so 10,000 photos take 1.5 GB). Decoded folders are cached in-process,
keyed by folder, size and file list, so repeated runs (seeds, methods, the GUI) skip decoding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.core.config import TrainConfig
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Log


@dataclass
class PreparedData:
    classes: list[str]
    size: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_target: torch.Tensor | None = None  # unlabelled target images used for adaptation
    x_test: torch.Tensor | None = None  # labelled target images, for measuring only
    y_test: torch.Tensor | None = None
    test_source: str = ""  # which folder x_test came from


class DecodeCache:
    """Decoded folders by (root, size, file signature); small and explicit, owned by the caller."""

    def __init__(self, max_items: int = 8) -> None:
        self._items: dict[tuple[str, int, str], Any] = {}
        self.max_items = max_items

    def get_or_decode(self, domain: Any, size: int, workers: int, control: JobControl | None) -> Any:
        from engine.data.loading import decode_domain

        sig = hashlib.sha1("\n".join(f"{s.path}|{s.label}" for s in domain.samples).encode()).hexdigest()
        key = (str(Path(domain.root).resolve()), size, sig)
        if key not in self._items:
            if len(self._items) >= self.max_items:
                self._items.pop(next(iter(self._items)))
            self._items[key] = decode_domain(domain, size, workers=workers, control=control)
        return self._items[key]


DEFAULT_CACHE = DecodeCache()


def _scan(path: Path, role: str, labelled: bool | None = None) -> Any:
    from engine.data.folders import scan_domain

    try:
        return scan_domain(path, name=role, labelled=labelled)
    except UserError as err:
        raise UserError(f"{role} folder: {err}") from None


def _remap(labels: torch.Tensor, from_classes: list[str], to_classes: list[str]) -> torch.Tensor:
    index = {c: i for i, c in enumerate(to_classes)}
    table = torch.tensor([index[c] for c in from_classes], dtype=torch.int64)
    return table[labels]


def prepare_data(
    config: TrainConfig,
    size: int,
    emit: Emit,
    control: JobControl | None = None,
    cache: DecodeCache | None = None,
) -> PreparedData:
    """Scan, check, decode and split the folders named in `config`."""
    from engine.data.health import compare_domains
    from engine.data.split import stratified_split

    cache = cache or DEFAULT_CACHE
    source = _scan(config.source, "source")
    if not source.labelled:
        raise UserError(
            f"source folder {config.source}: has no class sub-folders. The source must be labelled: "
            "put each class's images in a sub-folder named after the class."
        )
    if len(source.classes) < 2:
        raise UserError(
            f"source folder {config.source}: found {len(source.classes)} class; a classifier needs at least 2."
        )
    emit(Log(f"Source: {len(source)} images in {len(source.classes)} classes ({config.source})"))
    dec = cache.get_or_decode(source, size, config.workers, control)
    for path, reason in dec.skipped:
        emit(Log(f"Skipped unreadable file {path}: {reason}", "warning"))
    classes = list(source.classes)
    train_idx, val_idx = stratified_split(dec.labels.tolist(), config.val_fraction, config.seed)
    ti, vi = torch.tensor(train_idx, dtype=torch.long), torch.tensor(val_idx, dtype=torch.long)
    data = PreparedData(classes, size, dec.images[ti], dec.labels[ti], dec.images[vi], dec.labels[vi])
    if config.synthetic is not None:
        from engine.data.synthetic import add_synthetic

        add_synthetic(data, config.synthetic, config.synthetic_ratio, config.seed, emit, cache, control, config.workers)

    for role, path in (("target", config.target), ("target test", config.target_test)):
        if path is None:
            continue
        domain = _scan(path, role)
        errors = [i for i in compare_domains(source, domain) if i.level == "error"]
        if errors:
            raise UserError(
                f"{role} folder {path}: "
                + "; ".join(e.message for e in errors)
                + ". Closed-set adaptation needs every target class to exist in the source."
            )
        if role == "target test" and not domain.labelled:
            raise UserError(
                f"target test folder {path}: has no class sub-folders; it is only used to measure accuracy, so it needs labels."
            )
        emit(
            Log(
                f"{role.capitalize()}: {len(domain)} images ({'labelled' if domain.labelled else 'unlabelled'}) ({path})"
            )
        )
        ddec = cache.get_or_decode(domain, size, config.workers, control)
        for p, reason in ddec.skipped:
            emit(Log(f"Skipped unreadable file {p}: {reason}", "warning"))
        if role == "target":
            data.x_target = ddec.images
            if len(ddec.images) < 100:
                emit(
                    Log(
                        f"The target folder has only {len(ddec.images)} images; adaptation is unreliable under ~100.",
                        "warning",
                    )
                )
            if domain.labelled and config.target_test is None:
                data.x_test, data.y_test = ddec.images, _remap(ddec.labels, domain.classes, classes)
                data.test_source = str(path)
        else:
            data.x_test, data.y_test = ddec.images, _remap(ddec.labels, domain.classes, classes)
            data.test_source = str(path)
    return data
