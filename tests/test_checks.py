"""vidssl.checks: each check returns what it accepts and words what it refuses; config_keys re-keys."""
from __future__ import annotations

import math
import pickle
import re

import numpy as np
import pytest

from vidssl.checks import (
    ArgumentError,
    check_choice,
    check_int_at_least,
    check_int_range_pair,
    check_non_negative,
    check_number_in,
    check_positive,
    check_positive_int,
    check_probability,
    check_range_pair,
    config_key,
    config_keys,
    is_finite_number,
    is_int_at_least,
    is_integer,
    is_non_negative,
    is_number,
    is_positive,
    is_positive_int,
    is_probability,
)
from vidssl.errors import VidsslError


def refused(check, *args, message: str, **kwargs) -> ArgumentError:
    """Call ``check``; it must raise an ArgumentError whose message is exactly ``message``."""
    with pytest.raises(ArgumentError, match=f"^{re.escape(message)}$") as info:
        check(*args, **kwargs)
    return info.value


# --------------------------------------------------------------------------- the error


def test_argument_error_keeps_its_parts_and_is_a_vidssl_and_value_error():
    err = ArgumentError("order_weight", "expected a number >= 0, got -1")
    assert str(err) == "order_weight: expected a number >= 0, got -1"
    assert (err.parameter, err.detail) == ("order_weight", "expected a number >= 0, got -1")
    assert isinstance(err, VidsslError) and isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert (type(copy), str(copy), copy.parameter, copy.detail) == (ArgumentError, str(err), err.parameter, err.detail)


# --------------------------------------------------------------------------- predicates


def test_predicates_take_numpy_scalars_but_never_bools():
    for value in (3, np.int64(3), np.uint8(3)):
        assert is_integer(value) and is_positive_int(value) and is_int_at_least(value, 3)
    for value in (True, False, 3.0, "3", None, [3]):
        assert not is_integer(value)
    assert not is_positive_int(0) and not is_int_at_least(2, 3)
    for value in (0, 2.5, np.float32(0.5), np.int16(1), -math.inf):
        assert is_number(value)
    for value in (True, "1", None, 1j, [1.0]):
        assert not is_number(value)
    assert is_finite_number(1e300) and not is_finite_number(math.inf) and not is_finite_number(math.nan)
    assert is_positive(1e-9) and not is_positive(0) and not is_positive(math.nan) and is_positive(math.inf)
    assert is_non_negative(0) and not is_non_negative(-1e-9) and not is_non_negative(math.nan)
    assert is_probability(0) and is_probability(1.0) and not is_probability(1.01) and not is_probability(True)


# --------------------------------------------------------------------------- checks


def test_integer_checks_return_plain_ints():
    assert check_int_at_least("num_clips", 2, 2) == 2
    value = check_int_at_least("interval", np.int64(0), 0)
    assert value == 0 and type(value) is int
    assert type(check_positive_int("clip_len", np.int32(16))) is int
    refused(check_int_at_least, "num_clips", 1, 2, message="num_clips: expected an integer >= 2, got 1")
    refused(check_int_at_least, "dim", 4.0, 1, message="dim: expected an integer >= 1, got 4.0")
    refused(check_positive_int, "clip_len", 0, message="clip_len: expected a positive integer, got 0")
    refused(check_positive_int, "clip_len", True, message="clip_len: expected a positive integer, got True")
    refused(check_positive_int, "clip_len", "16", message="clip_len: expected a positive integer, got '16'")


def test_positive_and_non_negative_return_floats():
    value = check_positive("margin", 2)
    assert value == 2.0 and type(value) is float
    assert check_positive("lr", math.inf) == math.inf
    assert check_positive("width", 0.25, finite=True) == 0.25
    refused(check_positive, "margin", 0, message="margin: expected a number > 0, got 0")
    refused(check_positive, "lr", math.nan, message="lr: expected a number > 0, got nan")
    refused(check_positive, "width", math.inf, finite=True, message="width: expected a finite number > 0, got inf")
    assert check_non_negative("order_weight", 0) == 0.0
    assert check_non_negative("eps", math.inf) == math.inf
    refused(check_non_negative, "order_weight", -1, message="order_weight: expected a number >= 0, got -1")
    refused(check_non_negative, "order_weight", None, message="order_weight: expected a number >= 0, got None")
    refused(check_non_negative, "eps", math.inf, finite=True, message="eps: expected a finite number >= 0, got inf")


