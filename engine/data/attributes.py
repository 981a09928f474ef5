"""Class-attribute tables for zero-shot learning: read, check, write.

A table is a CSV file: a header row `class,<attribute>,<attribute>,...`, then one row per class
with one number per attribute (binary 0/1 or real). It lists the seen classes (those with images)
and the unseen ones (known only by their attributes); zero-shot methods recognise the unseen
classes through the attributes they share with the seen ones, as speech recognisers reach unheard
words through phonemes.

Torch-free (plain lists), so the window's table editor reads and writes the same files.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.errors import UserError
from engine.core.fsutil import atomic_write_text

MAX_ROWS = 10_000  # classes; a table beyond this is almost surely not a class-attribute table


@dataclass
class AttributeTable:
    """`values[i][j]`: attribute `attributes[j]` of class `classes[i]`."""

    classes: list[str]
    attributes: list[str]
    values: list[list[float]]
    path: str = ""
    notes: list[str] = field(default_factory=list)  # warnings found while reading (the caller shows them)

    @property
    def binary(self) -> bool:
        return all(v in (0.0, 1.0) for row in self.values for v in row)

    def row(self, name: str) -> list[float]:
        return self.values[self.classes.index(name)]

    def scaled(self) -> list[list[float]]:
        """Every attribute min-max scaled to [0, 1] over the classes (binary tables are unchanged):
        DAP reads a value as the probability that the class has the attribute."""
        cols = list(zip(*self.values, strict=True)) if self.values else []
        lows = [min(c) for c in cols]
        spans = [(max(c) - min(c)) or 1.0 for c in cols]
        return [[(v - lo) / s for v, lo, s in zip(row, lows, spans, strict=True)] for row in self.values]

    def identical_rows(self) -> list[list[str]]:
        """Groups of classes with the same attribute values: a zero-shot model cannot tell them apart."""
        groups: dict[tuple[float, ...], list[str]] = {}
        for name, row in zip(self.classes, self.values, strict=True):
            groups.setdefault(tuple(row), []).append(name)
        return [g for g in groups.values() if len(g) > 1]

    def missing(self, classes: list[str]) -> list[str]:
        have = set(self.classes)
        return [c for c in classes if c not in have]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["class", *self.attributes])
        for name, row in zip(self.classes, self.values, strict=True):
            writer.writerow([name, *(_format(v) for v in row)])
        return out.getvalue()

    def save(self, path: str | Path) -> None:
        """Write the table as CSV (atomically: a crash leaves the old file or the new one)."""
        atomic_write_text(Path(path), self.to_csv())


def _format(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _number(text: str, where: str) -> float:
    try:
        v = float(text.strip())
    except ValueError:
        shown = text if text.strip() else "an empty cell"
        raise UserError(f"{where}: '{shown}' is not a number. Write 0/1 or a real value in every cell.") from None
    if not math.isfinite(v):
        raise UserError(f"{where}: '{text}' is not a finite number. Write 0/1 or a real value in every cell.")
    return v


def parse_attribute_table(text: str, path: str = "attribute table") -> AttributeTable:
    """Check and read a table from CSV text. Errors (UserError) name the line, class and column;
    redundant columns (constant, or a copy of another) are dropped with a note in `notes`."""
    rows = [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise UserError(
            f"{path}: needs a header row (class, then one column per attribute) and at least one class row."
        )
    header = [h.strip() for h in rows[0]]
    attributes = header[1:]
    if not attributes:
        raise UserError(f"{path}: the header has no attribute columns. Write: class,<attribute>,<attribute>,...")
    for j, name in enumerate(attributes):
        if not name:
            raise UserError(f"{path}: column {j + 2} of the header has no name. Name every attribute column.")
    dup_names = sorted({a for a in attributes if attributes.count(a) > 1})
    if dup_names:
        raise UserError(
            f"{path}: attribute columns named more than once: {', '.join(dup_names)}. Rename or remove them."
        )
    if len(rows) - 1 > MAX_ROWS:
        raise UserError(f"{path}: {len(rows) - 1} rows; at most {MAX_ROWS} classes are supported.")
    classes: list[str] = []
    values: list[list[float]] = []
    for line, r in enumerate(rows[1:], start=2):
        name = r[0].strip()
        if not name:
            raise UserError(f"{path}, line {line}: the class name is empty. Put the class name in the first column.")
        if name in classes:
            raise UserError(f"{path}, line {line}: class '{name}' is listed twice. Keep one row per class.")
        cells = r[1:]
        if len(cells) != len(attributes):
            raise UserError(
                f"{path}, line {line} (class '{name}'): {len(cells)} values for {len(attributes)} attributes. "
                "Give one value per attribute column."
            )
        values.append(
            [
                _number(c, f"{path}, line {line}, class '{name}', attribute '{a}'")
                for c, a in zip(cells, attributes, strict=True)
            ]
        )
        classes.append(name)
    table = AttributeTable(classes, attributes, values, path)
    _drop_redundant(table)
    return table


def _drop_redundant(table: AttributeTable) -> None:
    """Drop constant attributes (they tell no class from another) and copies of an earlier
    column (they would count twice in DAP's product), saying which."""
    keep: list[int] = []
    seen_cols: dict[tuple[float, ...], str] = {}
    for j, name in enumerate(table.attributes):
        col = tuple(row[j] for row in table.values)
        if len(table.classes) > 1 and len(set(col)) == 1:
            table.notes.append(f"attribute '{name}' has the same value ({_format(col[0])}) for every class: ignored.")
        elif col in seen_cols:
            table.notes.append(f"attribute '{name}' duplicates attribute '{seen_cols[col]}' in every row: ignored.")
        else:
            seen_cols[col] = name
            keep.append(j)
    if not keep:
        raise UserError(
            f"{table.path}: no attribute tells two classes apart (every column is constant). "
            "Give the classes different attribute values."
        )
    table.attributes = [table.attributes[j] for j in keep]
    table.values = [[row[j] for j in keep] for row in table.values]
    for group in table.identical_rows():
        table.notes.append(
            f"classes {', '.join(group)} have identical attribute rows: a zero-shot model cannot tell them apart. "
            "Add an attribute that differs between them."
        )


def load_attribute_table(path: str | Path) -> AttributeTable:
    """Read and check the CSV file at `path` (see `parse_attribute_table`)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UserError(f"attribute table {p}: is a folder. Give a CSV file (class, then one column per attribute).")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(
            f"attribute table {p}: no such file. Give a CSV file (class, then one column per attribute)."
        ) from None
    except UnicodeDecodeError:
        raise UserError(f"attribute table {p}: is not UTF-8 text. Save it as a UTF-8 CSV file.") from None
    except OSError as err:
        raise UserError(f"attribute table {p}: cannot be read ({err.strerror or err}).") from None
    return parse_attribute_table(text, str(p))


def check_covers(table: AttributeTable, folder_classes: list[str], folder: str) -> list[str]:
    """UserError when the table lacks a class of the image folder; the unseen classes otherwise."""
    missing = table.missing(folder_classes)
    if missing:
        raise UserError(
            f"attribute table {table.path}: has no row for the classes {', '.join(missing)} of the images in "
            f"{folder}. Add a row of attributes for each of them."
        )
    return [c for c in table.classes if c not in set(folder_classes)]
