"""Turn the folders of a TrainConfig into images ready for training.

Every image is decoded and resized once (engine.data.decode) and kept in the disk cache
(engine.data.image_cache), so a second run on a folder starts without decoding. Within the
memory budget (`cache_memory_mb`, default a quarter of the free memory) the images of a run are
uint8 tensors in memory, as before (224 px: 150 KB an image, so 10,000 photos take 1.5 GB);
above it they stay in the cache file and each batch is read from there (DiskImages), so memory
does not grow with the folder. Scanning and decoding report counts and an ETA.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch

from engine.core.config import TrainConfig
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Log


@dataclass
class PreparedData:
    classes: list[str]
    size: int
    x_train: torch.Tensor  # uint8 [N, 3, S, S]; DiskImages (same indexing) over the memory budget
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_target: torch.Tensor | None = None  # unlabelled target images used for adaptation
    x_test: torch.Tensor | None = None  # labelled target images, for measuring only
    y_test: torch.Tensor | None = None
    test_source: str = ""  # which folder x_test came from
    on_disk: bool = False  # the images are read from the disk cache batch by batch


@dataclass
class ScannedFolders:
    """The folders of a start, already walked and checked by the preflight.

    The walk is the only thing before decoding that grows with the folder (seconds on 100k
    files); handing its result to `prepare_data` means each start walks each folder once.
    The paths are kept so a result for other folders is never used by mistake.
    """

    source_path: Path
    source: Any  # engine.data.folders.Domain
    others: dict[str, tuple[Path, Any]]  # role ("target", "target test") -> (path, Domain)

    def domain(self, role: str, path: Path) -> Any | None:
        """The scanned domain of `role` if it was scanned from `path`, else None."""
        if role == "source":
            return self.source if self.source_path == path else None
        found = self.others.get(role)
        return found[1] if found is not None and found[0] == path else None


def _signature(domain: Any) -> str:
    """Files, labels, byte sizes and mtimes: a changed file must not hit the in-process memo."""
    from engine.data.image_cache import file_key

    h = hashlib.sha1()
    for s in domain.samples:
        h.update(f"{s.path}|{s.label}|{file_key(str(s.path))}\n".encode())
    return h.hexdigest()


class DecodeCache:
    """Decoded folders of this process by (root, size, file signature), over the disk cache.

    Holds the lazy on-disk result (a few bytes an image) or, where the disk cache could not be
    written, the in-memory tensors of small folders; small and explicit, owned by the caller.
    """

    def __init__(self, max_items: int = 8) -> None:
        self._items: dict[tuple[str, int, str], Any] = {}
        self.max_items = max_items

    def get_or_decode(
        self,
        domain: Any,
        size: int,
        workers: int = 0,
        control: JobControl | None = None,
        *,
        threads: int | None = None,
        emit: Emit | None = None,
        stage: str = "Decoding",
        keep_bytes: int = 256 << 20,
    ) -> Any:
        """The decoded domain: `images` are DiskImages when the disk cache holds them, else a tensor."""
        from engine.data.loading import decode_domain
        from engine.data.stage_progress import StageProgress

        key = (str(Path(domain.root).resolve()), size, _signature(domain))
        if key in self._items:
            return self._items[key]
        say: Emit = emit or (lambda _e: None)
        bar = StageProgress(say, stage, len(domain))
        dec = decode_domain(
            domain,
            size,
            threads=threads or (workers if workers > 0 else None),
            progress=bar.update,
            control=control,
            warn=lambda m: say(Log(m, "warning")),
            lazy=True,
        )
        decoded = len(domain) - dec.cache_hits
        bar.finish(f" ({dec.cache_hits:,} from the disk cache, {decoded:,} decoded)")
        if dec.where == "disk" or dec.images.numel() <= keep_bytes:
            if len(self._items) >= self.max_items:
                self._items.pop(next(iter(self._items)))
            self._items[key] = dec
        return dec


DEFAULT_CACHE = DecodeCache()


def _scan(path: Path, role: str, emit: Emit | None = None, labelled: bool | None = None) -> Any:
    from engine.data.folders import scan_domain
    from engine.data.stage_progress import StageProgress

    bar = StageProgress(emit, f"Scanning {role}", 0, "images found") if emit is not None else None
    try:
        domain = scan_domain(path, name=role, labelled=labelled, progress=bar.update if bar else None)
    except UserError as err:
        raise UserError(f"{role} folder: {err}") from None
    if bar is not None:
        bar.done = len(domain)
        bar.finish()
    return domain


class MemoryBudget:
    """Bytes of decoded images still allowed in memory; `take` keeps a split there or on disk."""

    def __init__(self, total: int) -> None:
        self.total, self.left = total, total
        self.spilled = False

    def take(self, images: Any, index: torch.Tensor | None = None) -> torch.Tensor:
        from engine.data.disk_images import DiskImages

        part = images if index is None else (images.rows(index) if isinstance(images, DiskImages) else images[index])
        if not isinstance(part, DiskImages):
            return part
        if part.nbytes <= self.left:
            self.left -= part.nbytes
            return part.materialize()
        self.spilled = True
        return cast(torch.Tensor, part)  # DiskImages, indexed like the tensor it stands for


def scan_source(path: Path, emit: Emit | None = None) -> Any:
    """The source folder's files, refused unless it is labelled with at least two classes."""
    source = _scan(path, "source", emit)
    if not source.labelled:
        raise UserError(
            f"source folder {path}: has no class sub-folders. The source must be labelled: "
            "put each class's images in a sub-folder named after the class."
        )
    if len(source.classes) < 2:
        raise UserError(f"source folder {path}: found {len(source.classes)} class; a classifier needs at least 2.")
    return source


