"""Argument checks shared by the whole library: one home, one wording per check.

A library function or constructor checks its arguments with the ``check_*``
functions below, and its error names the *Python parameter*, never a config
key: ``order_weight: expected a number >= 0, got -1``. The library knows
nothing of config files. The config layer builds objects from config sections
inside :func:`config_keys`, which turns the parameter into the key the user
wrote: ``method.order_weight: expected a number >= 0, got -1``.

Every ``check_*`` returns the value it checked (as a plain ``int`` or
``float`` where it checks a number), so a constructor reads::

    self.margin = check_positive("margin", margin)

The ``is_*`` predicates answer the same questions without raising, for code
that words its own error (the config schema, a check of several arguments).

Integers are ``int`` or NumPy integers, numbers are any real number
(``numbers.Integral`` / ``numbers.Real``, which NumPy's scalars register
with); ``bool`` is neither, so ``True`` is never taken for 1 clip.
"""
from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from vidssl.errors import VidsslError

__all__ = [
    "ArgumentError",
    "check_choice",
    "check_int_at_least",
    "check_int_range_pair",
    "check_non_negative",
    "check_number_in",
    "check_positive",
    "check_positive_int",
    "check_probability",
    "check_range_pair",
    "config_key",
    "config_keys",
    "is_finite_number",
    "is_int_at_least",
    "is_integer",
    "is_non_negative",
    "is_number",
    "is_positive",
    "is_positive_int",
    "is_probability",
]


class ArgumentError(VidsslError, ValueError):
    """A bad argument to a library function or constructor: ``<parameter>: <detail>``.

    ``parameter`` is the Python parameter's name and ``detail`` the rest of the
    message, so the config layer can put the config key in front instead
    (:func:`config_keys`). Also a ``ValueError``, as Python's own bad-value errors.
    """

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter
        self.detail = detail

    def __reduce__(self) -> tuple:  # pickled by its two parts (DataLoader workers, process pools)
        return type(self), (self.parameter, self.detail)


# --------------------------------------------------------------------------- predicates


