"""Golden snapshot switch: ``pytest tests/golden --update-golden`` (or ``RAYOP_UPDATE_GOLDEN=1``) rewrites them."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/snapshots from the current builders instead of comparing",
    )


@pytest.fixture()
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when snapshots should be rewritten; the option is only known when tests/golden is on the command line."""
    try:
        option = bool(request.config.getoption("--update-golden"))
    except ValueError:
        option = False
    return option or os.environ.get("RAYOP_UPDATE_GOLDEN") == "1"
