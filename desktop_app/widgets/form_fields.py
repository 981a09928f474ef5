"""The parts of a settings form that know no model: labels from field names, a field's bounds,
optionality and default, and the spin boxes that can say "default" (None) and show 1e-05 as such."""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types as at
from pydantic.fields import FieldInfo
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QSpinBox, QWidget

INT_MAX = 2**31 - 1
FLOAT_MAX = 1e12
_WORDS = {
    "lr": "learning rate",
    "ema": "EMA",
    "amp": "AMP",
    "disc": "discriminator",
    "bn": "BatchNorm",
    "val": "validation",
    "dim": "width",
    "num": "number of",
    "eps": "epsilon",
    "onnx": "ONNX",
    "int8": "INT8",
}
_NUMBER = re.compile(r"[-+]?[0-9]*\.?[0-9]*([eE][-+]?[0-9]*)?")
DEFAULT_TEXT = "(default)"  # what an optional number shows when it is left to the engine (None)


def field_label(name: str, info: FieldInfo | None = None) -> str:
    """A readable label: the field's title, or its name with abbreviations spelled out."""
    if info is not None and info.title:
        return info.title
    text = " ".join(_WORDS.get(w, w) for w in name.split("_"))
    return text[:1].upper() + text[1:]


def unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """(inner type, True) for `X | None`, else (annotation, False); `Annotated[X, ...]` reads as X
    (a config's UserPath is a Path)."""
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and len(args) == 2:
            annotation, optional = inner[0], True
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation, optional


def bounds(info: FieldInfo) -> dict[str, float]:
    """The numeric constraints of a field: keys among ge, gt, le, lt."""
    out: dict[str, float] = {}
    for m in info.metadata:
        for key, cls in (("ge", at.Ge), ("gt", at.Gt), ("le", at.Le), ("lt", at.Lt)):
            if isinstance(m, cls):
                out[key] = float(getattr(m, key))
    return out


def default_of(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.get_default(call_default_factory=True)
    return None if info.is_required() else info.default


def _is_default_text(spin: QAbstractSpinBox, text: str) -> bool:
    """An optional spin box reads empty text (the user cleared it) or its special text as "default"."""
    special = spin.specialValueText()
    return bool(special) and text.strip() in ("", special)


class OptionalIntSpinBox(QSpinBox):
    """An int spin box whose minimum means "default" (None) when `optional`; clearing it says default too."""

    def __init__(self, optional: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if optional:
            self.setSpecialValueText(DEFAULT_TEXT)

    def valueFromText(self, text: str) -> int:
        if _is_default_text(self, text):
            return self.minimum()
        return super().valueFromText(text)

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        if _is_default_text(self, text):
            return QValidator.State.Acceptable, text, pos
        return super().validate(text, pos)


class SciSpinBox(QDoubleSpinBox):
    """A float spin box that shows 0.001 and 1e-05 as such (not 0.001000000000).

    With `set_floor(lowest)` its minimum (shown as the special text) stands for "default" and the
    arrows jump between it and the lowest real value, never through the gap in between.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)
        self.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.floor: float | None = None  # lowest real value of an optional field
        self.first = 0.0  # where the up arrow goes from "default"

    def set_floor(self, floor: float, first: float | None = None) -> None:
        """Make the minimum (one below `floor`) the "default" value of an optional field."""
        self.floor = floor
        self.first = floor if first is None else first
        self.setSpecialValueText(DEFAULT_TEXT)
        self.setMinimum(floor - 1.0)

    def stepBy(self, steps: int) -> None:
        if self.floor is not None:
            at_default = self.value() == self.minimum()
            if at_default and steps > 0:
                self.setValue(self.first)
                return
            if not at_default and steps < 0 and self.value() <= max(self.floor, self.first):
                self.setValue(self.minimum())
                return
        super().stepBy(steps)
        if self.floor is not None and self.minimum() < self.value() < self.floor:
            self.setValue(self.floor)

    def textFromValue(self, value: float) -> str:
        return format(value, ".10g")

    def valueFromText(self, text: str) -> float:
        if _is_default_text(self, text):
            return self.minimum()
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        return self._state(text), text, pos

    def _state(self, text: str) -> QValidator.State:
        if _is_default_text(self, text):
            return QValidator.State.Acceptable
        try:
            value = float(text)
        except ValueError:
            return QValidator.State.Intermediate if _NUMBER.fullmatch(text.strip()) else QValidator.State.Invalid
        return (
            QValidator.State.Acceptable if self.minimum() <= value <= self.maximum() else QValidator.State.Intermediate
        )
