"""CSV files a spreadsheet opens safely: every CSV the app writes goes through `write_csv_rows`.

- Commas, quotes and line breaks inside a cell (a file path, a class folder name) are quoted,
  so each value stays in its column and each record on its row.
- A text cell that starts with = + - @ (or a tab or carriage return) would be run as a formula
  by Excel, LibreOffice or Google Sheets (`=HYPERLINK(...)` in a class name, a file name, an
  error message). It is written with a leading apostrophe, which spreadsheets show as text; numbers
  are written as numbers. A class folder named `=HYPERLINK("x")` is a valid class: only its
  rendering in the CSV changes.
- File names that are not valid UTF-8 are written with U+FFFD instead of failing.
- The file is written atomically through engine.core.fsutil (a full disk raises DiskFull).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from engine.core.fsutil import atomic_write_text, display_name

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text)) and text.strip() == text
    except ValueError:
        return False


def safe_cell(value: Any) -> str | int | float:
    """The value as written: numbers unchanged, None empty, text neutralised if it could be a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return value
    text = display_name(str(value))
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The CSV document as text (minimal quoting, '\\n' line ends), every cell through safe_cell."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buf.getvalue()


def write_csv_rows(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a spreadsheet-safe CSV atomically; return its path."""
    out = Path(path)
    atomic_write_text(out, csv_text(header, rows))
    return out
