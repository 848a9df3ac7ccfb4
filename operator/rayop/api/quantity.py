"""Kubernetes resource quantities (``"500m"``, ``"1Gi"``, ``"40G"``), exact arithmetic with Fractions.

KubeRay derives ``ray start`` flags and status totals from quantities with Go's ``resource.Quantity``; the
helpers here reproduce the parts that are observable: ``Value()`` rounds up to an integer,
``AsApproximateFloat64`` and the canonical string form used when totals are printed.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
#: The pattern Kubernetes' own OpenAPI puts on every ``resource.Quantity`` (checked at admission, copied into
#: rayop's CRDs). It is looser than the parser below (which follows ``resource.ParseQuantity``): admission only
#: rules out what is plainly not a quantity, the parser decides the value.
QUANTITY_SCHEMA_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|"
    r"(\.[0-9]+))))?$"
)
_QUANTITY_RE = re.compile(
    r"^(?P<sign>[+-]?)(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<bin>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exp>[eE][+-]?[0-9]+)|(?P<dec>[numkMGTPE]?))$"
)


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: str | int | float) -> Fraction:
    """The exact value of a quantity; raises :class:`QuantityError` when it does not parse."""
    if isinstance(value, bool):
        raise QuantityError(f"quantities must match the regular expression: {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value)
    match = _QUANTITY_RE.match(value.strip())
    if match is None:
        raise QuantityError(f"quantities must match the regular expression: {value!r}")
    number = Fraction(match["num"])
    if match["bin"]:
        number *= _BINARY[match["bin"]]
    elif match["exp"]:
        number *= Fraction(10) ** int(match["exp"][1:])
    else:
        number *= _DECIMAL[match["dec"] or ""]
    return -number if match["sign"] == "-" else number


def is_binary(value: str | int | float) -> bool:
    """Whether a quantity is written with a binary (``Ki``..``Ei``) suffix."""
    return isinstance(value, str) and any(value.strip().endswith(s) for s in _BINARY)


def quantity_value(value: str | int | float) -> int:
    """Go's ``Quantity.Value()``: the value rounded up to an integer."""
    return math.ceil(parse_quantity(value))


def quantity_float(value: str | int | float) -> float:
    """Go's ``Quantity.AsApproximateFloat64()``."""
    return float(parse_quantity(value))


def format_quantity(value: Fraction, binary: bool = False) -> str:
    """Canonical string of a quantity, in the style of Go's ``Quantity.String()``.

    Binary format is used only for whole numbers of at least 1Ki that are multiples of 1024; everything else
    uses the largest decimal suffix that keeps the value an integer (down to ``m``; smaller values round up
    to ``m``).
    """
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if binary and value.denominator == 1 and value >= 1024:
        for suffix, factor in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
            if value % factor == 0:
                return f"{sign}{value // factor}{suffix}"
    if binary and value.denominator == 1:
        return f"{sign}{value.numerator}"
    for suffix in ("E", "P", "T", "G", "M", "k", ""):
        scaled = value / _DECIMAL[suffix]
        if scaled.denominator == 1:
            return f"{sign}{scaled.numerator}{suffix}"
    milli = math.ceil(value * 1000)
    return f"{sign}{milli}m"
