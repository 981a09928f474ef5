"""The attribute-table editor shown on the Train page for zero-shot learning.

A grid of classes (rows) by attributes (columns): binary attributes are tick boxes, real ones
numbers. The user starts from a CSV file or the demo digits' table, adds classes (the unseen
ones are only rows here: they have no images) and attributes, ticks, and saves as CSV. The
table is checked as it is edited with the engine's own reader (engine.data.attributes), so the
notes shown here (identical rows, constant columns) are the ones training would give.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from desktop_app.resources import resource_path
from desktop_app.widgets.form_utils import button, hbox, label, line_edit, pane
from engine.core.errors import UserError
from engine.data.attributes import AttributeTable, load_attribute_table, parse_attribute_table

DEMO_TABLE = "attributes/demo_digits.csv"
_EDITABLE = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEditable
_TICKABLE = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable


class AttributeTableEditor(QWidget):
    """`saved(path)` fires after the table is written; `load(path)` shows a file."""

    saved = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = ""
        self.binary: list[bool] = []  # per attribute column: tick boxes or numbers
        self.grid = QTableWidget(0, 1)
        self.grid.setHorizontalHeaderLabels(["class"])
        self.grid.setMinimumHeight(220)
        self.grid.verticalHeader().setVisible(False)  # the class column names the rows
        self.grid.itemChanged.connect(self._on_changed)
        self.grid.setToolTip("One row per class, seen and unseen; tick the attributes each class has.")
        self.demo_button = button(
            "Demo digits' table",
            "Start from the table the app ships for the demo digits (loops, strokes, symmetry…).",
            self.load_demo,
        )
        self.open_button = button("Open…", clicked=self._open)
        self.save_button = button("Save", "Write the table as CSV and use it for this run.", self._save)
        self.save_as_button = button("Save as…", clicked=lambda: self._save(ask=True))
        self.class_name = line_edit("new class (e.g. an unseen one)", entered=self._add_class_clicked)
        self.add_class_button = button("Add class", clicked=self._add_class_clicked)
        self.remove_class_button = button(
            "Remove class", "Remove the selected class rows.", self.remove_selected_classes
        )
        self.attribute_name = line_edit("new attribute (e.g. has_tail)", entered=self._add_attribute_clicked)
        self.add_attribute_button = button("Add attribute", clicked=self._add_attribute_clicked)
        self.status = label("Open a table, start from the demo digits' one, or add classes and attributes.")
        pane(
            hbox(self.demo_button, self.open_button, self.save_button, self.save_as_button),
            self.grid,
            hbox(self.class_name, self.add_class_button, self.remove_class_button),
            hbox(self.attribute_name, self.add_attribute_button),
            self.status,
            into=self,
        )

    # ------------------------------------------------------------------ contents
    def classes(self) -> list[str]:
        return [self._text(r, 0) for r in range(self.grid.rowCount())]

    def attributes(self) -> list[str]:
        return [self._header(c) for c in range(1, self.grid.columnCount())]

    def show_table(self, table: AttributeTable) -> None:
        self.grid.blockSignals(True)
        self.grid.setRowCount(0)
        self.grid.setColumnCount(1 + len(table.attributes))
        self.grid.setHorizontalHeaderLabels(["class", *table.attributes])
        cols = list(zip(*table.values, strict=True)) if table.values else [() for _ in table.attributes]
        self.binary = [all(v in (0.0, 1.0) for v in c) for c in cols]
        for name, row in zip(table.classes, table.values, strict=True):
            self._append_row(name, row)
        self.grid.blockSignals(False)
        self.grid.resizeColumnsToContents()
        self._on_changed()

    def table(self) -> AttributeTable:
        """The grid as a checked table (UserError naming the bad cell or class)."""
        return parse_attribute_table(self.to_csv(), self.path or "the attribute table")

    def to_csv(self) -> str:
        lines = [",".join(["class", *self.attributes()])]
        for r in range(self.grid.rowCount()):
            cells = [self._text(r, 0)] + [self._value(r, c) for c in range(1, self.grid.columnCount())]
            lines.append(",".join(_quote(c) for c in cells))
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ actions
    def load(self, path: str | Path) -> bool:
        """Show the table at `path`; False (with the reason shown) when it cannot be read."""
        try:
            table = load_attribute_table(path)
        except UserError as err:
            self.status.setText(str(err))
            return False
        self.path = str(path)
        self.show_table(table)
        return True

    def load_demo(self) -> None:
        path = resource_path(DEMO_TABLE)
        if path is None:
            self.status.setText(f"{DEMO_TABLE} is not shipped with this installation.")
            return
        self.load(path)
        self.path = ""  # the shipped file is read-only: Save asks where to write the copy

    def add_class(self, name: str) -> bool:
        name = name.strip()
        if not name or name in self.classes():
            self.status.setText(f"Class '{name}' is already in the table." if name else "Type the new class's name.")
            return False
        self.grid.blockSignals(True)
        self._append_row(name, [0.0] * len(self.binary))
        self.grid.blockSignals(False)
        self.grid.scrollToBottom()
        self._on_changed()
        return True

    def add_attribute(self, name: str) -> bool:
        name = name.strip()
        if not name or name in self.attributes() or "," in name:
            self.status.setText(
                f"Attribute '{name}' is already a column (or has a comma)." if name else "Type the attribute's name."
            )
            return False
        self.grid.blockSignals(True)
        c = self.grid.columnCount()
        self.grid.insertColumn(c)
        self.grid.setHorizontalHeaderItem(c, QTableWidgetItem(name))
        self.binary.append(True)
        for r in range(self.grid.rowCount()):
            self.grid.setItem(r, c, self._cell(0.0, True))
        self.grid.blockSignals(False)
        self._on_changed()
        return True

    def remove_selected_classes(self) -> None:
        rows = sorted({i.row() for i in self.grid.selectedIndexes()}, reverse=True)
        for r in rows:
            self.grid.removeRow(r)
        self._on_changed()

    def set_value(self, class_name: str, attribute: str, value: float) -> None:
        """Tick (1) / untick (0) a binary cell, or type a number into a real one."""
        r, c = self.classes().index(class_name), 1 + self.attributes().index(attribute)
        item = self.grid.item(r, c)
        if item is None:
            return
        if self.binary[c - 1]:
            item.setCheckState(Qt.CheckState.Checked if value else Qt.CheckState.Unchecked)
        else:
            item.setText(_number_text(value))

    def save_to(self, path: str | Path) -> bool:
        """Check and write the table; False (reason shown) when it is not valid."""
        try:
            table = self.table()
            table.save(path)
        except (UserError, OSError) as err:
            self.status.setText(f"Not saved: {err}")
            return False
        self.path = str(path)
        self.status.setText(f"Saved {len(table.classes)} classes × {len(table.attributes)} attributes to {path}.")
        self.saved.emit(self.path)
        return True

    # ------------------------------------------------------------------ internals
    def _append_row(self, name: str, values: list[float]) -> None:
        r = self.grid.rowCount()
        self.grid.insertRow(r)
        item = QTableWidgetItem(name)
        item.setFlags(_EDITABLE)
        self.grid.setItem(r, 0, item)
        for c, (v, binary) in enumerate(zip(values, self.binary, strict=True), start=1):
            self.grid.setItem(r, c, self._cell(v, binary))

    @staticmethod
    def _cell(value: float, binary: bool) -> QTableWidgetItem:
        if binary:
            item = QTableWidgetItem()
            item.setFlags(_TICKABLE)
            item.setCheckState(Qt.CheckState.Checked if value else Qt.CheckState.Unchecked)
            return item
        item = QTableWidgetItem(_number_text(value))
        item.setFlags(_EDITABLE)
        return item

    def _text(self, r: int, c: int) -> str:
        item = self.grid.item(r, c)
        return item.text().strip() if item is not None else ""

    def _header(self, c: int) -> str:
        item = self.grid.horizontalHeaderItem(c)
        return item.text() if item is not None else ""

    def _value(self, r: int, c: int) -> str:
        item = self.grid.item(r, c)
        if item is None:
            return ""
        if self.binary[c - 1]:
            return "1" if item.checkState() == Qt.CheckState.Checked else "0"
        return item.text().strip()

    def _on_changed(self, *_: object) -> None:
        if self.grid.rowCount() == 0:
            return
        try:
            table = self.table()
        except UserError as err:
            self.status.setText(str(err))
            self.status.setProperty("role", "error")
            return
        self.status.setProperty("role", "")
        lines = [f"{len(table.classes)} classes × {len(table.attributes)} attributes.", *table.notes]
        self.status.setText("\n".join(lines))

    def _add_class_clicked(self) -> None:
        if self.add_class(self.class_name.text()):
            self.class_name.clear()

    def _add_attribute_clicked(self) -> None:
        if self.add_attribute(self.attribute_name.text()):
            self.attribute_name.clear()

    def _open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an attribute table", self.path, "CSV files (*.csv)")
        if path:
            self.load(path)

    def _save(self, ask: bool = False) -> None:
        path = self.path
        if ask or not path:
            path, _ = QFileDialog.getSaveFileName(self, "Save the attribute table", self.path, "CSV files (*.csv)")
        if path:
            self.save_to(path)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _quote(cell: str) -> str:
    return f'"{cell.replace(chr(34), chr(34) * 2)}"' if any(ch in cell for ch in ',"\n') else cell
