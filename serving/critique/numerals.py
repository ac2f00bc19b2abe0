"""How a number is written, in the patterns every checker reads them with (one place, so they cannot drift)."""

from __future__ import annotations

import re

NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
"""A plain numeral: "12", "1.50" (no sign, no thousands separator)."""
QUANTITY_RE = re.compile(r"(\d+(?:\.\d+)?)(\s*%)?")
"""A numeral and, in group 2, the percent sign that makes it a share ("25%" is 0.25)."""
CLOCK_RE = re.compile(r"\b\d{1,2}:\d{2}\b")
"""A clock time, "9:30": two numbers that are no quantities."""
CARDINALS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
             "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20}
"""Numbers written as English words ("three boxes")."""
