"""The attack part of the Robustness page: attack combo (from the registry, filtered by model kind),
norm, eps grid validated inline, and the attack's own settings form built from its config class.

`AttackSettings` owns these widgets and their logic but not their layout, so the page can place
them in its own form. The registry needs torch: call `load_registry()` once it has loaded.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QLineEdit, QVBoxLayout

from desktop_app.widgets.config_form import ConfigForm, default_of

ONNX_KINDS = ("score", "decision", "transfer")  # an ONNX model gives no gradients
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
        self.attack_combo = QComboBox()
        self.attack_combo.setToolTip("The attack, from the engine's registry (filtered by what the model allows).")
        self.attack_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.attack_combo.setMinimumContentsLength(20)
        self.attack_combo.addItem("Loading PyTorch…")
        self.attack_combo.setEnabled(False)
        self.kind_label = QLabel()
        self.kind_label.setWordWrap(True)
        self.kind_label.setStyleSheet("color: gray;")
        self.norm_combo = QComboBox()
        self.norm_combo.setToolTip(
            "Threat model: linf bounds the change of every pixel; l2 bounds the change "
            "over the whole image. The eps grid is measured in this norm."
        )
        self.eps_edit = QLineEdit(DEFAULT_EPS)
        self.eps_edit.setToolTip(
            "Budgets to evaluate, comma separated, in pixel units of [0, 1] images "
            "(8/255 may be typed as such). 0 measures the clean accuracy."
        )
        self.eps_error = QLabel()
        self.eps_error.setWordWrap(True)
        self.eps_error.setStyleSheet("color: #d32f2f;")
        self.eps_error.setVisible(False)
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
        return [d for d in (self.attack_combo.itemData(i) for i in range(self.attack_combo.count())) if d]

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

    def options(self) -> dict[str, Any]:
        """The attack's own settings (AttackJobConfig.attack_options)."""
        return self.form.values() if self.form is not None else {}

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
        current = self.attack() or DEFAULT_ATTACK
        self.attack_combo.blockSignals(True)
        self.attack_combo.clear()
        for name in allowed:
            self.attack_combo.addItem(f"{name} ({KIND_TEXT.get(self.kinds[name], self.kinds[name])})", name)
            self.attack_combo.setItemData(self.attack_combo.count() - 1, self._docs[name], Qt.ItemDataRole.ToolTipRole)
        self.attack_combo.setCurrentIndex(max(0, self.attack_combo.findData(current)))
        self.attack_combo.blockSignals(False)
        self.attack_combo.setEnabled(bool(allowed))
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
            self._options_layout.removeWidget(self.form)
            self.form.hide()
            self.form.setParent(None)
            self.form.deleteLater()
            self.form = None
        name = self.attack()
        cls = self._configs[name]
        self.form = ConfigForm(cls, exclude={"eps", "norm"}, base_values={"norm": self.norm()})
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
