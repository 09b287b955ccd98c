"""Every class of bad input a user meets, as one table: the command, its exit code and its one-line message.

Errors end with exactly one ``error: …`` line on stderr, exit code 2 and no
traceback. Where going on is right (entries outside the dataset root, an
unwritable optional cache) the command finishes with a warning that says so.
A second table runs every command that writes output against an output path
it cannot write: each must print ``error: cannot write PATH: reason``.
"""
import os
import shutil
from pathlib import Path

import pytest
import yaml

from videofixtures import TINY_RUN_OVERRIDES as TINY
from videofixtures import make_ucf101
from vidssl.cli.main import main


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A UCF101-layout fixture, a finished tiny run on it, and a regular file."""
    base = tmp_path_factory.mktemp("world")
    ucf = make_ucf101(base / "ucf")
    run = base / "run"
    assert main(["pretrain", "quickstart", *data(ucf), *TINY, "--out", str(run)]) == 0
    (base / "a_file").write_text("not a folder")
    return {"ucf": ucf, "run": run, "file": base / "a_file", "base": base}


def data(ucf, root=None, annotations=None):
    return ["data.format=ucf101", f"data.root={root or ucf.root}", f"data.annotations={annotations or ucf.annotations}",
            "data.cache_short_side=0"]


def pretrain(world, tmp_path, *extra, out=None, root=None, annotations=None):
    out = out or tmp_path / "new_run"
    return ["pretrain", "quickstart", *data(world["ucf"], root, annotations), *TINY, *extra, "--out", str(out)]


def copy_of_run(world, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(world["run"], copy)
    return copy


def split_copy(world, tmp_path, edit):
    """The fixture's split files, copied, with ``edit(trainlist_text) -> text`` applied to trainlist01.txt."""
    splits = tmp_path / "splits"
    shutil.copytree(world["ucf"].annotations, splits)
    trainlist = splits / "trainlist01.txt"
    trainlist.write_text(edit(trainlist.read_text()))
    return splits


