"""Split-file entries stay inside the dataset root; split labels agree with classInd; short videos are reported."""

from __future__ import annotations

import csv
import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

from videofixtures import SPLIT_FILE_MAKERS
from vidssl.data import datasets
from vidssl.data.datasets import VideoRecord, load_records
from vidssl.errors import VidsslError

MAKERS = SPLIT_FILE_MAKERS
KINETICS_TAIL = "_000000_000010.mp4"  # kinetics appends this to the youtube_id of a row
FIRST_CLASS = {"ucf101": "Basketball", "hmdb51": "run"}  # class 1 in classInd.txt / class of run_test_split1.txt
# File name of the test video per format (a name the format's entries can point at).
VIDEO_NAME = {"ucf101": "v.avi", "hmdb51": "v.avi", "kinetics": f"v{KINETICS_TAIL}", "sthsth": "v.webm", "csv": "v.mp4"}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    base = tmp_path_factory.mktemp("path-layouts")
    return {fmt: maker(base / fmt) for fmt, maker in MAKERS.items()}


@pytest.fixture
def copy_layout(layouts, tmp_path):
    """A private copy of a layout under ``tmp_path/layout`` (tests append entries to its split files)."""

    def copy(fmt):
        fixture = layouts[fmt]
        source = fixture.root.parent
        shutil.copytree(source, tmp_path / "layout")

        def moved(path):
            return str((tmp_path / "layout" / Path(path).relative_to(source.resolve())).resolve())

        root = tmp_path / "layout" / fixture.root.relative_to(source)
        annotations = tmp_path / "layout" / fixture.annotations.relative_to(source)
        expected = sorted((moved(path), label) for path, label in fixture.expected["train"])
        return root, annotations, expected, Path(fixture.expected["train"][0][0])

    return copy


def joined_to(fmt, root: Path) -> Path:
    """The folder a split entry of ``fmt`` is joined to."""
    if fmt in ("ucf101", "hmdb51"):
        return root / FIRST_CLASS[fmt]
    return root.parent if fmt == "csv" else root


def entry_naming(fmt, root: Path, target: Path, *, absolute: bool) -> str:
    """The split-file entry that names ``target`` by a relative path (with ``..`` if outside) or absolutely."""
    text = str(target) if absolute else os.path.relpath(target, joined_to(fmt, root))
    if fmt == "ucf101" and not absolute:
        text = f"{FIRST_CLASS[fmt]}/{text}"
    if fmt == "kinetics":
        text = text[: -len(KINETICS_TAIL)]
    if fmt == "sthsth":
        text = text[: -len(".webm")]
    return text


def append_entry(fmt, root: Path, annotations: Path, entry: str) -> None:
    """Add one training entry to the split file of ``fmt`` (label: the first class / a valid template)."""
    if fmt == "ucf101":
        with open(annotations / "trainlist01.txt", "a") as handle:
            handle.write(f"{entry} 1\n")
    elif fmt == "hmdb51":
        with open(annotations / "run_test_split1.txt", "a") as handle:
            handle.write(f"{entry} 1 \n")
    elif fmt == "kinetics":
        with open(annotations, "a", newline="") as handle:
            csv.writer(handle).writerow(["abseiling", entry, 0, 10, "train"])
    elif fmt == "sthsth":
        entries = json.loads(annotations.read_text())
        entries.append({"id": entry, "template": entries[0]["template"]})
        annotations.write_text(json.dumps(entries))
    else:
        with open(annotations, "a", newline="") as handle:
            csv.writer(handle).writerow([entry, "walk"])


def load(fmt, root, annotations, tmp_path):
    return load_records(fmt, root, annotations=annotations, index_cache_dir=tmp_path / "index", progress=False)


def messages(caught) -> list[str]:
    return [str(warning.message) for warning in caught]


@pytest.mark.parametrize("fmt", sorted(MAKERS))
@pytest.mark.parametrize("absolute", [False, True], ids=["dotdot", "absolute"])
def test_entry_leaving_the_root_is_refused_with_a_counted_warning(copy_layout, tmp_path, fmt, absolute):
    root, annotations, expected, a_video = copy_layout(fmt)
    outside = tmp_path / "outside" / VIDEO_NAME[fmt]
    outside.parent.mkdir()
    shutil.copy(a_video, outside)
    append_entry(fmt, root, annotations, entry_naming(fmt, root, outside, absolute=absolute))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records, _ = load(fmt, root, annotations, tmp_path)
    assert str(outside.resolve()) not in {record.path for record in records}
    assert [(record.path, record.label) for record in records] == expected
    refused = [text for text in messages(caught) if "leaves the dataset root" in text]
    assert len(refused) == 1, messages(caught)
    assert refused[0].startswith(f"{fmt}: refused 1 of ")
    assert str(outside) in refused[0]


