"""What a check reports: AWS's refusal of one value, worded as AWS words it, with its page."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from turbine_dev.aws_rules.rendered import RenderedStack


@dataclasses.dataclass(frozen=True)
class Refusal:
    check: str  # the check's function name, so a test can ask for one
    where: str  # template path, logical id and property, or the request's field
    message: str  # as AWS answers, or the page's own sentence where AWS's reply is not documented
    page: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} ({self.page})"


Check = Callable[[RenderedStack], Iterable[Refusal]]


def validation_error(value: object, member: str, constraint: str) -> str:
    """The wording of AWS's request validation (the JSON and query protocols alike)."""
    detected = f"1 validation error detected: Value '{value}' at '{member}'"
    return f"{detected} failed to satisfy constraint: {constraint}"


def out_of_range(value: int, member: str, low: int, high: int) -> str | None:
    if value < low:
        return validation_error(value, member, f"Member must have value greater than or equal to {low}")
    if value > high:
        return validation_error(value, member, f"Member must have value less than or equal to {high}")
    return None