def scan_other(source: Any, path: Path, role: str, emit: Emit | None = None) -> Any:
    """A target or target-test folder's files, refused when its classes do not fit the source's."""
    from engine.data.health import compare_domains

    domain = _scan(path, role, emit)
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
    return domain


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
    scanned: ScannedFolders | None = None,
) -> PreparedData:
    """Scan, check, decode (or read from the disk cache) and split the folders named in `config`.

    `scanned`: the folders the preflight already walked and checked; they are not walked again."""
    from engine.data.disk_images import budget_bytes
    from engine.data.split import stratified_split

    cache = cache or DEFAULT_CACHE
    threads = config.threads
    budget = MemoryBudget(budget_bytes(config.cache_memory_mb))
    source = scanned.domain("source", config.source) if scanned is not None else None
    if source is None:
        source = scan_source(config.source, emit)
    emit(Log(f"Source: {len(source)} images in {len(source.classes)} classes ({config.source})"))
    dec = cache.get_or_decode(
        source, size, config.workers, control, threads=threads, emit=emit, stage="Decoding source"
    )
    for path, reason in dec.skipped:
        emit(Log(f"Skipped unreadable file {path}: {reason}", "warning"))
    classes = list(source.classes)
    train_idx, val_idx = stratified_split(dec.labels.tolist(), config.val_fraction, config.seed)
    ti, vi = torch.tensor(train_idx, dtype=torch.long), torch.tensor(val_idx, dtype=torch.long)
    data = PreparedData(
        classes, size, budget.take(dec.images, ti), dec.labels[ti], budget.take(dec.images, vi), dec.labels[vi]
    )
    if config.synthetic is not None:
        from engine.data.synthetic import add_synthetic

        add_synthetic(
            data, config.synthetic, config.synthetic_ratio, config.seed, emit, cache, control, config.workers, budget
        )

    for role, path in (("target", config.target), ("target test", config.target_test)):
        if path is None:
            continue
        domain = scanned.domain(role, path) if scanned is not None else None
        if domain is None:
            domain = scan_other(source, path, role, emit)
        emit(
            Log(
                f"{role.capitalize()}: {len(domain)} images ({'labelled' if domain.labelled else 'unlabelled'}) ({path})"
            )
        )
        ddec = cache.get_or_decode(
            domain, size, config.workers, control, threads=threads, emit=emit, stage=f"Decoding {role}"
        )
        for p, reason in ddec.skipped:
            emit(Log(f"Skipped unreadable file {p}: {reason}", "warning"))
        images = budget.take(ddec.images)
        if role == "target":
            data.x_target = images
            if len(ddec.images) < 100:
                emit(
                    Log(
                        f"The target folder has only {len(ddec.images)} images; adaptation is unreliable under ~100.",
                        "warning",
                    )
                )
            if domain.labelled and config.target_test is None:
                data.x_test, data.y_test = images, _remap(ddec.labels, domain.classes, classes)
                data.test_source = str(path)
        else:
            data.x_test, data.y_test = images, _remap(ddec.labels, domain.classes, classes)
            data.test_source = str(path)
    data.on_disk = budget.spilled
    used = (budget.total - budget.left) >> 20
    if budget.spilled:
        emit(
            Log(
                f"Decoded images over the memory budget ({budget.total >> 20} MB): reading them from the disk "
                f"cache batch by batch ({used} MB in memory). Raise cache_memory_mb to keep more in memory."
            )
        )
    else:
        emit(Log(f"Decoded images in memory: {used} MB of the {budget.total >> 20} MB budget."))
    return data
