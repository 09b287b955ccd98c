"""What the CLI tests share: run a command and capture it, check a one-line error, tiny run settings."""
from videofixtures import TINY_RUN_OVERRIDES
from vidssl.cli.main import main

# the tiny backbone at 1/8 width: nothing here depends on the width, and each run's checkpoints shrink 4x
TINY = [*TINY_RUN_OVERRIDES, "model.width=0.125"]


def data_overrides(fixture):
    return ["data.format=ucf101", f"data.root={fixture.root}", f"data.annotations={fixture.annotations}"]


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[-1], lines[-1]
