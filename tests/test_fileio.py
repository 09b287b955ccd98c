"""Atomic writes: the target holds the old content or the new, never a partial file."""
import json

import pytest

from vidssl.fileio import atomic_write, write_json_atomic, write_text_atomic


def test_new_content_replaces_old_and_no_temp_file_is_left(tmp_path):
    target = tmp_path / "sub" / "r.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2}, indent=2)
    assert json.loads(target.read_text()) == {"a": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["r.json"]


def test_an_error_mid_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "report.md"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half of the new conte")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
