"""A settings form built from a pydantic model class, so a new method's options need no page code.

Each field gets an editor from its type (spin boxes honouring ge/le/gt/lt, a check box, a combo
box for Literal, a line edit with a browse button for paths), a label and the field's
description as tooltip. Values are validated by the model itself on every edit: a bad value turns
its editor red with pydantic's message under it, and `valid_changed(bool)` tells the page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import tomllib
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from desktop_app.widgets.form_fields import (  # noqa: F401 - re-exported for callers of this module
    DEFAULT_TEXT,
    FLOAT_MAX,
    INT_MAX,
    OptionalIntSpinBox,
    SciSpinBox,
    bounds,
    default_of,
    field_label,
    unwrap_optional,
)
from desktop_app.widgets.form_utils import error_label, pane


class _Editor:
    """One field's widget plus how to read and write its value."""

    def __init__(self, name: str, info: FieldInfo, on_change: Any) -> None:
        self.name, self.info = name, info
        self.kind, self.optional = "text", False
        inner, self.optional = unwrap_optional(info.annotation)
        self.inner = inner
        self.widget = self._build(inner, on_change)

    # ------------------------------------------------------------------ construction
    def _build(self, inner: Any, on_change: Any) -> QWidget:
        if inner is bool:
            self.kind = "bool"
            box = QCheckBox()
            box.toggled.connect(on_change)
            return box
        if get_origin(inner) is Literal:
            self.kind = "choice"
            combo = QComboBox()
            self.choices = list(get_args(inner)) + ([None] if self.optional else [])
            combo.addItems(["(default)" if c is None else str(c) for c in self.choices])
            combo.currentIndexChanged.connect(on_change)
            return combo
        if inner is int:
            self.kind = "int"
            spin = OptionalIntSpinBox(self.optional)
            b = bounds(self.info)
            ilo = int(b["ge"]) if "ge" in b else int(b["gt"]) + 1 if "gt" in b else -INT_MAX + 1
            ihi = int(b["le"]) if "le" in b else int(b["lt"]) - 1 if "lt" in b else INT_MAX - 1
            spin.setRange(ilo - 1 if self.optional else ilo, ihi)
            if self.optional:
                spin.setValue(spin.minimum())  # starts at "default", not at 0
            spin.valueChanged.connect(on_change)
            return spin
        if inner is float:
            self.kind = "float"
            dspin = SciSpinBox()
            b = bounds(self.info)
            lo = b.get("ge", b.get("gt", -FLOAT_MAX))
            hi = b.get("le", b.get("lt", FLOAT_MAX))
            dspin.setRange(lo, hi)
            if self.optional:  # the lowest valid value: the bound itself, or just above a strict one
                floor = lo if "ge" in b or "gt" not in b else lo + 1e-3 * min(1.0, hi - lo)
                dspin.set_floor(floor, first=None if ("ge" in b or "gt" in b) else min(max(0.0, lo), hi))
                dspin.setValue(dspin.minimum())  # starts at "default": a None default must not read 0
            dspin.valueChanged.connect(on_change)
            return dspin
        edit = QLineEdit()
        edit.textChanged.connect(on_change)
        if inner is Path or (isinstance(inner, type) and issubclass(inner, Path)):
            self.kind = "path"
            holder = QWidget()
            row = QHBoxLayout(holder)
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(edit, 1)
            button = QToolButton()
            button.setText("…")
            button.setToolTip("Browse for the " + ("folder" if self._wants_folder() else "file"))
            button.clicked.connect(lambda: self._browse(edit))
            row.addWidget(button)
            self.line = edit
            return holder
        self.kind = "text" if inner is str else "literal"
        self.line = edit
        return edit

    def _wants_folder(self) -> bool:
        text = f"{self.name} {self.info.description or ''}".lower()
        return "dir" in self.name or "folder" in text

    def _browse(self, edit: QLineEdit) -> None:
        from desktop_app.widgets.folder_picker import remember_folder, start_folder

        start = start_folder(edit.text().strip())
        if self._wants_folder():
            chosen = QFileDialog.getExistingDirectory(edit, field_label(self.name, self.info), start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(edit, field_label(self.name, self.info), start)
        if chosen:
            remember_folder(chosen)
            edit.setText(chosen)

    # ------------------------------------------------------------------ values
    def get(self) -> Any:
        w = self.widget  # its class follows self.kind (see _build)
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            return self.choices[w.currentIndex()]
        if isinstance(w, QSpinBox | QDoubleSpinBox):
            if self.optional and w.value() == w.minimum():
                return None
            return w.value()
        text = self.line.text().strip()
        if self.kind == "literal":
            return _parse_literal(text, self.inner)
        if not text and self.optional:
            return None
        return text

    def set(self, value: Any) -> None:
        w = self.widget  # its class follows self.kind (see _build)
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            if value in self.choices:
                w.setCurrentIndex(self.choices.index(value))
        elif isinstance(w, QSpinBox):
            w.setValue(w.minimum() if value is None else int(value))
        elif isinstance(w, QDoubleSpinBox):
            w.setValue(w.minimum() if value is None else float(value))
        elif self.kind == "literal":
            self.line.setText("" if value is None else json.dumps(value))
        else:
            self.line.setText("" if value is None else str(value))

    def focus_widget(self) -> QWidget:
        return self.line if self.kind in ("path", "text", "literal") else self.widget


def _parse_literal(text: str, annotation: Any) -> Any:
    """A list or table typed as JSON or TOML ('0.5, 1, 2' also works for lists); else the text."""
    if not text:
        return [] if get_origin(annotation) is list else text
    try:
        return json.loads(text)
    except ValueError:
        pass
    for candidate in (text, f"[{text}]" if get_origin(annotation) is list else None):
        if candidate is None:
            continue
        try:
            return tomllib.loads(f"v = {candidate}")["v"]
        except tomllib.TOMLDecodeError:
            continue
    return text


class ConfigForm(QWidget):
    """Editors for the fields of `model` (all, or `fields`, minus `exclude`), validated live.

    `base_values` fills required fields the form leaves out, so the whole model can be validated;
    `labels` overrides the label of some fields.
    """

    valid_changed = Signal(bool)
    values_changed = Signal()

    def __init__(
        self,
        model: type[BaseModel],
        *,
        fields: list[str] | None = None,
        exclude: set[str] | frozenset[str] = frozenset(),
        base_values: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.base_values = dict(base_values or {})
        names = fields if fields is not None else list(model.model_fields)
        self._editors: dict[str, _Editor] = {}
        self._errors_labels: dict[str, QLabel] = {}
        self._errors: dict[str, str] = {}
        self._valid = True
        self._loading = False
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.setContentsMargins(0, 0, 0, 0)
        for name in names:
            if name in exclude or name not in model.model_fields:
                continue
            info = model.model_fields[name]
            editor = _Editor(name, info, self._on_edited)
            tip = info.description or field_label(name, info)
            editor.widget.setToolTip(tip)
            editor.focus_widget().setToolTip(tip)
            label = QLabel((labels or {}).get(name) or field_label(name, info))
            label.setToolTip(tip)
            label.setBuddy(editor.focus_widget())
            error = error_label(visible=False)
            layout.addRow(label, pane(editor.widget, error, spacing=2))
            self._editors[name] = editor
            self._errors_labels[name] = error
        self.general_error = error_label(visible=False)
        layout.addRow(self.general_error)
        self._normal_palette = QPalette(self.palette())
        from desktop_app.widgets.wheel_guard import guard_wheel

        guard_wheel(self)  # scrolling a form must not change its values
        defaults = {n: default_of(e.info) for n, e in self._editors.items()}
        self.set_values({k: v for k, v in defaults.items() if v is not None})

    # ------------------------------------------------------------------ API
    def field_names(self) -> list[str]:
        return list(self._editors)

    def editor(self, name: str) -> QWidget:
        """The input widget of a field (spin box, check box, combo box or line edit)."""
        return self._editors[name].focus_widget()

    def values(self) -> dict[str, Any]:
        return {name: e.get() for name, e in self._editors.items()}

    def set_values(self, values: dict[str, Any]) -> None:
        """Show `values` (unknown keys ignored), then validate once."""
        self._loading = True
        try:
            for name, value in values.items():
                if name in self._editors:
                    self._editors[name].set(value)
        finally:
            self._loading = False
        self.validate()

    def is_valid(self) -> bool:
        return self._valid

    def errors(self) -> dict[str, str]:
        """Field name (or '' for the whole form) -> message, for the values shown now."""
        return dict(self._errors)

    def validate(self) -> bool:
        """Validate the shown values with the model; paint bad editors red with the message."""
        errors: dict[str, str] = {}
        try:
            self.model.model_validate({**self.base_values, **self.values()})
        except ValidationError as err:
            for e in err.errors():
                loc = e["loc"][0] if e["loc"] else ""
                key = loc if loc in self._editors else ""
                msg = e["msg"].removeprefix("Value error, ")
                if key == "" and loc:
                    msg = f"{loc}: {msg}"
                errors.setdefault(str(key), msg)
        self._errors = errors
        for name, _label in self._errors_labels.items():
            self._paint(name, errors.get(name))
        general = errors.get("")
        self.general_error.setText(general or "")
        self.general_error.setVisible(bool(general))
        valid = not errors
        if valid != self._valid:
            self._valid = valid
            self.valid_changed.emit(valid)
        return valid

    # ------------------------------------------------------------------ internals
    def _paint(self, name: str, message: str | None) -> None:
        label = self._errors_labels[name]
        widget = self._editors[name].focus_widget()
        label.setText(message or "")
        label.setVisible(bool(message))
        if message:
            pal = QPalette(widget.palette())
            base = self._normal_palette.color(QPalette.ColorRole.Base)
            red = QColor(229, 57, 53)
            mixed = QColor(
                (base.red() * 6 + red.red() * 4) // 10,
                (base.green() * 6 + red.green() * 4) // 10,
                (base.blue() * 6 + red.blue() * 4) // 10,
            )
            pal.setColor(QPalette.ColorRole.Base, mixed)
            widget.setPalette(pal)
            widget.setToolTip(f"{message}\n\n{self._editors[name].info.description or ''}".strip())
        else:
            widget.setPalette(self._normal_palette)
            widget.setToolTip(self._editors[name].info.description or field_label(name))

    def _on_edited(self, *_: Any) -> None:
        if self._loading:
            return
        self.validate()
        self.values_changed.emit()
