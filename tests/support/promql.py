"""Which metric names a PromQL expression reads, and which ones a ``/metrics`` page exports (for the dashboard check).

Good enough for the dashboard's own queries (aggregations, rate, histogram_quantile, arithmetic); not a PromQL parser.
"""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
             "summary": ("_sum", "_count", "_created"), "gauge": ("",), "info": ("_info",)}


def metric_names(expr: str) -> set[str]:
    """The series names an expression selects (identifiers that are neither functions, keywords nor labels)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals (label values)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # grouping labels
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end():].lstrip()
        if match.group() in _KEYWORDS or rest.startswith("("):
            continue
        names.add(match.group())
    return names


def exported_names(exposition: str) -> set[str]:
    """Every sample name a scrape of this page can yield, including families with no series yet (a labelled gauge
    before its first object), which the page announces with ``# TYPE``."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names
