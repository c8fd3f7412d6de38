"""A dashboard table as CSV or XLSX. Amounts are yuan with two decimals; a CSV cell that a
spreadsheet would read as a formula (starting with =, +, -, @, a tab or a carriage return) is
neutralised with a leading apostrophe."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from openpyxl import Workbook

from bot.dashboard.pages import Cell, Table

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def as_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read Chinese right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_text(h) for h in table.headers])
    for row in table.rows:
        writer.writerow([safe_text(cell) for cell in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def as_xlsx(table: Table) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = table.key[:31]
    sheet.append([str(h) for h in table.headers])
    for row in table.rows:
        sheet.append(list(row))
        # Text is always text in XLSX, never a formula: each cell is told its type.
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, Decimal):
                cell.number_format = "0.00"
            elif isinstance(cell.value, str):
                cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
