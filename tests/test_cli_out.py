"""`gdbench run --out DIR`: a folder that cannot be made or written is one line and exit 2, before anything runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench import cli


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_folder_under_proc_is_refused_in_one_line(capsys):
    # /proc looks writable to root, but nothing can be made in it: only trying tells
    for out in ("/proc/forbidden", "/proc/forbidden/deeper"):
        code, stdout, err = run(["run", "--suite", "quick", "--out", out, "--dry-run"], capsys)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and stdout == ""
        assert err.startswith(f"gdbench: error: --out: '{out}' cannot be created")


def test_a_file_in_the_way_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for out, message in ((tmp_path / "file", "exists and is not a directory"),
                         (tmp_path / "file" / "runs", "is not a writable directory")):
        code, _, err = run(["run", "--suite", "quick", "--out", str(out), "--dry-run"], capsys)
        assert code == 2 and err.count("\n") == 1 and message in err
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_a_folder_that_can_be_made_passes_and_the_check_leaves_nothing(tmp_path, capsys):
    code, out, _ = run(["run", "--suite", "quick", "--problems", "rosenbrock", "--optimizers", "gd",
                        "--out", str(tmp_path / "new" / "runs"), "--dry-run"], capsys)
    assert code == 0 and "suite quick" in out
    assert list(Path(tmp_path).iterdir()) == []
