"""Tables as strings: aligned plain text for terminals and logs, Markdown for READMEs and reports.

Both take a header and rows of cells (anything ``str()`` turns into text); the first column is left-aligned
(names), the others right-aligned (numbers).

    >>> print(text_table(("model", "hit@1"), [("c3d", "59.3"), ("slow_fusion", "41.9")]))
    model        hit@1
    -----------  -----
    c3d           59.3
    slow_fusion   41.9
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["markdown_table", "text_table"]


def _cells(header: Sequence[object], rows: Sequence[Sequence[object]]) -> list[list[str]]:
    """Header and rows as strings, every row as long as the header."""
    table = [[str(c) for c in header]]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(
                f"row {i} has {len(row)} cells but the header has {len(header)} columns: "
                f"give every row one cell per column (an empty string for a blank cell)"
            )
        table.append([str(c) for c in row])
    return table


def _aligned(row: list[str], widths: list[int]) -> list[str]:
    """Cells padded to their column's width: the first left-aligned, the others right-aligned."""
    return [c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True))]


def text_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """Columns separated by two spaces, padded to their widest cell, and a rule of dashes under the header.

    The first column is left-aligned, the others right-aligned. No trailing newline.
    """
    table = _cells(header, rows)
    widths = [max(len(c) for c in col) for col in zip(*table, strict=True)]
    lines = ["  ".join(_aligned(row, widths)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table, padded so that it also reads well as plain text.

    The first column is left-aligned (``:---``), the others right-aligned (``---:``). A ``|`` inside a cell is
    escaped as ``\\|`` and a newline becomes a space. No trailing newline.
    """
    table = [[c.replace("|", "\\|").replace("\n", " ") for c in row] for row in _cells(header, rows)]
    widths = [max(3, *(len(c) for c in col)) for col in zip(*table, strict=True)]
    rule = [":" + "-" * (w - 1) if j == 0 else "-" * (w - 1) + ":" for j, w in enumerate(widths)]
    lines = ["| " + " | ".join(_aligned(row, widths)) + " |" for row in table]
    lines.insert(1, "| " + " | ".join(rule) + " |")
    return "\n".join(lines)
