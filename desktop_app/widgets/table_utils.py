"""Small helpers for read-only result tables: number formatting and numerically sorted cells."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeGuard

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

DASH = "–"
ERROR_COLOUR = QColor(200, 40, 40)


def is_number(value: Any) -> TypeGuard[float]:
    """True for a finite int or float (NaN and None show as a dash)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt_percent(value: Any, digits: int = 1) -> str:
    """0.912 -> '91.2%'; missing or NaN -> a dash."""
    return f"{100 * value:.{digits}f}%" if is_number(value) else DASH


def fmt_number(value: Any, digits: int = 3) -> str:
    """A float with `digits` decimals (ints as they are); missing or NaN -> a dash."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}f}" if is_number(value) else DASH


class SortItem(QTableWidgetItem):
    """A cell that shows `text` but sorts by `key` (numbers before dashes, then by text)."""

    def __init__(self, text: str, key: Any = None) -> None:
        super().__init__(text)
        self.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
        self._key = key if key is not None else text

    def sort_key(self) -> tuple[int, Any]:
        if is_number(self._key):
            return (0, float(self._key))
        return (1, str(self._key).lower())

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, SortItem):
            a, b = self.sort_key(), other.sort_key()
            if a[0] != b[0]:
                return a[0] < b[0]
            return a[1] < b[1]
        return super().__lt__(other)


def make_table(
    headers: Sequence[str],
    parent: QWidget | None = None,
    *,
    multi: bool = False,
    sort_column: int | None = None,
    descending: bool = False,
) -> QTableWidget:
    """A read-only, row-selecting table; with `sort_column`, sortable and first sorted by that column."""
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(
        QAbstractItemView.SelectionMode.ExtendedSelection if multi else QAbstractItemView.SelectionMode.SingleSelection
    )
    table.verticalHeader().setVisible(False)
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.resizeColumnsToContents()
    if sort_column is not None:
        order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
        table.horizontalHeader().setSortIndicator(sort_column, order)
        table.setSortingEnabled(True)
    return table


def fill_table(table: QTableWidget, rows: Sequence[Sequence[SortItem | str]]) -> None:
    """Replace the table's rows; sorting is paused while filling so rows stay whole."""
    sorting = table.isSortingEnabled()
    table.setSortingEnabled(False)
    table.clearContents()
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            table.setItem(r, c, cell if isinstance(cell, QTableWidgetItem) else SortItem(str(cell)))
    table.setSortingEnabled(sorting)
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)


def mark_error(table: QTableWidget, row: int) -> None:
    """Paint a row's text red (a file that could not be processed)."""
    for c in range(table.columnCount()):
        item = table.item(row, c)
        if item is not None:
            item.setForeground(ERROR_COLOUR)


def cell_text(table: QTableWidget, row: int, column: int) -> str:
    """The text of one cell; a cell with no item reads as ''."""
    item = table.item(row, column)
    return item.text() if item is not None else ""


def cell_data(table: QTableWidget, row: int, column: int, role: Qt.ItemDataRole = Qt.ItemDataRole.UserRole) -> Any:
    """The data a cell holds for `role` (the run folder of a runs-table row); None with no item."""
    item = table.item(row, column)
    return item.data(role) if item is not None else None


def column_texts(table: QTableWidget, column: int) -> list[str]:
    """The texts of one column in display order (used by tests and copy actions)."""
    return [cell_text(table, r, column) for r in range(table.rowCount())]