def is_integer(value: Any) -> bool:
    """An ``int`` or NumPy integer, not a ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_int_at_least(value: Any, minimum: int) -> bool:
    """An integer (:func:`is_integer`) >= ``minimum``."""
    return is_integer(value) and value >= minimum


def is_positive_int(value: Any) -> bool:
    """An integer (:func:`is_integer`) >= 1."""
    return is_int_at_least(value, 1)


def is_number(value: Any) -> bool:
    """A real number (int, float or NumPy scalar), not a ``bool``; NaN and infinities included."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """A real number (:func:`is_number`) that is neither NaN nor infinite."""
    return is_number(value) and math.isfinite(value)


def is_positive(value: Any) -> bool:
    """A number > 0 (NaN is not)."""
    return is_number(value) and value > 0


def is_non_negative(value: Any) -> bool:
    """A number >= 0 (NaN is not)."""
    return is_number(value) and value >= 0


def is_probability(value: Any) -> bool:
    """A number in [0, 1]."""
    return is_number(value) and 0 <= value <= 1


# --------------------------------------------------------------------------- config sections


def check_fields(section: Any, where: str, rules: Sequence[tuple[str, Callable[[Any], bool], str]]) -> None:
    """Raise ``VidsslError("<where>.<name>=<value>: expected <what>")`` for the first field of a config
    ``section`` whose rule fails (``where`` is the section's dotted key; a tuple is shown as the YAML list)."""
    for name, rule, expected in rules:
        value = getattr(section, name)
        if not rule(value):
            shown = list(value) if isinstance(value, tuple) else value
            raise VidsslError(f"{where + '.' if where else ''}{name}={shown}: expected {expected}")


# --------------------------------------------------------------------------- checks


def check_int_at_least(name: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer >= ``minimum``."""
    if not is_int_at_least(value, minimum):
        raise ArgumentError(name, f"expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` if it is an integer >= 1 (a count, a size, a frame interval)."""
    if not is_positive_int(value):
        raise ArgumentError(name, f"expected a positive integer, got {value!r}")
    return int(value)


def check_positive(name: str, value: Any, *, finite: bool = False) -> float:
    """``value`` as a ``float`` if it is a number > 0 (and not infinite, with ``finite``)."""
    if not is_positive(value) or (finite and not math.isfinite(value)):
        raise ArgumentError(name, f"expected a {'finite ' if finite else ''}number > 0, got {value!r}")
    return float(value)


def check_non_negative(name: str, value: Any, *, finite: bool = False) -> float:
    """``value`` as a ``float`` if it is a number >= 0 (and not infinite, with ``finite``): a loss weight λ,
    a margin."""
    if not is_non_negative(value) or (finite and not math.isfinite(value)):
        raise ArgumentError(name, f"expected a {'finite ' if finite else ''}number >= 0, got {value!r}")
    return float(value)


def check_number_in(name: str, value: Any, low: float, high: float, *, high_open: bool = False) -> float:
    """``value`` as a ``float`` if it lies in [low, high] — or in [low, high) with ``high_open``."""
    inside = is_number(value) and low <= value and (value < high if high_open else value <= high)
    if not inside:
        interval = f"[{low}, {high}{')' if high_open else ']'}"
        raise ArgumentError(name, f"expected a number in {interval}, got {value!r}")
    return float(value)


def check_probability(name: str, value: Any) -> float:
    """``value`` as a ``float`` if it is a probability: a number in [0, 1]."""
    if not is_probability(value):
        raise ArgumentError(name, f"expected a probability in [0, 1], got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices`` (a mode, a rule, a kind of head)."""
    if value not in choices:
        raise ArgumentError(name, f"expected one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def check_range_pair(name: str, value: Any, *, at_most: float | None = None) -> tuple[float, float]:
    """``(low, high)`` as floats if ``value`` is two numbers with 0 < low <= high (<= ``at_most`` when given):
    the range a random factor is drawn from (a crop scale, an aspect ratio, a jitter)."""
    bounds = f"0 < low <= high{'' if at_most is None else f' <= {at_most}'}"
    pair = _two_numbers(value)
    if pair is None or not 0 < pair[0] <= pair[1] or (at_most is not None and not pair[1] <= at_most):
        raise ArgumentError(name, f"expected (low, high) with {bounds}, got {value!r}")
    return float(pair[0]), float(pair[1])


def check_int_range_pair(name: str, value: Any, *, minimum: int = 1) -> tuple[int, int]:
    """``(low, high)`` as ints if ``value`` is two integers with minimum <= low <= high (a range of rates)."""
    pair = _two_numbers(value)
    if pair is None or not all(map(is_integer, pair)) or not minimum <= pair[0] <= pair[1]:
        raise ArgumentError(name, f"expected integers (low, high) with {minimum} <= low <= high, got {value!r}")
    return int(pair[0]), int(pair[1])


def _two_numbers(value: Any) -> tuple[Any, Any] | None:
    """``value``'s two items if it is a pair of numbers (not a string), else None."""
    if isinstance(value, (str, bytes)):
        return None
    try:
        low, high = value
    except (TypeError, ValueError):
        return None
    return (low, high) if is_number(low) and is_number(high) else None


# --------------------------------------------------------------------------- the config layer


def config_key(section: str, parameter: str, renames: Mapping[str, str] | None = None) -> str:
    """The config key of a Python ``parameter`` built from config ``section``; see :func:`config_keys`."""
    key = (renames or {}).get(parameter, parameter)
    return key if "." in key or not section else f"{section}.{key}"


@contextlib.contextmanager
def config_keys(section: str, renames: Mapping[str, str] | None = None) -> Iterator[None]:
    """Re-key the :class:`ArgumentError` of objects built from config ``section`` by their config key.

    Inside the block, an ``ArgumentError`` for Python parameter ``p`` becomes a
    ``VidsslError("<key>: <detail>")`` (raised ``from None``: no chained
    traceback) where the key is:

    - ``renames[p]`` when it contains a dot: a full key, for a parameter fed
      from another section (``{"clip_len": "clip.frames"}`` -> ``clip.frames``);
    - ``f"{section}.{renames[p]}"`` otherwise: the key's name within
      ``section`` (``{"tuple_len": "num_clips"}`` -> ``method.num_clips``);
    - ``f"{section}.{p}"`` when ``p`` is not in ``renames``.

    Any other exception passes through unchanged. Example::

        with config_keys("method", {"tuple_len": "num_clips", "clip_len": "clip.frames"}):
            sampler = VCOPSampler(clip_len=cfg.clip.frames, tuple_len=cfg.method.num_clips)
        # num_clips: 9 -> "method.num_clips: expected a VCOP tuple of 2 to 5 clips, got 9"
        # frames: 0    -> "clip.frames: expected an integer >= 1, got 0"
    """
    try:
        yield
    except ArgumentError as err:
        raise VidsslError(f"{config_key(section, err.parameter, renames)}: {err.detail}") from None