@pytest.mark.parametrize("fmt", sorted(MAKERS))
def test_symlink_inside_the_root_to_a_video_elsewhere_is_allowed(copy_layout, tmp_path, fmt):
    root, annotations, expected, a_video = copy_layout(fmt)
    outside = tmp_path / "other_disk" / VIDEO_NAME[fmt]
    outside.parent.mkdir()
    shutil.copy(a_video, outside)
    link = joined_to(fmt, root) / f"link_{VIDEO_NAME[fmt]}"
    link.symlink_to(outside)
    append_entry(fmt, root, annotations, entry_naming(fmt, root, link, absolute=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records, _ = load(fmt, root, annotations, tmp_path)
    assert str(outside.resolve()) in {record.path for record in records}
    assert len(records) == len(expected) + 1
    assert not [text for text in messages(caught) if "leaves the dataset root" in text]


def test_non_video_outside_the_root_is_never_opened(copy_layout, tmp_path):
    root, annotations, expected, _ = copy_layout("ucf101")
    secret = tmp_path / "secret.avi"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    append_entry("ucf101", root, annotations, entry_naming("ucf101", root, secret, absolute=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records, _ = load("ucf101", root, annotations, tmp_path)
    assert [(record.path, record.label) for record in records] == expected
    assert not [text for text in messages(caught) if "failed to probe" in text], messages(caught)
    assert [text for text in messages(caught) if "leaves the dataset root" in text and str(secret) in text]


def test_entry_that_goes_up_and_back_inside_the_root_is_kept(copy_layout, tmp_path):
    root, annotations, expected, _ = copy_layout("hmdb51")
    target = root / "clap" / "clap_clip_u_nm_np1_fr_goo_3.avi"  # unused (flag 0) in clap's own split file
    append_entry("hmdb51", root, annotations, "../clap/clap_clip_u_nm_np1_fr_goo_3.avi")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records, _ = load("hmdb51", root, annotations, tmp_path)
    assert (str(target.resolve()), 2) in [(record.path, record.label) for record in records]
    assert not [text for text in messages(caught) if "leaves the dataset root" in text]


def test_refused_entries_are_listed_only_first_few(copy_layout, tmp_path):
    root, annotations, _, _ = copy_layout("csv")
    for number in range(5):
        append_entry("csv", root, annotations, f"../../escape{number}.mp4")
    with pytest.warns(UserWarning, match=r"csv: refused 5 of 11 listed videos .*escape0\.mp4.*, \.\.\.$"):
        load("csv", root, annotations, tmp_path)


# ---------------------------------------------------------------------------
# UCF101 split labels must agree with classInd.txt
# ---------------------------------------------------------------------------


def test_ucf101_split_label_disagreeing_with_class_index_names_file_line_and_both_labels(copy_layout, tmp_path):
    root, annotations, _, _ = copy_layout("ucf101")
    split_file = annotations / "trainlist01.txt"
    lines = split_file.read_text().splitlines()
    wrong = next(number for number, line in enumerate(lines) if line.startswith("ApplyEyeMakeup/"))
    lines[wrong] = lines[wrong].rsplit(" ", 1)[0] + " 3"  # ApplyEyeMakeup is class 2 in classInd.txt
    split_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(VidsslError) as err:
        load("ucf101", root, annotations, tmp_path)
    message = str(err.value)
    assert message.startswith(f"{split_file}:{wrong + 1}: ")
    assert "label 3" in message and "ApplyEyeMakeup is 2" in message and "classInd.txt" in message


def test_ucf101_split_labels_agreeing_with_class_index_load(copy_layout, tmp_path):
    root, annotations, expected, _ = copy_layout("ucf101")
    records, _ = load("ucf101", root, annotations, tmp_path)
    assert [(record.path, record.label) for record in records] == expected


# ---------------------------------------------------------------------------
# Videos shorter than a clip
# ---------------------------------------------------------------------------


def record(path: str, num_frames: int) -> VideoRecord:
    return VideoRecord(path, 0, num_frames, 25.0, 32, 32)


def test_short_videos_give_one_warning_with_their_count():
    records = [record("a", 4), record("b", 20), record("c", 7), record("d", 8)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        datasets.warn_short_videos(records, clip_frames=8)
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "2 of 4 videos" in text and "8 frames" in text and "looped" in text


def test_clamp_rule_is_named_instead_of_looping():
    with pytest.warns(UserWarning, match="last frame"):
        datasets.warn_short_videos([record("a", 4)], clip_frames=8, short_video="clamp")


def test_no_warning_when_every_video_holds_a_clip():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        datasets.warn_short_videos([record("a", 8), record("b", 30)], clip_frames=8)
