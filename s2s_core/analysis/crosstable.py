"""Reading and validating the cross-accuracy table of Sec. 3.4 (Table 2 of the paper).

The table is a square CSV: the header row names the classifiers ``j`` (columns) and the first column
names the fine-tuned AEs ``A_i`` (rows), in the same order, so that the diagonal holds
``acc_i = acc(i∘A_i)``. Example (the paper's Table 2)::

    ,L,A,V,I,R
    A_L,0.3484,0.3077,0.0416,0.4352,0.4730
    A_A,0.0211,0.5613,0.0097,0.5375,0.0925
    ...

Row names may carry an ``A_`` prefix or not: row ``i`` matches column ``i`` when the row name equals
the column name, either as written or after removing one leading ``A_`` (``A_L`` and ``L`` both match
column ``L``). The top-left cell is ignored. Values are accuracies as fractions in [0, 1] (what ``s2s evaluate``
writes); anything else, percentages included, is refused (divide percentages by 100). Blank lines are skipped and cells are
stripped of surrounding spaces. Anything else is refused with an :class:`InputTableError` naming the
offending cell. The CLI (``s2s signal-order``) and the dashboard's CSV upload share this reader.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from s2s_core.errors import InputTableError
from s2s_core.views import AE_PREFIX

#: Optional prefix of row (AE) names: row ``A_L`` is the AE fine-tuned on classifier ``L``.


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class CrossTable:
    """A validated cross-accuracy table.

    Attributes:
        names: classifier names ``j`` (the header), length ``n``.
        ae_names: AE names ``A_i`` exactly as written in the first column, length ``n``.
        acc: ``(n, n)`` float64 array, ``acc[i, j] = acc(j∘A_i)``; the diagonal is positive.
    """

    names: list[str]
    ae_names: list[str]
    acc: np.ndarray

    @property
    def diagonal(self) -> np.ndarray:
        """``(n,)`` accuracies ``acc_i = acc(i∘A_i)``."""
        return np.diag(self.acc).copy()

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame (index: AE names, columns: classifier names)."""
        return pd.DataFrame(self.acc, index=list(self.ae_names), columns=list(self.names))

    def to_csv(self) -> str:
        """CSV text that :func:`read_cross_table` reads back to an equal table."""
        return self.to_frame().to_csv()


def classifier_of(row_name: str, column_name: str) -> bool:
    """Whether AE row ``row_name`` belongs to classifier column ``column_name`` (``A_`` prefix optional)."""
    return row_name == column_name or row_name.removeprefix(AE_PREFIX) == column_name


def read_cross_table(source: str | Path | bytes) -> CrossTable:
    """Read and validate a cross-accuracy CSV.

    Args:
        source: a :class:`~pathlib.Path`; ``bytes`` (an upload, UTF-8 with or without BOM); or a ``str``,
            taken as CSV text when it contains a line break and as a file path otherwise.

    Returns:
        The :class:`CrossTable`.

    Raises:
        InputTableError: unreadable or empty input, a table that is not square, duplicate names, a row
            name that does not match its column, or a cell that is not a number in [0, 1], or
            a zero diagonal cell; the message names the cell (row name, column name, value).
    """
    return _parse(_text_of(source))


def _text_of(source: str | Path | bytes) -> str:
    if isinstance(source, bytes | bytearray):
        try:
            return bytes(source).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputTableError(
                f"the table is not UTF-8 text (byte {exc.start}); save it as a UTF-8 CSV"
            ) from exc
    if isinstance(source, str) and ("\n" in source or "\r" in source):
        return source.removeprefix("\ufeff")
    path = Path(source)
    try:
        return _text_of(path.read_bytes())
    except FileNotFoundError as exc:
        raise InputTableError(f"no such file: {path}") from exc
    except IsADirectoryError as exc:
        raise InputTableError(f"{path} is a directory, not a CSV file") from exc
    except OSError as exc:
        raise InputTableError(f"cannot read {path}: {exc.strerror}") from exc


def _parse(text: str) -> CrossTable:
    try:
        rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    except csv.Error as exc:
        raise InputTableError(f"not a valid CSV table: {exc}") from exc
    rows = [row for row in rows if any(row)]
    if not rows:
        raise InputTableError(
            "the table is empty: expected a header row of classifier names and one row per AE"
        )
    header, body = rows[0], rows[1:]
    names = header[1:]
    n = len(names)
    if n == 0:
        raise InputTableError("the header row names no classifiers: expected ',L,A,...' (first cell empty)")
    for k, name in enumerate(names):
        if not name:
            raise InputTableError(
                f"header cell {k + 2} (column {k + 1}) is empty: every column needs a classifier name"
            )
        if name in names[:k]:
            raise InputTableError(
                f"header: classifier name {name!r} appears twice (columns {names.index(name) + 1} and {k + 1})"
            )
    if len(body) != n:
        raise InputTableError(
            f"the table is not square: {n} classifier columns but {len(body)} AE rows; "
            "row i must be the AE fine-tuned on classifier i"
        )
    ae_names: list[str] = []
    acc = np.empty((n, n), dtype=np.float64)
    for i, row in enumerate(body):
        row_name = row[0]
        if not row_name:
            raise InputTableError(f"row {i + 1} has no name in its first cell: expected e.g. A_{names[i]}")
        if row_name in ae_names:
            raise InputTableError(
                f"row {i + 1}: AE name {row_name!r} appears twice (rows {ae_names.index(row_name) + 1} and {i + 1})"
            )
        if not classifier_of(row_name, names[i]):
            raise InputTableError(
                f"row {i + 1} is named {row_name!r} but column {i + 1} is {names[i]!r}: rows and columns must list "
                f"the same classifiers in the same order (row name {names[i]!r} or {AE_PREFIX}{names[i]!r})"
            )
        if len(row) - 1 != n:
            raise InputTableError(
                f"row {row_name!r} has {len(row) - 1} values, expected {n} (one per classifier column)"
            )
        ae_names.append(row_name)
        for j, cell in enumerate(row[1:]):
            acc[i, j] = _value(cell, row_name, names[j])
    for i in range(n):
        if acc[i, i] == 0:
            raise InputTableError(
                f"cell (row {ae_names[i]!r}, column {names[i]!r}) = {body[i][i + 1]!r}: the diagonal acc(i∘A_i) "
                "must be positive because RRC divides by it"
            )
    return CrossTable(names=list(names), ae_names=ae_names, acc=acc)


def _value(cell: str, row_name: str, column_name: str) -> float:
    where = f"cell (row {row_name!r}, column {column_name!r}) = {cell!r}"
    try:
        value = float(cell)
    except ValueError:
        raise InputTableError(f"{where} is not a number") from None
    if not math.isfinite(value):
        raise InputTableError(f"{where} is not a finite number: accuracies must be finite")
    if not 0.0 <= value <= 1.0:
        hint = " (percentages? divide them by 100)" if 1.0 < value <= 100.0 else ""
        raise InputTableError(f"{where} is outside [0, 1]: accuracies are fractions{hint}")
    return value
