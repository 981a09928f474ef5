"""The attack part of the Robustness page: attack combo (from the registry, filtered by model kind),
norm, eps grid validated inline, and the attack's own settings form built from its config class.

`AttackSettings` owns these widgets and their logic but not their layout, so the page can place
them in its own form. The registry needs torch: call `load_registry()` once it has loaded.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import QObject, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QPalette, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QGroupBox, QLineEdit, QVBoxLayout

from desktop_app.widgets.config_form import ConfigForm, default_of
from desktop_app.widgets.form_utils import discard, error_label, label, tipped

ONNX_KINDS = ("score", "decision", "transfer")  # an ONNX model gives no gradients
NEEDS_RUN = (
    "they follow the model's gradients, which an ONNX file does not give. Choose the run the file "
    "was exported from (Model: Run) to use them; a transfer attack crafts the images on a run and tests them here."
)
KIND_TEXT = {
    "white-box": "white-box (gradients)",
    "score": "query: scores",
    "decision": "query: labels only",
    "transfer": "transfer from a surrogate run",
}
DEFAULT_EPS = "0, 0.01, 0.03, 0.1"
DEFAULT_ATTACK = "pgd"
_FRACTION = re.compile(r"^\s*([0-9.eE+-]+)\s*/\s*([0-9.eE+-]+)\s*$")


def parse_eps(text: str, norm: str) -> tuple[list[float], str]:
    """Budgets typed as '0, 0.01, 8/255' -> (sorted values, '') or ([], a message naming the bad value)."""
    values: list[float] = []
    for token in [t for t in re.split(r"[,;\s]+", text.strip()) if t]:
        frac = _FRACTION.match(token)
        try:
            value = float(frac.group(1)) / float(frac.group(2)) if frac else float(token)
        except (ValueError, ZeroDivisionError):
            return [], f"'{token}' is not a number; type budgets like 0, 0.01, 8/255"
        if value != value or value < 0:
            return [], f"eps = {token} is negative; budgets are >= 0"
        if norm == "linf" and value > 1:
            return [], f"eps = {token} is above 1; for linf use values in [0, 1] (images are in [0, 1]; 8/255 = 0.0314)"
        values.append(value)
    if not values:
        return [], "give at least one budget, e.g. 0, 0.01, 0.03"
    return sorted(set(values)), ""


class AttackSettings(QObject):
    """Attack, norm, eps grid and settings form. Signal `changed()` after any change of choice or validity."""

    changed = Signal()
    attack_changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ready = False
        self.kinds: dict[str, str] = {}
        self._docs: dict[str, str] = {}
        self._configs: dict[str, type[BaseModel]] = {}
        self._model_kind = "run"
        self.form: ConfigForm | None = None
        self.attack_combo = tipped(
            QComboBox(), "The attack, from the engine's registry (filtered by what the model allows)."
        )
        self.attack_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.attack_combo.setMinimumContentsLength(20)
        self.attack_combo.addItem("Loading PyTorch…")
        self.attack_combo.setEnabled(False)
        self.kind_label = label()
        self.kind_label.setStyleSheet("color: gray;")
        self.onnx_note = label()
        self.onnx_note.setVisible(False)
        self.norm_combo = tipped(
            QComboBox(),
            "Threat model: linf bounds the change of every pixel; l2 bounds the change "
            "over the whole image. The eps grid is measured in this norm.",
        )
        self.eps_edit = tipped(
            QLineEdit(DEFAULT_EPS),
            "Budgets to evaluate, comma separated, in pixel units of [0, 1] images "
            "(8/255 may be typed as such). 0 measures the clean accuracy.",
        )
        self.eps_error = error_label(visible=False)
        self.options_box = QGroupBox("Attack settings")
        self.options_box.setToolTip(
            "The attack's own settings (its defaults follow the paper). eps and norm are set above."
        )
        self._options_layout = QVBoxLayout(self.options_box)
        self._normal_palette = QPalette(self.eps_edit.palette())
        self.attack_combo.currentIndexChanged.connect(self._on_attack_changed)
        self.norm_combo.currentIndexChanged.connect(self._on_norm_changed)
        self.eps_edit.textChanged.connect(lambda _: self._check_eps())

    # ------------------------------------------------------------------ API
    def load_registry(self) -> None:
        """Read the attack registry (imports torch: call once the engine has loaded)."""
        from engine.attacks import get_attack, list_attacks

        for name in list_attacks():
            cls = get_attack(name)
            self.kinds[name], self._configs[name] = cls.kind, cls.config_cls
            self._docs[name] = ((cls.__doc__ or "").strip().splitlines() or [""])[0]
        self.ready = True
        self._fill()

    def set_model_kind(self, kind: str) -> None:
        """'run' offers every attack; 'onnx' only query and transfer attacks."""
        self._model_kind = kind
        if self.ready:
            self._fill()

    def attacks(self) -> list[str]:
        """The attacks that can run on the chosen model (white-box ones are listed, greyed, for ONNX)."""
        model = self.attack_combo.model()
        return [
            str(self.attack_combo.itemData(i))
            for i in range(self.attack_combo.count())
            if self.attack_combo.itemData(i) and model.flags(model.index(i, 0)) & Qt.ItemFlag.ItemIsEnabled
        ]

    def attack(self) -> str:
        return str(self.attack_combo.currentData() or "")

    def kind(self) -> str:
        return self.kinds.get(self.attack(), "")

    def set_attack(self, name: str) -> bool:
        i = self.attack_combo.findData(name)
        if i >= 0:
            self.attack_combo.setCurrentIndex(i)
        return i >= 0

    def norm(self) -> str:
        return str(self.norm_combo.currentData() or "linf")

    def set_norm(self, norm: str) -> None:
        i = self.norm_combo.findData(norm)
        if i >= 0:
            self.norm_combo.setCurrentIndex(i)

    def eps_values(self) -> tuple[list[float], str]:
        return parse_eps(self.eps_edit.text(), self.norm())

    def options(self, batch_size: int | None = None) -> dict[str, Any]:
        """The attack's own settings (AttackJobConfig.attack_options); `batch_size` goes to attacks
        that have one (images per call to the model)."""
        values = self.form.values() if self.form is not None else {}
        if batch_size is not None and "batch_size" in self._configs.get(self.attack(), BaseModel).model_fields:
            values["batch_size"] = batch_size
        return values

    def problem(self) -> str:
        """Why a job cannot start with these settings ('' when it can)."""
        if not self.ready:
            return "PyTorch is still loading."
        if not self.attack():
            return "Choose an attack."
        message = self.eps_values()[1]
        if message:
            return message
        return "" if self.form is None or self.form.is_valid() else "Fix the attack settings marked red."

    def set_enabled(self, on: bool) -> None:
        for w in (self.norm_combo, self.eps_edit, self.options_box):
            w.setEnabled(on)
        self.attack_combo.setEnabled(on and self.ready and self.attack_combo.count() > 0)

    # ------------------------------------------------------------------ internals
    def _fill(self) -> None:
        allowed = [n for n, k in self.kinds.items() if self._model_kind == "run" or k in ONNX_KINDS]
        needs_run = [n for n in self.kinds if n not in allowed]
        current = self.attack() if self.attack() in allowed else DEFAULT_ATTACK
        model = self.attack_combo.model()
        with QSignalBlocker(self.attack_combo):
            self.attack_combo.clear()
            for name in allowed + needs_run:
                kind = KIND_TEXT.get(self.kinds[name], self.kinds[name])
                i = self.attack_combo.count()
                if name in allowed:
                    self.attack_combo.addItem(f"{name} ({kind})", name)
                    self.attack_combo.setItemData(i, self._docs[name], Qt.ItemDataRole.ToolTipRole)
                else:  # shown greyed with the reason, not hidden
                    self.attack_combo.addItem(f"{name} ({kind}): needs a run", name)
                    self.attack_combo.setItemData(i, NEEDS_RUN, Qt.ItemDataRole.ToolTipRole)
                    item = model.item(i) if isinstance(model, QStandardItemModel) else None
                    if item is not None:
                        item.setEnabled(False)
            index = self.attack_combo.findData(current)
            self.attack_combo.setCurrentIndex(index if index >= 0 and current in allowed else 0)
        self.attack_combo.setEnabled(bool(allowed))
        self.onnx_note.setText(f"White-box attacks ({', '.join(needs_run)}): {NEEDS_RUN}" if needs_run else "")
        self.onnx_note.setVisible(bool(needs_run))
        self._on_attack_changed()

    def _on_attack_changed(self, *_: Any) -> None:
        name = self.attack()
        if name:
            self.kind_label.setText(self._docs.get(name, ""))
            norm = self.norm()
            norms = list(getattr(self._configs[name], "NORMS", ("linf", "l2")))
            self.norm_combo.blockSignals(True)
            self.norm_combo.clear()
            for n in norms:
                self.norm_combo.addItem(n, n)
            self.norm_combo.setCurrentIndex(norms.index(norm) if norm in norms else 0)
            self.norm_combo.blockSignals(False)
            self._rebuild_form()
        self._check_eps()
        self.attack_changed.emit(name)

    def _on_norm_changed(self, *_: Any) -> None:
        if self.form is not None:
            self.form.base_values["norm"] = self.norm()
            self.form.validate()
        self._check_eps()

    def _rebuild_form(self) -> None:
        if self.form is not None:
            discard(self.form, self._options_layout)
            self.form = None
        name = self.attack()
        cls = self._configs[name]
        # eps and norm are set above; an attack's own batch size is the page's one Batch size
        self.form = ConfigForm(cls, exclude={"eps", "norm", "batch_size"}, base_values={"norm": self.norm()})
        # ConfigForm leaves None defaults unset, so an optional float (PGD's step_size) would read 0: set them
        self.form.set_values({n: None for n in self.form.field_names() if default_of(cls.model_fields[n]) is None})
        self.form.valid_changed.connect(lambda _: self.changed.emit())
        self._options_layout.addWidget(self.form)
        self.options_box.setTitle(f"{name} settings")

    def _check_eps(self) -> None:
        message = self.eps_values()[1]
        self.eps_error.setText(message)
        self.eps_error.setVisible(bool(message))
        if message:
            pal = QPalette(self._normal_palette)
            pal.setColor(QPalette.ColorRole.Base, QColor(250, 205, 205))
            self.eps_edit.setPalette(pal)
        else:
            self.eps_edit.setPalette(self._normal_palette)
        self.changed.emit()