def empty_yaml(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    return str(tmp_path / "empty.yaml")


def broken_yaml(tmp_path):
    (tmp_path / "broken.yaml").write_text("train: {lr: [1\n")
    return str(tmp_path / "broken.yaml")


def mislabelled(text):
    """Every trainlist label shifted by one class: disagrees with classInd.txt."""
    lines = []
    for line in text.splitlines():
        path, label = line.rsplit(" ", 1)
        lines.append(f"{path} {int(label) % 3 + 1}")
    return "\n".join(lines) + "\n"


def garbage_checkpoint(world, tmp_path):
    run = copy_of_run(world, tmp_path)
    (run / "checkpoints" / "last.pt").write_bytes(b"\x00garbage")
    return pretrain(world, tmp_path, "--resume", out=run)


def other_width_config(world, tmp_path):
    """``eval`` of a training checkpoint whose run's config.yaml now says another width."""
    run = copy_of_run(world, tmp_path)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["model"]["width"] = 0.5
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return ["eval", "retrieval", str(run / "checkpoints" / "last.pt"), "--out", str(tmp_path / "ev")]


# id: (args builder (world, tmp_path) -> argv, needles that the error line must hold)
ERRORS = {
    # configs
    "config name mistyped": (lambda w, t: ["pretrain", "quickstrt", "--out", str(t / "r")],
                             ["quickstrt", "not found", "did you mean quickstart"]),
    "config file missing": (lambda w, t: ["pretrain", str(t / "nope.yaml"), "--out", str(t / "r")],
                            ["nope.yaml", "not found"]),
    "config file empty": (lambda w, t: ["pretrain", empty_yaml(t), "--out", str(t / "r")],
                          ["empty.yaml", "empty config"]),
    "config file not YAML": (lambda w, t: ["pretrain", broken_yaml(t), "--out", str(t / "r")],
                             ["broken.yaml", "not valid YAML"]),
    "unknown key": (lambda w, t: pretrain(w, t, "train.lrr=0.1"), ["'train.lrr'", "valid keys"]),
    "wrong type": (lambda w, t: pretrain(w, t, "train.epochs=many"), ["'train.epochs'", "expected an integer"]),
    "clip.frames=0": (lambda w, t: pretrain(w, t, "clip.frames=0"), ["clip.frames=0: expected a positive integer"]),
    "clip.frames=-3": (lambda w, t: pretrain(w, t, "clip.frames=-3"), ["clip.frames=-3: expected a positive integer"]),
    "clip.size=0": (lambda w, t: pretrain(w, t, "clip.size=0"), ["clip.size=0"]),
    "negative cache_short_side": (lambda w, t: pretrain(w, t, "data.cache_short_side=-1"),
                                  ["data.cache_short_side=-1"]),
    "unknown backbone": (lambda w, t: pretrain(w, t, "model.backbone=r3d_19"), ["r3d_19"]),
    # data
    "data root missing": (lambda w, t: pretrain(w, t, root=t / "missing"), ["missing"]),
    "annotations missing": (lambda w, t: pretrain(w, t, annotations=t / "nosplits"), ["nosplits", "does not exist"]),
    "split label disagrees with classInd": (
        lambda w, t: pretrain(w, t, annotations=split_copy(w, t, mislabelled)),
        ["trainlist01.txt:1", "disagrees with"]),
    "split names an unknown class": (
        lambda w, t: pretrain(w, t, annotations=split_copy(w, t, lambda s: s + "Juggling/v_Juggling_g01_c01.avi 1\n")),
        ["trainlist01.txt", "Juggling"]),
    "every entry outside the root": (
        lambda w, t: pretrain(w, t, annotations=split_copy(w, t, lambda s: "Basketball/../../../etc/passwd 1\n")),
        ["no usable videos", "1 outside the root"]),
    # run folders
    "new run over a run": (lambda w, t: pretrain(w, t, out=copy_of_run(w, t)),
                           ["already holds a run", "--resume", "--force"]),
    "resume of a typo": (lambda w, t: pretrain(w, t, "--resume", out=t / "rnu"), ["no run to resume", "drop --resume"]),
    "resume with a corrupt checkpoint": (garbage_checkpoint, ["last.pt", "corrupt"]),
    "resume with another modality": (
        lambda w, t: pretrain(w, t, "model.modality=rgb", "--resume", out=copy_of_run(w, t)),
        ["--resume with a different config", "model.modality 'rgbdiff' -> 'rgb'"]),
    "resume and force": (lambda w, t: pretrain(w, t, "--resume", "--force", out=copy_of_run(w, t)),
                         ["exclude each other"]),
    # eval sources
    "eval of a missing path": (lambda w, t: ["eval", "retrieval", str(t / "nope")], ["nope", "does not exist"]),
    "eval of a folder that is not a run": (
        lambda w, t: ["eval", "retrieval", str(w["ucf"].root)], ["not a run folder (no config.yaml"]),
    "eval random without a config": (lambda w, t: ["eval", "retrieval", "random"], ["give --config"]),
    "eval of a checkpoint that does not fit its config": (other_width_config, ["does not match", "shape mismatch"]),
    "eval overriding the trained model": (
        lambda w, t: ["eval", "retrieval", str(w["run"]), "model.modality=rgb", "--out", str(t / "ev")],
        ["model.modality=rgb", "model.* comes from the run"]),
    "synth over a dataset of other settings": (
        lambda w, t: (main(["synth", "--out", str(t / "sm"), "--per-class", "1"]), ["synth", "--out", str(t / "sm"),
                                                                                      "--per-class", "2"])[1],
        ["other settings", "per_class 1 -> 2"]),
    # other commands
    "export into a file's folder": (
        lambda w, t: ["export", str(w["run"]), "--to", "torchscript", "--out", str(w["file"] / "b.pt")],
        ["cannot write", "a_file: it is a file, expected a folder"]),
    "export to an unknown format": (lambda w, t: ["export", str(w["run"]), "--to", "xyz"], ["unknown format 'xyz'"]),
    "embed into a non-npy file": (
        lambda w, t: ["embed", str(w["run"]), str(w["ucf"].root), "--out", str(t / "f.txt")], ["expected a .npy file"]),
    "search in a missing index": (
        lambda w, t: ["search", str(t / "nope.npy"), str(w["ucf"].root)], ["nope.npy", "features file not found"]),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_input_gives_one_error_line_and_exit_2(world, tmp_path, capsys, case):
    build, needles = ERRORS[case]
    args = build(world, tmp_path)
    before = snapshot(tmp_path)
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert snapshot(tmp_path) == before  # a refused command writes nothing


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ going on is right: a warning ---

def test_entries_outside_the_root_are_refused_with_a_warning_and_the_run_goes_on(world, tmp_path, capsys):
    splits = split_copy(world, tmp_path, lambda s: s + "Basketball/../../../etc/passwd 1\n/etc/hostname 2\n")
    with pytest.warns(UserWarning, match=r"refused 2 of \d+ listed videos whose path leaves the dataset root"):
        code = main(pretrain(world, tmp_path, annotations=splits))
    assert code == 0, capsys.readouterr().err


@pytest.fixture
def cache_is_a_file(tmp_path, monkeypatch):
    blocked = tmp_path / "cache_file"
    blocked.write_text("")
    monkeypatch.setenv("VIDSSL_CACHE", str(blocked))
    return blocked


def test_an_unwritable_feature_cache_warns_and_the_evaluation_finishes(world, tmp_path, capsys, cache_is_a_file):
    out = tmp_path / "ev"
    with pytest.warns(UserWarning, match="feature cache .* disabled: cannot write"):
        code = main(["eval", "retrieval", str(world["run"]), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert (out / "eval_retrieval.json").is_file()


def test_an_unwritable_frame_cache_warns_and_training_decodes_instead(world, tmp_path, capsys, cache_is_a_file):
    args = [a if a != "data.cache_short_side=0" else "data.cache_short_side=32" for a in pretrain(world, tmp_path)]
    with pytest.warns(UserWarning, match="frame cache disabled: cannot write"):
        code = main(args)
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "new_run" / "backbone.pt").is_file()


# ------------------------------------------------------------------ output that cannot be written ---

def unwritable_folder(tmp_path: Path) -> Path:
    """A folder nobody may create: under /sys for root (chmod does not stop root), else a read-only folder."""
    if os.geteuid() == 0:
        path = Path("/sys/vidssl-cannot-write")
        try:
            path.mkdir()
        except OSError:
            return path
        path.rmdir()
        pytest.skip("running as root and /sys is writable here: no folder root cannot write")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "out"


OUTPUTS = {
    "a file": lambda world, tmp_path: world["file"],
    "under a file": lambda world, tmp_path: world["file"] / "sub",
    "unwritable": lambda world, tmp_path: unwritable_folder(tmp_path),
}

COMMANDS = {
    "pretrain": lambda w, t, out: pretrain(w, t, out=out),
    "eval": lambda w, t, out: ["eval", "retrieval", str(w["run"]), "--out", str(out)],
    "embed": lambda w, t, out: ["embed", str(w["run"]), str(w["ucf"].root), "--out", str(out / "f.npy")],
    "synth": lambda w, t, out: ["synth", "--out", str(out / "synth"), "--per-class", "1"],
    "quickstart": lambda w, t, out: ["quickstart", "--out", str(out), *data(w["ucf"]), *TINY],
    "export": lambda w, t, out: ["export", str(w["run"]), "--to", "torchscript", "--frames", "4", "--size", "32",
                                 "--out", str(out / "b.pt")],
    "analyze speediness": lambda w, t, out: ["analyze", "speediness", str(w["run"]), "--out", str(out)],
    "analyze sts": lambda w, t, out: ["analyze", "sts", str(next(w["ucf"].root.rglob("*.avi"))), "--frames", "8",
                                      "--size", "32", "--out", str(out)],
    "benchmark": lambda w, t, out: ["benchmark", "--out", str(out), "--only", "random_init", *TINY],
}


@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_command_prints_a_traceback_for_an_output_it_cannot_write(world, tmp_path, capsys, command, output):
    out = OUTPUTS[output](world, tmp_path)
    code = main(COMMANDS[command](world, tmp_path, out))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    target = world["file"] if output != "unwritable" else out.parent
    assert last.startswith("error: cannot write ") and str(target) in last, last
