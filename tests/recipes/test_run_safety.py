"""Never lose a run: a new run never replaces an old one, a failed resume changes nothing on disk, a resume
needs a run, a full disk keeps the last good checkpoint, killed writes leave no temporary behind, and run
files get the usual permissions."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from videofixtures import TINY_RUN_OVERRIDES as TINY
from videofixtures import make_ucf101
from vidssl.cli.main import main
from vidssl.engine import run_folder
from vidssl.engine.checkpoint import state_dict_mismatch
from vidssl.errors import OutputError
from vidssl.fileio import (
    atomic_write,
    is_stale_temporary,
    remove_stale_temporaries,
    temporary_name,
    write_text_atomic,
)


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return make_ucf101(tmp_path_factory.mktemp("ucf"))


def pretrain_args(ucf, run, *extra):
    data = ["data.format=ucf101", f"data.root={ucf.root}", f"data.annotations={ucf.annotations}",
            "data.cache_short_side=0"]
    return ["pretrain", "quickstart", *data, *TINY, *extra, "--out", str(run)]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes): what 'nothing on disk changed' compares."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[-1], lines[-1]
    return lines[-1]


@pytest.fixture(scope="module")
def finished_run(ucf, tmp_path_factory):
    """A finished one-epoch run, copied fresh for each test that may damage it."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(pretrain_args(ucf, run)) == 0
    return run


