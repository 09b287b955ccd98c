"""Argument checks the method constructors share: each names the config key in its one-line error."""
from __future__ import annotations

from vidssl.errors import VidsslError


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise VidsslError(f"{key}: expected one of {choices}, got {value!r}")
    return value


def check_weight(key: str, value: float) -> float:
    """A loss weight λ: a number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise VidsslError(f"{key}: expected a number >= 0, got {value!r}")
    return float(value)


def check_probability(key: str, value: float) -> float:
    """A number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise VidsslError(f"{key}: expected a probability in [0, 1], got {value!r}")
    return float(value)
