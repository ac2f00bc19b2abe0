"""A markdown table's rows read as the arithmetic they show.

Some writers lay the work out as a table, a column of calculations beside a column of results::

    | Part   | Calculation | Square feet |
    | Wall   | 12 × 9      | 108         |
    | Window | 4 × 3       | −12         |

No row writes "=", so the step checker saw no step and every number looked unused. Here each cell that computes
(numbers joined by operators) and is followed by a cell holding one number becomes the equation "12 × 9 = 108",
on its own line after the row. A sign before the result marks the row's part in a ledger (the window is taken
away), not a negative product, so it is dropped.
"""

from __future__ import annotations

import re

_ROW_RE = re.compile(r"^[ \t]*\|(.+)\|[ \t]*$", re.MULTILINE)
_AMOUNT = r"[$]?\d[\d,]*(?:\.\d+)?(?:[ \t]*[A-Za-z]+\.?)?"
_COMPUTES_RE = re.compile(rf"{_AMOUNT}(?:[ \t]*[-+*/×÷·−x][ \t]*\(?{_AMOUNT}\)?)+")
_RESULT_RE = re.compile(r"[-−+]?[ \t]*\**[ \t]*[$]?(\d[\d,]*(?:\.\d+)?)[ \t]*\**(?:[ \t]*[A-Za-z][A-Za-z .]*)?")


def tables_as_equations(text: str) -> str:
    """``text`` with each table row that shows a calculation and its result followed by that equation.

    >>> print(tables_as_equations("| Wall | 12 × 9 | 108 |\\n| Window | 4 × 3 | −12 |\\n| Label | 5 packs | 3 |"))
    | Wall | 12 × 9 | 108 |
    12 × 9 = 108
    | Window | 4 × 3 | −12 |
    4 × 3 = 12
    | Label | 5 packs | 3 |
    """
    if "|" not in text:
        return text

    def read(row: re.Match[str]) -> str:
        cells = [cell.strip() for cell in row.group(1).split("|")]
        found = [f"{calc} = {result.group(1)}" for calc, value in zip(cells, cells[1:])
                 if "=" not in calc and _COMPUTES_RE.fullmatch(calc) and (result := _RESULT_RE.fullmatch(value))]
        return "\n".join([row.group(0), *found])

    return _ROW_RE.sub(read, text)
