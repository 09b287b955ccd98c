"""Progress bars: drawn on a terminal, off in log files, forced by VIDSSL_PROGRESS."""
from __future__ import annotations

import io
import sys

import pytest

from vidssl.progress import bars_wanted, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "env", "enabled", "expected"),
    [
        (_Terminal(), None, True, True),
        (io.StringIO(), None, True, False),  # a log file: no bar lines
        (_Terminal(), None, False, False),  # the caller said no
        (io.StringIO(), "1", True, True),
        (_Terminal(), "0", True, False),
        (io.StringIO(), "1", False, False),  # forcing never overrides the caller
    ],
)
def test_bars_follow_the_terminal_unless_forced(monkeypatch, stream, env, enabled, expected) -> None:
    monkeypatch.setattr(sys, "stderr", stream)
    if env is None:
        monkeypatch.delenv("VIDSSL_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("VIDSSL_PROGRESS", env)
    assert bars_wanted(enabled) is expected


def test_a_disabled_bar_still_iterates_and_writes_nothing(monkeypatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.delenv("VIDSSL_PROGRESS", raising=False)
    assert list(progress_bar(range(5), desc="work", file=log)) == [0, 1, 2, 3, 4]
    assert log.getvalue() == ""
