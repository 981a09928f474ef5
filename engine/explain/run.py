"""The explain job's work: load the model once, then for each image its maps, overlays, .npy
files and faithfulness scores, with progress and Stop between images."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from engine.core.control import JobControl, Stopped
from engine.core.errors import UnreadableImage, UserError
from engine.core.events import Emit, Finished, Log, Progress, Started
from engine.core.fsutil import atomic_path
from engine.data.images import open_rgb, resize_center_crop, to_chw_float
from engine.deploy.predict import list_images
from engine.explain.explainer import ExplainOptions, load_explainer
from engine.explain.faithfulness import faithfulness
from engine.explain.overlay import write_overlay
from engine.jobs.explain import ExplainConfig, ExplainedImage, ExplainedMap, ExplainReport, MapScores


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "class"


def save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, array.astype(np.float32))


def _stem(path: Path, root: Path) -> Path:
    """The output name of an image: its path under the chosen folder, without the extension."""
    rel = path.relative_to(root) if root.is_dir() else Path(path.name)
    return rel.with_suffix("")


def explain_images(config: ExplainConfig, emit: Emit, control: JobControl) -> ExplainReport:
    opts = ExplainOptions(
        config.rise_masks, occlusion_window=config.occlusion_window, batch_size=config.batch_size, seed=config.seed
    )
    explainer = load_explainer(config.model, config.method, opts, config.checkpoint, control)
    wanted = [explainer.class_index(c) for c in config.classes]  # unknown names fail before any work
    files = list_images(config.images)
    if not files:
        raise UserError(f"{config.images}: holds no files; choose an image or a folder of images")
    files = files[: config.limit]
    root = Path(config.images)
    out = Path(config.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    size = explainer.input_size
    report = ExplainReport(
        model=str(config.model),
        model_kind="onnx" if explainer.kind == "onnx" else "run",
        method=config.method,
        layer=str(explainer.info.get("layer", "")),
        classes=explainer.classes,
        input_size=size,
        out=str(out),
        images=[],
    )
    emit(Started("explain", str(config.model), total_steps=len(files)))
    resized, map_seconds, map_queries = 0, 0.0, 0
    for k, path in enumerate(files):
        try:
            control.check()
        except Stopped:
            report.stopped = True
            break
        try:
            img = open_rgb(path)
        except UnreadableImage as exc:
            report.skipped.append(f"{path}: {exc.reason}")
            continue
        resized += img.size != (size, size)
        image = to_chw_float(resize_center_crop(img, size))
        probs = explainer.score(image[None])[0]
        pred = int(np.argmax(probs))
        targets = wanted or [pred]
        before = explainer.score.queries
        start = time.perf_counter()
        maps = explainer.maps(image, targets)
        seconds = time.perf_counter() - start
        queries = explainer.score.queries - before
        map_seconds, map_queries = map_seconds + seconds, map_queries + queries
        stem = _stem(path, root)
        entries = []
        for j, (target, saliency) in enumerate(zip(targets, maps, strict=True)):
            name = explainer.classes[target]
            suffix = "" if j == 0 else f".{_slug(name)}"
            npy = out / stem.parent / f"{stem.name}{suffix}.npy"
            npy.parent.mkdir(parents=True, exist_ok=True)
            save_npy(npy, saliency)
            caption = f"{config.method}: {name} ({probs[target]:.2f})"
            png = write_overlay(out / stem.parent / f"{stem.name}{suffix}.overlay.png", image, saliency, caption)
            scores = None
            if config.faithfulness:
                scores = MapScores(**faithfulness(explainer.score, image, saliency, target, config.steps, config.seed))
            entries.append(
                ExplainedMap(name=name, probability=float(probs[target]), npy=str(npy), overlay=str(png), scores=scores)
            )
        label = path.parent.name if path.parent.name in explainer.classes else None
        report.images.append(
            ExplainedImage(
                path=str(path),
                original_size=list(img.size),
                predicted=explainer.classes[pred],
                confidence=float(probs[pred]),
                label=label,
                maps=entries,
                seconds=seconds,
                queries=queries,
            )
        )
        emit(Progress(0, k + 1, len(files), {"seconds": seconds}))
    n = len(report.images)
    if n:
        report.seconds_per_image = map_seconds / n
        report.queries_per_image = map_queries / n
    scored = [m.scores for im in report.images for m in im.maps if m.scores is not None]
    if scored:
        mean = {f: float(np.mean([getattr(s, f) for s in scored])) for f in MapScores.model_fields}
        report.mean_scores = MapScores(**mean)
        report.faithful = mean["deletion"] < mean["random_deletion"] and mean["insertion"] > mean["random_insertion"]
    if resized:
        report.notes.append(
            f"{resized} image(s) were not {size}x{size}: resized (shorter side) and centre-cropped as for "
            "prediction; their maps are at the model's input size"
        )
    for note in report.notes:
        emit(Log(note, "warning"))
    emit(
        Log(
            f"Explained {n} image(s) with {config.method}: {report.seconds_per_image * 1000:.1f} ms and "
            f"{report.queries_per_image:.0f} model queries per image; maps in {out}"
        )
    )
    emit(Finished("explain", str(config.model), {"images": float(n)}, stopped=report.stopped))
    return report
