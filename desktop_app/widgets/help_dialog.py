"""Help > Keyboard shortcuts and Help > Method notes: what the keys do and what the figures mean.

The shortcut list is read from the window's actions, so it cannot drift from them. The notes
are the README's explanations of the figures the app plots (λ, domain accuracy, the proxy
A-distance, weight averaging), written for someone who has not read the papers.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

METHOD_NOTES = """
<h3>The path through the app</h3>
<p><b>Data</b>: a source folder with one sub-folder per class (labelled), optionally a target folder of
images from the domain you care about (labels not needed) and a labelled target-test folder to measure
the result. <b>Train</b>: fine-tune on the source, or adapt to the target. <b>Evaluate</b>: accuracy and
confusion matrix on labelled images. <b>Export</b>: an ONNX file checked against PyTorch.</p>
<h3>Domain adaptation</h3>
<p><b>finetune</b> trains on the source only: the baseline every adaptation method must beat.
<b>DANN</b> adds a domain discriminator that tries to tell source from target features; a gradient
reversal layer makes the feature extractor fool it.</p>
<p><b>λ (lambda)</b>: the weight of the adaptation loss. DANN raises it from 0 to 1 over the run,
λ(p) = 2/(1+e<sup>−10p</sup>) − 1 with p the share of the run done, so the classifier learns first.</p>
<p><b>Domain accuracy</b> (<code>domain_acc</code>): how often the discriminator tells the domains apart
while training. It drifts towards 0.5 (chance) as the features align; near 1 means the domains are
still easy to tell apart.</p>
<p><b>Proxy A-distance</b> (Domains page): a fresh linear classifier is trained to tell source from target
features; the distance is 2(1 − 2·error), 0 when the domains are indistinguishable, 2 when fully
separable. It can stay high while target accuracy improves: adaptation aligns the class structure the
classifier uses, not every direction a new classifier can find. Judge a method by the target accuracy
when you have a labelled target-test folder.</p>
<p><b>Weight averaging</b> (EMA decay): empty means the method's choice, 0.99 for adaptation methods
(about the last 100 steps), whose checkpoints swing from epoch to epoch; 0 turns it off.</p>
<p><b>Keep best by</b>: without target labels the best checkpoint is chosen by source validation
accuracy (or target prediction entropy); target-test labels are never used to choose.</p>
<h3>Robustness</h3>
<p>Attacks change each image by at most ε (in [0, 1] pixel units; 8/255 ≈ 0.031 for L∞) and count how
often the prediction flips. Adversarial training (PGD-AT, TRADES) trades some clean accuracy for
accuracy under attack.</p>
"""


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """(keys, what) for every action with a shortcut, in the window's order."""
    rows = []
    for action in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
        if keys:
            rows.append((" or ".join(keys), action.text().replace("&", "")))
    return rows


def shortcuts_html(actions: Iterable[QAction]) -> str:
    rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{w}</td></tr>" for k, w in shortcut_rows(actions))
    return f"<h3>Keyboard shortcuts</h3><table>{rows}</table>"


def show_help(parent: QWidget, title: str, html: str) -> QDialog:
    """A non-modal dialog with `html` (returned, so tests can read and close it)."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    text = QTextBrowser()
    text.setOpenExternalLinks(True)
    text.setHtml(html)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    col = QVBoxLayout(dialog)
    col.addWidget(text)
    col.addWidget(buttons)
    dialog.resize(640, 520)
    dialog.show()
    return dialog
