"""Dataset layouts -> records, the probe index, and VideoDataset's corrupt-video handling."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from videofixtures import (
    SPLIT_FILE_MAKERS,
    make_csv,
    make_folder,
    make_sthsth,
    make_ucf101,
    numbered_frames,
    write_video,
)
from vidssl.data import datasets
from vidssl.data.datasets import VideoDataset, VideoRecord, load_records
from vidssl.data.video import PyAVReader
from vidssl.errors import VidsslError

MAKERS = {**SPLIT_FILE_MAKERS, "folder": make_folder}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """Every dataset layout written once for the module (tests that modify files copy them)."""
    base = tmp_path_factory.mktemp("layouts")
    return {fmt: maker(base / fmt) for fmt, maker in MAKERS.items()}


def load(fmt, fixture, index_dir, **kwargs):
    kwargs.setdefault("annotations", fixture.annotations)
    return load_records(fmt, fixture.root, index_cache_dir=index_dir, progress=False, **kwargs)


def check_split(records, class_names, fixture, split):
    assert [(record.path, record.label) for record in records] == fixture.expected[split]
    assert class_names == fixture.class_names
    for record in records:
        assert record.num_frames == fixture.num_frames[record.path]
        assert (record.fps, record.height, record.width) == (25.0, 32, 32)


# ---------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt,split",
    [
        ("ucf101", "train"),
        ("ucf101", "test"),
        ("hmdb51", "train"),
        ("hmdb51", "test"),
        ("kinetics", "val"),
        ("sthsth", "train"),
        ("csv", "train"),
        ("folder", "train"),
    ],
)
def test_each_format_lists_right_videos_labels_and_classes(layouts, tmp_path, fmt, split):
    records, class_names = load(fmt, layouts[fmt], tmp_path, split=split)
    check_split(records, class_names, layouts[fmt], split)


def test_ucf101_labels_follow_class_index_order_not_alphabet(layouts, tmp_path):
    _, class_names = load("ucf101", layouts["ucf101"], tmp_path)
    classind = (layouts["ucf101"].annotations / "classInd.txt").read_text().split()
    assert class_names == classind[1::2] and class_names != sorted(class_names)


def test_ucf101_reads_synthmotion_mp4_layout(tmp_path):
    fixture = make_ucf101(tmp_path / "synth", classes=("Wave", "Drift"), ext=".mp4", codec="libx264")
    for split in ("train", "test"):
        records, class_names = load_records(
            "ucf101", tmp_path / "synth" / "videos", annotations=tmp_path / "synth" / "splits",
            split=split, split_id=1, index_cache_dir=tmp_path / "index", progress=False,
        )
        check_split(records, class_names, fixture, split)


def test_hmdb51_leaves_out_unused_videos(layouts, tmp_path):
    train, _ = load("hmdb51", layouts["hmdb51"], tmp_path, split="train")
    test, _ = load("hmdb51", layouts["hmdb51"], tmp_path, split="test")
    unused = {path for path, _ in layouts["hmdb51"].expected["unused"]}
    assert unused and not unused & {record.path for record in train + test}


def test_kinetics_skips_missing_videos_with_one_counting_warning(layouts, tmp_path):
    with pytest.warns(UserWarning, match=r"skipped 2 of 8 listed videos that do not exist: .*gone0_000000_000010"):
        records, class_names = load("kinetics", layouts["kinetics"], tmp_path, split="train")
    check_split(records, class_names, layouts["kinetics"], "train")
    assert any(Path(record.path).parent.name == "abseiling" for record in records)  # the label-folder variant


def test_kinetics_val_and_validate_are_the_same_split(layouts, tmp_path):
    as_val, _ = load("kinetics", layouts["kinetics"], tmp_path, split="val")
    as_validate, _ = load("kinetics", layouts["kinetics"], tmp_path, split="validate")
    assert as_val == as_validate and len(as_val) == 3


def test_sthsth_without_labels_file_uses_sorted_templates(tmp_path):
    fixture = make_sthsth(tmp_path / "ssv2", with_labels_file=False)
    records, class_names = load("sthsth", fixture, tmp_path / "index")
    check_split(records, class_names, fixture, "train")
    assert class_names == sorted(class_names)


def test_csv_with_integer_labels_and_csv_as_root(tmp_path):
    fixture = make_csv(tmp_path / "csvint", int_labels=True)
    records, class_names = load("csv", fixture, tmp_path / "index", annotations=None)
    check_split(records, class_names, fixture, "train")


def test_unlabelled_loading_gives_minus_one(layouts, tmp_path):
    records, _ = load("ucf101", layouts["ucf101"], tmp_path, labelled=False)
    assert [record.path for record in records] == [path for path, _ in layouts["ucf101"].expected["train"]]
    assert {record.label for record in records} == {-1}


def test_frame_template_controls_frame_folder_videos(tmp_path):
    fixture = make_folder(tmp_path / "pngs", template="frame_{:03d}.png")
    records, class_names = load("folder", fixture, tmp_path / "index", frame_template="frame_{:03d}.png")
    check_split(records, class_names, fixture, "train")


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def copy_annotations(fixture, tmp_path: Path) -> Path:
    target = tmp_path / "annotations"
    shutil.copytree(fixture.annotations, target)
    return target


def append_line(file: Path, line: str) -> int:
    """Append ``line``; return its 1-based line number."""
    lines = file.read_text().splitlines()
    file.write_text("\n".join(lines + [line]) + "\n")
    return len(lines) + 1


@pytest.mark.parametrize("bad_line", ["Basketball/v_x_g01_c01.avi 1 extra", "v_no_class_folder.avi 1", "A/b.avi one"])
def test_ucf101_malformed_split_line_names_file_and_line(layouts, tmp_path, bad_line):
    annotations = copy_annotations(layouts["ucf101"], tmp_path)
    line_number = append_line(annotations / "trainlist01.txt", bad_line)
    with pytest.raises(VidsslError, match=rf"trainlist01.txt:{line_number}: expected '<ClassName>/<video file>"):
        load("ucf101", layouts["ucf101"], tmp_path, annotations=annotations)


def test_ucf101_unknown_class_names_file_line_and_class(layouts, tmp_path):
    annotations = copy_annotations(layouts["ucf101"], tmp_path)
    line_number = append_line(annotations / "testlist01.txt", "Cooking/v_Cooking_g01_c01.avi")
    with pytest.raises(VidsslError, match=rf"testlist01.txt:{line_number}: class 'Cooking' is not in"):
        load("ucf101", layouts["ucf101"], tmp_path, annotations=annotations, split="test")


def test_ucf101_malformed_class_index(layouts, tmp_path):
    annotations = copy_annotations(layouts["ucf101"], tmp_path)
    line_number = append_line(annotations / "classInd.txt", "Cooking")
    with pytest.raises(VidsslError, match=rf"classInd.txt:{line_number}: expected '<1-based index> <ClassName>'"):
        load("ucf101", layouts["ucf101"], tmp_path, annotations=annotations)


def test_ucf101_missing_split_file_and_bad_split_arguments(layouts, tmp_path):
    with pytest.raises(VidsslError, match="trainlist02.txt"):
        load("ucf101", layouts["ucf101"], tmp_path, split_id=2)
    with pytest.raises(VidsslError, match="^split_id: expected one of 1, 2, 3, got"):
        load("ucf101", layouts["ucf101"], tmp_path, split_id=4)
    with pytest.raises(VidsslError, match="^split: expected one of train, test, got"):
        load("ucf101", layouts["ucf101"], tmp_path, split="val")


def test_hmdb51_malformed_flag_names_file_and_line(layouts, tmp_path):
    annotations = copy_annotations(layouts["hmdb51"], tmp_path)
    line_number = append_line(annotations / "clap_test_split1.txt", "clap_extra.avi 3")
    with pytest.raises(VidsslError, match=rf"clap_test_split1.txt:{line_number}: expected '<video file> <0\|1\|2>'"):
        load("hmdb51", layouts["hmdb51"], tmp_path, annotations=annotations)


def test_kinetics_bad_csv_header_and_time(layouts, tmp_path):
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("label,youtube_id,start,end,split\n")
    with pytest.raises(VidsslError, match=r"header.csv:1: header lacks time_start, time_end"):
        load("kinetics", layouts["kinetics"], tmp_path, annotations=bad_header)
    bad_time = tmp_path / "time.csv"
    bad_time.write_text("label,youtube_id,time_start,time_end,split\njuggling balls,abc,ten,20,train\n")
    with pytest.raises(VidsslError, match=r"time.csv:2: time_start must be a whole number"):
        load("kinetics", layouts["kinetics"], tmp_path, annotations=bad_time)


def test_missing_paths_and_unknown_format(layouts, tmp_path):
    with pytest.raises(VidsslError, match=r"nowhere: dataset root does not exist"):
        load_records("folder", tmp_path / "nowhere", index_cache_dir=tmp_path, progress=False)
    with pytest.raises(VidsslError, match=r"no_splits: annotation path does not exist"):
        load("ucf101", layouts["ucf101"], tmp_path, annotations=tmp_path / "no_splits")
    with pytest.raises(VidsslError, match="needs annotations="):
        load("hmdb51", layouts["hmdb51"], tmp_path, annotations=None)
    with pytest.raises(VidsslError, match="expected one of folder, ucf101"):
        load_records("imagenet", tmp_path, index_cache_dir=tmp_path, progress=False)


def test_no_videos_names_root_and_split(layouts, tmp_path):
    empty_root = tmp_path / "empty_root"
    empty_root.mkdir()
    with pytest.warns(UserWarning, match="do not exist"):
        with pytest.raises(VidsslError, match=rf"split 'test' .*{empty_root}"):
            load_records("ucf101", empty_root, annotations=layouts["ucf101"].annotations, split="test",
                         index_cache_dir=tmp_path, progress=False)


# ---------------------------------------------------------------------------
# Probe index
# ---------------------------------------------------------------------------


def forbid_probing(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("probed although the index holds the answer")

    monkeypatch.setattr(datasets, "probe", fail)
    monkeypatch.setattr(datasets, "probe_frames", fail)


def test_second_load_uses_index_instead_of_probing(layouts, tmp_path, monkeypatch):
    first = load("folder", layouts["folder"], tmp_path)  # has video files and a frame folder
    forbid_probing(monkeypatch)
    assert load("folder", layouts["folder"], tmp_path) == first


def test_changed_file_is_probed_again(tmp_path, monkeypatch):
    fixture = make_csv(tmp_path / "data")
    first, _ = load("csv", fixture, tmp_path / "index")
    changed = first[2].path
    write_video(changed, numbered_frames(21))
    probed = []
    real_probe = datasets.probe
    monkeypatch.setattr(datasets, "probe", lambda path: probed.append(path) or real_probe(path))
    second, _ = load("csv", fixture, tmp_path / "index")
    assert probed == [changed]
    assert second[2].num_frames == 21 and second[:2] == first[:2] and second[3:] == first[3:]


def test_index_location_follows_environment_variable(layouts, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSSL_CACHE", str(tmp_path / "cache_home"))
    load_records("csv", layouts["csv"].root, progress=False)
    assert len(list((tmp_path / "cache_home" / "index").glob("*.json"))) == 1


def test_unprobeable_files_are_skipped_with_one_warning_even_from_the_index(tmp_path, monkeypatch):
    fixture = make_csv(tmp_path / "data")
    broken = [Path(path) for path, _ in fixture.expected["train"][:2]]
    for path in broken:
        path.write_bytes(b"garbage" * 100)
    for _attempt in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            records, _ = load("csv", fixture, tmp_path / "index")
        messages = [str(warning.message) for warning in caught]
        assert len(messages) == 1 and "skipped 2 of 6 videos that failed to probe" in messages[0]
        assert str(broken[0]) in messages[0]
        assert [record.path for record in records] == [path for path, _ in fixture.expected["train"][2:]]
        forbid_probing(monkeypatch)  # the second round must come from the index, failures included


# ---------------------------------------------------------------------------
# VideoDataset
# ---------------------------------------------------------------------------


def two_frame_sampler(record, reader, rng):
    """Reads frames 0 and 1 and reports one draw from the rng it was given."""
    return {"frames": torch.from_numpy(reader.read(record.path, [0, 1])), "draw": int(rng.integers(1 << 30))}


def expected_draw(seed, epoch, index):
    return int(np.random.default_rng([seed, epoch, index]).integers(1 << 30))


@pytest.fixture
def csv_records(tmp_path):
    fixture = make_csv(tmp_path / "data")
    records, _ = load("csv", fixture, tmp_path / "index")
    return records


def test_dataset_sample_fields_and_rng_stream(csv_records):
    dataset = VideoDataset(csv_records, PyAVReader(), two_frame_sampler, seed=7)
    sample = dataset[3]
    assert sample["label"].dtype == torch.long and int(sample["label"]) == csv_records[3].label
    assert sample["video_index"].dtype == torch.long and int(sample["video_index"]) == 3
    assert sample["skipped"] == 0 and sample["frames"].shape == (2, 32, 32, 3)
    assert sample["draw"] == expected_draw(7, 0, 3)
    dataset.set_epoch(4)
    assert dataset[3]["draw"] == expected_draw(7, 4, 3)
    assert len(dataset) == len(csv_records)


def test_dataset_replaces_corrupt_video_by_the_next_and_counts_it(csv_records, tmp_path):
    bad = VideoRecord(str(tmp_path / "broken.mp4"), 2, 10, 25.0, 32, 32)
    Path(bad.path).write_bytes(b"\x00" * 512)
    records = csv_records[:2] + [bad] + csv_records[2:]
    dataset = VideoDataset(records, PyAVReader(), two_frame_sampler, seed=1)
    with pytest.warns(UserWarning, match="broken.mp4"):
        sample = dataset[2]
    assert sample["skipped"] == 1 and int(sample["video_index"]) == 3
    assert int(sample["label"]) == records[3].label
    assert sample["draw"] == expected_draw(1, 0, 2)  # still sample 2's rng stream
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per path: no second warning
        assert dataset[2]["skipped"] == 1


def test_dataset_wraps_around_after_last_video(csv_records, tmp_path):
    bad = VideoRecord(str(tmp_path / "missing.mp4"), 0, 10, 25.0, 32, 32)
    dataset = VideoDataset(csv_records + [bad], PyAVReader(), two_frame_sampler)
    with pytest.warns(UserWarning, match="missing.mp4"):
        sample = dataset[len(csv_records)]
    assert int(sample["video_index"]) == 0 and sample["skipped"] == 1


def test_dataset_raises_when_every_video_is_corrupt(tmp_path):
    records = [VideoRecord(str(tmp_path / f"gone{i}.mp4"), 0, 10, 25.0, 32, 32) for i in range(3)]
    dataset = VideoDataset(records, PyAVReader(), two_frame_sampler)
    with pytest.warns(UserWarning):
        with pytest.raises(VidsslError, match="every video failed to decode"):
            dataset[1]


def test_dataset_lets_other_errors_through(csv_records):
    def broken_sampler(record, reader, rng):
        raise ValueError("sampler bug")

    with pytest.raises(ValueError, match="sampler bug"):
        VideoDataset(csv_records, PyAVReader(), broken_sampler)[0]
