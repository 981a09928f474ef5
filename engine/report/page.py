"""The report card as one HTML file: inline CSS, images as data URIs, no script, no external link,
so it opens offline and can be mailed. Every number is read from the report the jobs produced."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path

from engine.core.fsutil import atomic_write_text
from engine.jobs.evaluate import EvaluateReport
from engine.jobs.explain import ExplainedImage
from engine.jobs.report import SECTIONS, ReportCardReport
from engine.report import figures

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:18px 32px}header h1{margin:0 0 4px;font-size:24px}
nav{padding:8px 32px;background:#e8edf2;font-size:14px}nav a{margin-right:14px;color:#1f3b57}
main{padding:8px 32px 40px;max-width:1200px}section{background:#fff;border:1px solid #ddd;border-radius:6px;
padding:12px 20px;margin:16px 0}h2{color:#1f3b57;margin-top:4px}table{border-collapse:collapse;margin:8px 0;font-size:14px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f0f3f6}td:first-child,th:first-child{text-align:left}
.note{background:#fff4d6;border-left:4px solid #e0a800;padding:6px 12px;margin:6px 0}.big{font-size:20px;font-weight:600}
img{max-width:100%;margin:6px 0}pre{white-space:pre-wrap;background:#f6f6f6;padding:10px;border-radius:4px}
.pair{display:flex;flex-wrap:wrap;gap:12px}.pair figure{margin:0;max-width:540px}figcaption{font-size:13px;color:#555}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def pct(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.2%}"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def img(png: bytes | None, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="{figures.data_uri(png)}">' if png else ""


def img_file(path: Path | str | None, alt: str) -> str:
    p = Path(path) if path else None
    return img(p.read_bytes(), alt) if p is not None and p.is_file() else ""


def _data(r: ReportCardReport, tmp: Path) -> str:
    parts = []
    if r.health is not None:
        rows = [
            [h.domain, h.root, h.num_images, h.num_readable, len(h.unreadable), len(h.duplicates), len(h.classes)]
            for h in r.health.reports()
        ]
        parts.append(table(["folder", "path", "images", "readable", "unreadable", "duplicate groups", "classes"], rows))
        issues = [i for h in r.health.reports() for i in h.issues] + list(r.health.issues)
        if issues:
            parts.append("<ul>" + "".join(f"<li>{esc(i.level)}: {esc(i.message)}</li>" for i in issues) + "</ul>")
        counts = {h.domain: h.class_counts for h in r.health.reports() if h.labelled}
        parts.append(img(figures.counts_png(counts), "images per class"))
    if r.proxy_a_distance is not None:
        parts.append(
            f"<p>Domain shift: proxy A-distance <b>{r.proxy_a_distance:.3f}</b> on the features"
            + (f", {r.output_a_distance:.3f} on the class scores" if r.output_a_distance is not None else "")
            + " (0: the domains look alike to a linear classifier, 2: fully separable).</p>"
        )
        parts.append(img_file(tmp / "embedding.png", "source and target features"))
    return "".join(parts)


def _training(r: ReportCardReport) -> str:
    keep = (
        "method",
        "backbone",
        "weights",
        "epochs",
        "batch_size",
        "lr",
        "optimizer",
        "augment",
        "select",
        "seed",
        "source",
        "target",
        "target_test",
        "method_options",
    )
    rows = [[k, r.config[k]] for k in keep if k in r.config]
    curves = figures.curves_png(r.metrics)
    return table(["setting", "value"], rows) + (
        img(curves, "training curves") if curves else "<p>No epoch finished yet.</p>"
    )


def _evaluation(name: str, ev: EvaluateReport, where: str) -> str:
    rows = [[c.name, pct(c.precision), pct(c.recall), c.support] for c in ev.per_class]
    return (
        f"<h3>{esc(name)}: <span class='big'>{pct(ev.accuracy)}</span> on {ev.n} images</h3>"
        f"<p>{esc(where)}</p><div class='pair'><div>{table(['class', 'precision', 'recall', 'support'], rows)}</div>"
        f"<div>{img(figures.confusion_png(ev.confusion_matrix, ev.classes, name), name + ' confusion matrix')}</div></div>"
    )


def _accuracy(r: ReportCardReport) -> str:
    split = (
        f"The held-out {r.config.get('val_fraction', '')} of {r.config.get('source', 'the source folder')} "
        f"(the split training used, seed {r.config.get('seed', '')})"
    )
    out = _evaluation("Source validation", r.source_eval, split)
    if r.target_eval is not None:
        out += _evaluation("Target", r.target_eval, r.target_eval.data)
    return out


def _calibration(r: ReportCardReport) -> str:
    if not r.calibration:
        return "<p>Not measured.</p>"
    rows = [[c.domain, c.n, pct(c.accuracy), f"{c.ece_before:.4f}", f"{c.ece_after:.4f}"] for c in r.calibration]
    return (
        f"<p>Temperature fitted on the source validation split: <b>T = {r.temperature:.3f}</b> (logits divided by T; "
        "predictions, hence accuracy, unchanged).</p>"
        + table(["set", "images", "accuracy", "ECE before", "ECE after"], rows)
        + img(figures.reliability_png(r.calibration, r.temperature), "reliability diagram")
    )


def _robustness(r: ReportCardReport) -> str:
    parts = []
    for rep in r.robustness:
        rows = [[f"{e.eps:.4g}", pct(e.accuracy), pct(e.success_rate), e.n_attacked] for e in rep.results]
        curve = Path(rep.folder) / rep.curve if rep.curve else None
        parts.append(
            f"<h3>{esc(rep.attack)} ({esc(rep.norm)}{', targeted' if rep.targeted else ''}) on {rep.n_images} images "
            f"of {esc(rep.data)}</h3><p>Clean accuracy {pct(rep.clean_accuracy)}; {esc(rep.created)}</p>"
            f"<div class='pair'><div>{table(['eps', 'accuracy', 'attack success', 'attacked'], rows)}</div>"
            f"<div>{img_file(curve, 'robustness curve')}</div></div>"
        )
    return "".join(parts) or "<p>No robustness report (run with --robustness for a quick PGD sweep).</p>"


def _export(r: ReportCardReport) -> str:
    if r.export is None:
        return "<p>Not measured.</p>"
    e = r.export.report
    rows = [
        [
            "ONNX parity (PyTorch vs onnxruntime)",
            f"max |logit diff| {e.max_abs_diff:.2e}, top-1 agreement {pct(e.top1_agreement)} on {e.n} images: {'passed' if e.passed else 'FAILED'}",
        ],
        ["fp32 file size", f"{r.export.size_bytes / 1e6:.2f} MB"],
    ]
    if e.int8 is not None:
        q = e.int8
        rows += [
            ["INT8 file size", f"{(r.export.int8_size_bytes or 0) / 1e6:.2f} MB"],
            [
                "accuracy fp32 / INT8",
                f"{pct(q.acc_fp32)} / {pct(q.acc_int8)} (delta {(q.acc_int8 - q.acc_fp32) * 100:+.2f} points) on {q.n} held-out images",
            ],
            ["top-1 agreement INT8 vs fp32", pct(q.agreement)],
        ]
        rows += [
            [
                f"latency {k} fp32 / INT8",
                f"{q.latency_ms_fp32[k]:.3f} / {q.latency_ms_int8.get(k, float('nan')):.3f} ms",
            ]
            for k in q.latency_ms_fp32
        ]
        if q.warning:
            rows.append(["warning", q.warning])
    return table(["", ""], rows) + f"<p>{esc(e.path)}</p>"


def _explanations(r: ReportCardReport) -> str:
    if not r.explanations:
        return "<p>No mistakes to explain.</p>"
    parts = [
        f"<p><b>{esc(r.more_faithful)}</b></p><p>Each row: the image, the heat map and the blend, for the predicted class (left) and the true class (right).</p>"
    ]
    by_image: dict[str, list[tuple[str, ExplainedImage]]] = {}
    for ex in r.explanations:
        for im in ex.images:
            by_image.setdefault(im.path, []).append((ex.method, im))
    for path, entries in by_image.items():
        first = entries[0][1]
        parts.append(
            f"<h3>{esc(Path(path).name)}: predicted {esc(first.predicted)} ({first.confidence:.2f}), true {esc(first.maps[1].name if len(first.maps) > 1 else '?')}</h3>"
        )
        for method, im in entries:
            figs = []
            for m in im.maps:
                s = m.scores
                cap = f"{method}, class {m.name} (p {m.probability:.2f})"
                if s is not None:
                    cap += f": deletion {s.deletion:.3f} (random {s.random_deletion:.3f}), insertion {s.insertion:.3f} (random {s.random_insertion:.3f})"
                figs.append(f"<figure>{img_file(m.overlay, cap)}<figcaption>{esc(cap)}</figcaption></figure>")
            parts.append("<div class='pair'>" + "".join(figs) + "</div>")
    return "".join(parts)


def render(r: ReportCardReport, tmp: Path) -> str:
    bodies = {
        "data": _data(r, tmp),
        "training": _training(r),
        "accuracy": _accuracy(r),
        "calibration": _calibration(r),
        "robustness": _robustness(r),
        "export": _export(r),
        "explanations": _explanations(r),
        "environment": table(["", ""], r.environment.items()),
        "model-card": f"<pre>{esc(r.model_card)}</pre>",
    }
    name = Path(r.run_dir).name
    notes = "".join(f"<div class='note'>{esc(n)}</div>" for n in r.notes)
    nav = "".join(f"<a href='#{key}'>{esc(title)}</a>" for key, title in SECTIONS)
    sections = "".join(f"<section id='{key}'><h2>{esc(title)}</h2>{bodies[key]}</section>" for key, title in SECTIONS)
    summary = f"source validation {pct(r.source_eval.accuracy)}"
    if r.target_eval is not None:
        summary += f", target {pct(r.target_eval.accuracy)}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Report card: {esc(name)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>Report card: {esc(name)}</h1><div>{esc(summary)}; checkpoint {esc(Path(r.checkpoint).name)}</div></header>"
        f"<nav>{nav}</nav><main>{notes}{sections}</main></body></html>"
    )


def write_page(r: ReportCardReport, out: Path, tmp: Path) -> Path:
    out = out.expanduser()
    if out.suffix.lower() not in (".html", ".htm"):
        out = out.with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render(r, tmp))
    r.path = str(out)
    return out