def test_number_in_closed_and_half_open_intervals():
    assert check_number_in("momentum", 1, 0, 1) == 1.0
    assert check_number_in("hue", 0.5, 0, 0.5) == 0.5
    assert check_number_in("dropout", 0.0, 0, 1, high_open=True) == 0.0
    refused(check_number_in, "momentum", 1.5, 0, 1, message="momentum: expected a number in [0, 1], got 1.5")
    refused(check_number_in, "dropout", 1.0, 0, 1, high_open=True,
            message="dropout: expected a number in [0, 1), got 1.0")
    refused(check_number_in, "hue", "x", 0, 0.5, message="hue: expected a number in [0, 0.5], got 'x'")
    refused(check_number_in, "dropout", math.nan, 0, 1, message="dropout: expected a number in [0, 1], got nan")


def test_probability():
    assert check_probability("flip_p", 1) == 1.0 and type(check_probability("flip_p", 1)) is float
    assert check_probability("flip_p", np.float32(0.25)) == 0.25
    refused(check_probability, "flip_p", 1.5, message="flip_p: expected a probability in [0, 1], got 1.5")
    refused(check_probability, "flip_p", -0.1, message="flip_p: expected a probability in [0, 1], got -0.1")


def test_choice_returns_the_value_and_lists_the_choices():
    assert check_choice("short_video", "clamp", ("loop", "clamp")) == "clamp"
    assert check_choice("split_id", 2, (1, 2, 3)) == 2
    refused(check_choice, "short_video", "wrap", ("loop", "clamp"),
            message="short_video: expected one of loop, clamp, got 'wrap'")
    refused(check_choice, "split_id", 4, (1, 2, 3), message="split_id: expected one of 1, 2, 3, got 4")


def test_range_pairs():
    assert check_range_pair("jitter", (0.8, 1.2)) == (0.8, 1.2)
    assert check_range_pair("scale", [1, 1], at_most=1) == (1.0, 1.0)
    refused(check_range_pair, "jitter", (1.2, 0.8),
            message="jitter: expected (low, high) with 0 < low <= high, got (1.2, 0.8)")
    refused(check_range_pair, "jitter", (0, 1), message="jitter: expected (low, high) with 0 < low <= high, got (0, 1)")
    refused(check_range_pair, "scale", (0.5, 1.5), at_most=1,
            message="scale: expected (low, high) with 0 < low <= high <= 1, got (0.5, 1.5)")
    for bad in (None, 1.0, (1.0,), (1.0, 2.0, 3.0), "ab", ("a", "b")):
        refused(check_range_pair, "ratio", bad,
                message=f"ratio: expected (low, high) with 0 < low <= high, got {bad!r}")
    low, high = check_int_range_pair("rate_range", np.array([1, 8]))
    assert (low, high) == (1, 8) and type(low) is int and type(high) is int
    assert check_int_range_pair("rate_range", (0, 0), minimum=0) == (0, 0)
    for bad in ((0, 4), (4, 2), (1.0, 2), [1], None):
        refused(check_int_range_pair, "rate_range", bad,
                message=f"rate_range: expected integers (low, high) with 1 <= low <= high, got {bad!r}")


# --------------------------------------------------------------------------- config_keys


def test_config_key_rule():
    assert config_key("method", "order_weight") == "method.order_weight"
    assert config_key("method", "tuple_len", {"tuple_len": "num_clips"}) == "method.num_clips"
    assert config_key("method", "clip_len", {"clip_len": "clip.frames"}) == "clip.frames"
    assert config_key("", "mode") == "mode"


def test_config_keys_names_the_key_without_renames():
    with pytest.raises(VidsslError) as info:
        with config_keys("method"):
            check_non_negative("order_weight", -1)
    err = info.value
    assert str(err) == "method.order_weight: expected a number >= 0, got -1"
    assert not isinstance(err, ArgumentError)  # re-keyed once: an outer config_keys leaves it alone
    assert err.__cause__ is None and err.__suppress_context__


def test_config_keys_with_renames_within_the_section_and_full_keys():
    renames = {"tuple_len": "num_clips", "clip_len": "clip.frames"}
    with pytest.raises(VidsslError, match=r"^method\.num_clips: expected an integer >= 2, got 1$"):
        with config_keys("method", renames):
            check_int_at_least("tuple_len", 1, 2)
    with pytest.raises(VidsslError, match=r"^clip\.frames: expected a positive integer, got 0$"):
        with config_keys("method", renames):
            check_positive_int("clip_len", 0)
    with pytest.raises(VidsslError, match=r"^method\.margin: expected a number > 0, got 0$"):  # not renamed
        with config_keys("method", renames):
            check_positive("margin", 0)


def test_config_keys_lets_other_errors_and_results_through():
    with config_keys("method"):
        value = check_positive_int("num_clips", 3)
    assert value == 3
    plain = VidsslError("a video failed to decode")
    with pytest.raises(VidsslError) as info:
        with config_keys("method"):
            raise plain
    assert info.value is plain
    with pytest.raises(KeyError):
        with config_keys("method"):
            {}["missing"]