@pytest.fixture
def run(finished_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


# ------------------------------------------------------------------ 1: no new run over an old one ---

def test_a_new_run_over_a_finished_run_is_refused_and_nothing_changes(ucf, run, capsys):
    before = snapshot(run)
    code = main(pretrain_args(ucf, run, "train.lr=0.05"))
    line = one_line_error(code, capsys.readouterr().err, str(run), "already holds a run", "--resume", "--force")
    assert "resume=True" not in line
    assert snapshot(run) == before  # metrics.csv, config.yaml, last.pt and backbone.pt untouched


def test_force_moves_the_old_run_aside_and_starts_anew(ucf, run, capsys):
    before = snapshot(run)
    code = main(pretrain_args(ucf, run, "train.lr=0.05", "--force"))
    out = capsys.readouterr().out
    assert code == 0
    moved = [p for p in run.parent.iterdir() if p.name.startswith("run.old-")]
    assert len(moved) == 1 and f"moved the previous run in {run} to {moved[0]}" in out
    assert snapshot(moved[0]) == before  # the old run, byte for byte
    assert "lr: 0.05" in (run / "config.yaml").read_text()
    assert (run / "backbone.pt").is_file()


def test_resume_and_force_together_are_refused(ucf, run, capsys):
    one_line_error(main(pretrain_args(ucf, run, "--resume", "--force")), capsys.readouterr().err, "--resume", "--force")


def test_move_aside_never_reuses_a_name(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "config.yaml").write_text(folder.name)
    when = time.time()
    moved_first = run_folder.move_aside(first, now=when)
    second.rename(first)  # a second run in the same folder, moved aside in the same second
    moved_second = run_folder.move_aside(first, now=when)
    assert moved_first != moved_second and moved_second.name.endswith("-2")
    assert (moved_first / "config.yaml").read_text() == "a" and (moved_second / "config.yaml").read_text() == "b"


# ------------------------------------------------------------------ 2: a failed resume changes nothing ---

def other_model_checkpoint(ucf, tmp_path):
    """``last.pt`` of the same config at another width: a checkpoint of another model."""
    other = tmp_path / "other"
    assert main(pretrain_args(ucf, other, "model.width=0.5")) == 0
    return (other / "checkpoints" / "last.pt").read_bytes()


@pytest.mark.parametrize("damage, overrides, needles", [
    ("garbage_checkpoint", [], ["last.pt", "corrupt"]),
    ("truncated_checkpoint", [], ["last.pt", "corrupt"]),
    ("other_model_checkpoint", [], ["last.pt", "does not match this model", "shape mismatch"]),
    ("dict_without_model", [], ["last.pt", "no model weights"]),
    (None, ["model.modality=rgb"], ["--resume with a different config", "model.modality 'rgbdiff' -> 'rgb'"]),
    (None, ["model.width=0.5"], ["model.width None -> 0.5"]),
    (None, ["method.transforms=[1x,2x,4x]"], ["method.transforms"]),
    (None, ["clip.frames=8"], ["clip.frames 4 -> 8"]),
    (None, ["method.name=vcop"], ["method.name 'transrank' -> 'vcop'"]),
    (None, ["model.backbone=r3d_18"], ["model.backbone 'tiny' -> 'r3d_18'"]),
])
def test_a_failed_resume_changes_nothing_on_disk(ucf, run, tmp_path, capsys, damage, overrides, needles):
    last = run / "checkpoints" / "last.pt"
    if damage == "garbage_checkpoint":
        last.write_bytes(b"not a checkpoint at all")
    elif damage == "truncated_checkpoint":
        last.write_bytes(last.read_bytes()[:1000])
    elif damage == "other_model_checkpoint":
        last.write_bytes(other_model_checkpoint(ucf, tmp_path))
    elif damage == "dict_without_model":
        torch.save({"epoch": 1}, last)
    before = snapshot(run)
    code = main(pretrain_args(ucf, run, *overrides, "--resume"))
    one_line_error(code, capsys.readouterr().err, *needles)
    assert snapshot(run) == before


def test_resume_may_extend_the_epochs_and_change_workers_and_logging(ucf, run, capsys):
    code = main(pretrain_args(ucf, run, "train.epochs=2", "train.log_every=1", "eval.num_clips=3", "--resume"))
    assert code == 0, capsys.readouterr().err
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert "epochs: 2" in (run / "config.yaml").read_text()


def test_config_changes_names_only_what_may_not_change():
    saved = {"model": {"width": None, "modality": "rgbdiff"}, "train": {"epochs": 1, "lr": 0.1, "workers": 2},
             "eval": {"num_clips": 10}, "clip": {"ratio": (0.75, 1.33)}}
    new = {"model": {"width": 0.5, "modality": "rgbdiff"}, "train": {"epochs": 9, "lr": 0.1, "workers": 0},
           "eval": {"num_clips": 2}, "clip": {"ratio": [0.75, 1.33]}}
    assert run_folder.config_changes(saved, new) == [("model.width", None, 0.5)]
    new["train"]["lr"] = 0.2
    assert [key for key, _, _ in run_folder.config_changes(saved, new)] == ["model.width", "train.lr"]


# ------------------------------------------------------------------ 3: resume needs a run ---

def test_resume_where_there_is_no_run_is_an_error(ucf, tmp_path, capsys):
    typo = tmp_path / "rnu"
    code = main(pretrain_args(ucf, typo, "--resume"))
    one_line_error(code, capsys.readouterr().err, str(typo), "no run to resume", "drop --resume")
    assert not typo.exists()


def test_resume_of_a_run_stopped_in_its_first_epoch_starts_it(ucf, tmp_path, capsys):
    started = tmp_path / "started"
    started.mkdir()
    assert main(pretrain_args(ucf, tmp_path / "donor")) == 0
    (started / "config.yaml").write_bytes((tmp_path / "donor" / "config.yaml").read_bytes())
    assert main(pretrain_args(ucf, started, "--resume")) == 0
    assert "no checkpoint yet" in capsys.readouterr().out
    assert (started / "checkpoints" / "last.pt").is_file()


# ------------------------------------------------------------------ 4: a full disk keeps the last checkpoint ---

def test_a_full_disk_while_checkpointing_keeps_the_last_good_checkpoint(ucf, tmp_path, capsys, monkeypatch):
    import vidssl.engine.checkpoint as checkpoint

    real_save = torch.save
    calls = []

    def save_until_the_disk_is_full(obj, handle, *args, **kwargs):
        calls.append(1)
        if len(calls) >= 2:  # epoch 1's checkpoint fits, epoch 2's does not
            raise OSError(28, "No space left on device")
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save_until_the_disk_is_full)
    run = tmp_path / "run"
    code = main(pretrain_args(ucf, run, "train.epochs=3"))
    one_line_error(code, capsys.readouterr().err, "cannot write", "last.pt", "No space left on device",
                   "the last good checkpoint", "1 epochs", "--resume")
    monkeypatch.undo()
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 1
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt"]  # no temporary left
    assert main(pretrain_args(ucf, run, "train.epochs=3", "--resume")) == 0  # and the run continues from it


