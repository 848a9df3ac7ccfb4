"""A spec problem: the field it concerns and the message for it. Every kind's validation returns these, and the
runtime's invalid-spec reporter names the field from them (event + ``SpecValid`` condition)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ValidationProblem:
    """One invalid field: where it is and KubeRay's message for it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
