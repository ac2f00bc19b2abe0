"""Units of measure, in one place: the names answers write, their canonical unit, and the sizes that relate
units of one system (so a check can tell which factor converts minutes to hours, or metres to kilometres).

Pure data and two small functions; the step checker reads conversions with it ("60 minutes = 1 hour") and the
plausibility checks ask whether the work ever reached the unit a question asks for.
"""

from __future__ import annotations

import re
from fractions import Fraction

UNIT_SYNONYMS = {
    "s": "second", "sec": "second", "secs": "second", "second": "second", "seconds": "second",
    "min": "minute", "mins": "minute", "minute": "minute", "minutes": "minute",
    "h": "hour", "hr": "hour", "hrs": "hour", "hour": "hour", "hours": "hour", "day": "day", "days": "day",
    "week": "week", "weeks": "week", "month": "month", "months": "month", "year": "year", "years": "year",
    "mm": "mm", "millimeter": "mm", "millimeters": "mm", "cm": "cm", "centimeter": "cm", "centimeters": "cm",
    "m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m", "km": "km", "kilometer": "km",
    "kilometers": "km", "kilometre": "km", "kilometres": "km", "inch": "inch", "inches": "inch", "foot": "foot",
    "feet": "foot", "ft": "foot", "yard": "yard", "yards": "yard", "mile": "mile", "miles": "mile",
    "ml": "ml", "milliliter": "ml", "milliliters": "ml", "millilitre": "ml", "millilitres": "ml", "l": "l",
    "liter": "l", "liters": "l", "litre": "l", "litres": "l", "gallon": "gallon", "gallons": "gallon",
    "quart": "quart", "quarts": "quart", "cup": "cup", "cups": "cup", "g": "g", "gram": "g", "grams": "g",
    "kg": "kg", "kilogram": "kg", "kilograms": "kg", "lb": "pound", "lbs": "pound", "pound": "pound",
    "pounds": "pound", "oz": "ounce", "ounce": "ounce", "ounces": "ounce", "ton": "ton", "tons": "ton",
    "cent": "cent", "cents": "cent", "dollar": "dollar", "dollars": "dollar", "dozen": "dozen",
}
"""Units of measure, to their canonical name: two different ones on the sides of ``=`` make a conversion."""
MEASURE = "|".join(sorted(map(re.escape, UNIT_SYNONYMS), key=len, reverse=True))
"""A regex alternation of every unit name, longest first."""

SYSTEMS: dict[str, dict[str, Fraction]] = {
    "time": {"second": Fraction(1), "minute": Fraction(60), "hour": Fraction(3600), "day": Fraction(86400),
             "week": Fraction(604800)},
    "calendar": {"day": Fraction(1), "week": Fraction(7), "month": Fraction(30), "year": Fraction(365)},
    "metric length": {"mm": Fraction(1), "cm": Fraction(10), "m": Fraction(1000), "km": Fraction(1_000_000)},
    "imperial length": {"inch": Fraction(1), "foot": Fraction(12), "yard": Fraction(36), "mile": Fraction(63360)},
    "metric volume": {"ml": Fraction(1), "l": Fraction(1000)},
    "us volume": {"cup": Fraction(1), "quart": Fraction(4), "gallon": Fraction(16)},
    "metric mass": {"g": Fraction(1), "kg": Fraction(1000)},
    "us mass": {"ounce": Fraction(1), "pound": Fraction(16), "ton": Fraction(32000)},
    "money": {"cent": Fraction(1), "dollar": Fraction(100)},
}
"""Sizes within one system of units; "a year is 12 months" also holds (``conversion_factors`` adds it)."""
APPROXIMATE_SYSTEMS = frozenset({"calendar"})
"""Systems whose sizes are conventions ("a month is 4 weeks" and "30 days" are both written): no conversion
between their units is ever called wrong."""


def canonical_unit(word: str) -> str | None:
    """The canonical unit a word names, or None ("Minutes" -> "minute", "apples" -> None)."""
    return UNIT_SYNONYMS.get(word.lower())


def same_dimension(a: str, b: str) -> bool:
    """Two canonical units measure the same thing (one system holds both).

    >>> same_dimension("minute", "hour"), same_dimension("m", "km"), same_dimension("m", "hour")
    (True, True, False)
    """
    return any(a in sizes and b in sizes for sizes in SYSTEMS.values())


def conversion_factors(given: str, asked: str) -> set[Fraction]:
    """Every factor a solution may use on its way from ``given`` to ``asked``: the ratios between units of one
    system from the smaller of the two to the larger ("minute" -> "day": 60, 24, 1440).

    >>> sorted(conversion_factors("m", "km")), sorted(conversion_factors("week", "hour"))
    ([Fraction(1000, 1)], [Fraction(7, 1), Fraction(24, 1), Fraction(168, 1)])
    """
    factors: set[Fraction] = set()
    for sizes in SYSTEMS.values():
        if given not in sizes or asked not in sizes:
            continue
        low, high = sorted((sizes[given], sizes[asked]))
        between = sorted(v for v in sizes.values() if low <= v <= high)
        factors |= {b / a for i, a in enumerate(between) for b in between[i + 1:]}
    if {given, asked} == {"month", "year"}:
        factors.add(Fraction(12))
    return factors


def exact_ratio(a: str, b: str) -> Fraction | None:
    """How many ``b`` make one ``a``, where a system fixes it exactly; None otherwise (other kinds of thing, or
    calendar units).

    >>> exact_ratio("hour", "minute"), exact_ratio("inch", "foot"), exact_ratio("month", "day"), exact_ratio("m", "hour")
    (Fraction(60, 1), Fraction(1, 12), None, None)
    """
    for name, sizes in SYSTEMS.items():
        if name not in APPROXIMATE_SYSTEMS and a in sizes and b in sizes:
            return sizes[a] / sizes[b]
    return None