# ------------------------------------------------------------------ 5: killed writes leave no temporary ---

KILLED_WRITER = """
import sys, time
from vidssl.fileio import atomic_write
with atomic_write(sys.argv[1], "wb") as handle:
    handle.write(b"x" * 1_000_000)
    handle.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def kill_a_writer_mid_write(target: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()


def test_a_write_killed_midway_leaves_a_temporary_that_the_next_write_there_removes(tmp_path):
    target = tmp_path / "last.pt"
    kill_a_writer_mid_write(target)
    left = [p for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].name.startswith(".last.pt.") and left[0].stat().st_size == 1_000_000
    assert is_stale_temporary(left[0])
    (tmp_path / ".hidden-notes.txt").write_text("a user's file")
    write_text_atomic(tmp_path / "metrics.csv", "epoch\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden-notes.txt", "metrics.csv"]


def test_live_writers_temporaries_are_kept(tmp_path):
    live = tmp_path / temporary_name("features.npy").replace(f".{os.getpid()}.", f".{os.getppid()}.")
    live.write_bytes(b"in progress")
    mine = tmp_path / temporary_name("other.npy")
    mine.write_bytes(b"this process")
    assert remove_stale_temporaries(tmp_path) == []
    assert live.exists() and mine.exists()


def test_another_hosts_temporary_is_removed_only_when_a_day_old(tmp_path):
    stale = tmp_path / ".x.npy.otherhost.123.0123abcd.vidssl-tmp"
    stale.write_bytes(b"")
    assert not is_stale_temporary(stale)
    assert is_stale_temporary(stale, now=time.time() + 2 * 24 * 3600)


def test_a_killed_pretraining_leaves_no_temporary_after_its_resume(ucf, run, capsys):
    kill_a_writer_mid_write(run / "checkpoints" / "last.pt")
    assert len(list((run / "checkpoints").iterdir())) == 2
    assert main(pretrain_args(ucf, run, "train.epochs=2", "--resume")) == 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt"]


# ------------------------------------------------------------------ 13: the usual permissions ---

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_files_get_the_process_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "config.yaml", "a: 1\n")
        with atomic_write(tmp_path / "last.pt", "wb") as handle:
            handle.write(b"\0")
    finally:
        os.umask(previous)
    assert (tmp_path / "config.yaml").stat().st_mode & 0o777 == mode
    assert (tmp_path / "last.pt").stat().st_mode & 0o777 == mode


# ------------------------------------------------------------------ 4: OS errors on output ---

def test_an_os_error_while_writing_keeps_the_old_file_and_names_the_path(tmp_path):
    target = tmp_path / "r.json"
    write_text_atomic(target, "old")
    with pytest.raises(OutputError, match=rf"cannot write {target}: No space left on device"):
        with atomic_write(target) as handle:
            handle.write("new")
            raise OSError(28, "No space left on device")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


# ------------------------------------------------------------------ 12: model/checkpoint mismatch ---

def test_state_dict_mismatch_names_the_first_missing_unexpected_and_misshaped_keys():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    state = model.state_dict()
    assert state_dict_mismatch(model, state) is None
    state["1.weight"] = torch.zeros(1, 4)
    del state["0.bias"]
    state["head.weight"] = torch.zeros(1)
    text = state_dict_mismatch(model, state)
    assert "1 missing keys: 0.bias" in text
    assert "1 unexpected keys: head.weight" in text
    assert "1.weight (1, 4) vs (1, 3)" in text


# ------------------------------------------------------------------ resume edge cases found by a sweep ---

def test_resume_without_config_yaml_is_refused_since_nothing_can_be_checked(ucf, run, capsys):
    (run / "config.yaml").unlink()
    before = snapshot(run)
    code = main(pretrain_args(ucf, run, "model.modality=rgb", "clip.frames=8", "--resume"))
    one_line_error(code, capsys.readouterr().err, "config.yaml is missing", "--force")
    assert snapshot(run) == before


def test_resume_of_a_finished_run_without_its_checkpoint_is_refused(ucf, run, capsys):
    (run / "checkpoints" / "last.pt").unlink()
    before = snapshot(run)
    code = main(pretrain_args(ucf, run, "--resume"))
    one_line_error(code, capsys.readouterr().err, "no checkpoints/last.pt to resume from", "backbone.pt", "--force")
    assert snapshot(run) == before  # backbone.pt and metrics.csv are not retrained over


def test_resume_cannot_shorten_a_run(ucf, run, capsys):
    assert main(pretrain_args(ucf, run, "train.epochs=2", "--resume")) == 0
    before = snapshot(run)
    code = main(pretrain_args(ucf, run, "train.epochs=1", "--resume"))
    one_line_error(code, capsys.readouterr().err, "train.epochs=1", "already holds 2 epochs")
    assert snapshot(run) == before


@pytest.mark.parametrize("override, needle", [
    ("train.batch_size=0", "train.batch_size=0: expected a positive integer"),
    ("train.lr=-1", "train.lr=-1.0: expected a positive learning rate"),
    ("train.optimizer=adamm", "train.optimizer"),
    ("train.schedule=cosin", "train.schedule='cosin'"),
    ("train.warmup_epochs=5", "train.warmup_epochs=5.0: expected <= train.epochs=1"),
])
def test_bad_train_values_stop_before_the_run_folder_exists(ucf, tmp_path, capsys, override, needle):
    code = main(pretrain_args(ucf, tmp_path / "run", override))
    one_line_error(code, capsys.readouterr().err, needle)
    assert not (tmp_path / "run").exists()  # so the corrected command is not refused as "already holds a run"


def test_a_failed_start_leaves_no_empty_run_folder(ucf, tmp_path, capsys):
    code = main(["pretrain", "quickstart", "data.format=ucf101", f"data.root={tmp_path / 'nope'}",
                 f"data.annotations={ucf.annotations}", *TINY, "--out", str(tmp_path / "run")])
    one_line_error(code, capsys.readouterr().err, "nope")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ one run object for eval, embed and export ---

def fake_run_folder(folder: Path, *, backbone: bool = True) -> Path:
    """A folder with the files a run folder holds (their content is not read here)."""
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "config.yaml").write_text("model: {backbone: tiny}\n")
    (folder / "checkpoints" / "last.pt").write_bytes(b"")
    if backbone:
        (folder / "backbone.pt").write_bytes(b"")
    return folder


def test_a_run_is_the_same_run_by_its_folder_backbone_pt_or_last_pt(tmp_path):
    from vidssl.recipes.run import Run

    folder = fake_run_folder(tmp_path / "myrun")
    for source, weights in ((folder, "backbone.pt"), (folder / "backbone.pt", "backbone.pt"),
                            (folder / "checkpoints" / "last.pt", "checkpoints/last.pt")):
        run = Run.resolve(source)
        assert run.folder == folder and run.name == "myrun" and run.has_config
        assert run.config_path == folder / "config.yaml" and run.backbone_path == folder / "backbone.pt"
        assert run.weights == folder / weights and run.checkpoint_path == folder / "checkpoints" / "last.pt"
        assert (run.results_path, run.report_path, run.plots_dir) == (
            folder / "results.json", folder / "report.md", folder / "plots")
    unfinished = fake_run_folder(tmp_path / "unfinished", backbone=False)
    assert Run.resolve(unfinished).weights == unfinished / "checkpoints" / "last.pt"
    loose = tmp_path / "elsewhere" / "weights.pt"
    loose.parent.mkdir()
    loose.write_bytes(b"")
    assert Run.resolve(loose).folder == loose.parent and not Run.resolve(loose).has_config


def test_a_missing_run_or_one_without_weights_is_a_one_line_error(tmp_path):
    from vidssl.errors import VidsslError
    from vidssl.recipes.run import Run

    with pytest.raises(VidsslError, match="nope: does not exist"):
        Run.resolve(tmp_path / "nope")
    with pytest.raises(VidsslError, match="no backbone.pt or checkpoints/last.pt in this folder"):
        _ = Run.resolve(tmp_path).weights
    with pytest.raises(VidsslError, match="config.yaml of the run not found"):
        Run.resolve(tmp_path).load_config()
