"""The README's optimizer table is the one generated from the registry (optimizers/table.py)."""

from __future__ import annotations

import pathlib

import pytest

import optimizers
from optimizers import table

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_is_the_generated_one():
    text = README.read_text()
    assert table.replaced(text) == text, "README.md's optimizer table is out of date: run `make readme`"


def test_table_has_a_row_per_optimizer_from_its_spec():
    rows = table.markdown().splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows] == [f"| `{n}`" for n in optimizers.names()]
    adam = rows[optimizers.names().index("adam")]
    assert "learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-08, eps_root=0, nesterov=False" in adam
    assert "`learning_rate` in [1e-05, 1] log; `b1` in [0.5, 0.99];" in adam
    assert "`nesterov` in {False, True}" in adam and "`optax.adam`" in adam and "arXiv:1412.6980" in adam
    polyak = rows[optimizers.names().index("polyak")]
    assert "needs `f_min`, `value`" in polyak and r"(\|g\|^2 + eps)" in polyak  # | escaped in a cell


def test_write_replaces_only_the_marked_part(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"# title\nbefore\n{table.BEGIN}\n| stale |\n{table.END}\nafter\n")
    assert table.main(["--check", str(doc)]) == 1
    assert table.main(["--write", str(doc)]) == 0
    assert doc.read_text() == f"# title\nbefore\n{table.BEGIN}\n{table.markdown()}{table.END}\nafter\n"
    assert table.main(["--check", str(doc)]) == 0


@pytest.mark.parametrize("text", ["no markers\n", f"{table.END}\n{table.BEGIN}\n", f"{table.BEGIN}\n{table.BEGIN}\n{table.END}\n"])
def test_a_file_without_one_pair_of_markers_is_refused(tmp_path, text, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    assert table.main(["--write", str(doc)]) == 2
    assert doc.read_text() == text
    assert "expected one line" in capsys.readouterr().err
