"""Every Python block of the README runs as written, in order, in one namespace.

Only the sizes shrink: `steps=N` becomes `steps=min(N, 200)`, so that the whole
README runs in seconds; the calls, names and imports are the README's own. The
blocks run in a folder holding a quick suite's results folder (a copy of the
committed fixture), as after `make bench`. The docs' snippets are checked too:
their imports resolve, and docs/METRICS.md's example runs on that folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from test_analysis_cases import FIXTURE_RUN

README = Path(__file__).resolve().parents[1] / "README.md"
SMALL_STEPS = 200


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def small(code: str) -> str:
    return re.sub(r"\bsteps=(\d+)", lambda m: f"steps={min(int(m.group(1)), SMALL_STEPS)}", code)


def test_the_readme_has_python_blocks():
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 4 and all(b.strip() for b in blocks)
    assert small("steps=2000, x=1, steps=50") == "steps=200, x=1, steps=50"


def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch):
    shutil.copytree(FIXTURE_RUN, tmp_path / "results" / "runs" / "20260101T000000Z-quick")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for i, block in enumerate(python_blocks(README.read_text())):
        try:
            exec(compile(small(block), f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as e:  # noqa: BLE001 - name the block that failed
            raise AssertionError(f"README python block {i + 1} failed: {type(e).__name__}: {e}\n{block}") from e
    assert len(namespace["df"]) == 3 * 3 and set(namespace["mine"].optimizer) == {"my_sgd"}


DOCS = sorted((README.parent / "docs").glob("*.md"))


def test_every_import_in_the_docs_python_blocks_resolves():
    """Module paths in the docs' examples exist (they are reference snippets, so only their imports run)."""
    for doc in DOCS:
        for block in python_blocks(doc.read_text()):
            for line in block.splitlines():
                if re.match(r"(import|from) \w", line):
                    try:
                        exec(line, {})
                    except ImportError as e:
                        raise AssertionError(f"{doc.name}: `{line}` fails: {e}") from e


def test_the_metrics_page_example_runs_on_a_results_folder(tmp_path, monkeypatch):
    shutil.copytree(FIXTURE_RUN, tmp_path / "results" / "runs" / "20260101T000000Z-quick")
    monkeypatch.chdir(tmp_path)
    (block,) = python_blocks((README.parent / "docs" / "METRICS.md").read_text())
    namespace: dict = {"__name__": "metrics"}
    exec(compile(block.replace("<stamp>", "20260101T000000Z"), "docs/METRICS.md python block", "exec"), namespace)
    assert len(namespace["runs"]) > 0 and len(namespace["ratios"]) > 0


def test_the_readmes_counts_are_the_registries():
    import optimizers
    import problems

    text = README.read_text()
    assert f"our own JAX implementations of {len(optimizers.names())} optimizers" in " ".join(text.split())
    assert f"`problems/`: {len(problems.names())} problem families" in text
