"""The README's optimizer table, generated from the registry.

    python -m optimizers.table                    # print the table (Markdown)
    python -m optimizers.table --write README.md  # rewrite the table between the markers (`make readme`)
    python -m optimizers.table --check README.md  # exit 1 if the file's table is not the generated one

The table in a file sits between the lines `BEGIN` and `END`; everything
else in the file is left as it is. tests/test_optimizers_table.py fails when
README.md's table differs from the registry's.
"""

from __future__ import annotations

import argparse
import numbers
import sys
from pathlib import Path
from typing import Any

from optimizers import registry

BEGIN = "<!-- optimizer table: generated from the registry by `make readme`; edit optimizers/, not this table -->"
END = "<!-- end of the optimizer table -->"
HEADER = (
    "| name | update rule | hyperparameters (defaults) | search space | optax twin | paper |\n"
    "|---|---|---|---|---|---|\n"
)


def _value(v: Any) -> str:
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return f"{v:g}"
    return repr(v)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def hyperparameters(spec: registry.OptimizerSpec) -> str:
    """`learning_rate=0.001, b1=0.9, ...` and the extra update arguments it needs."""
    text = ", ".join(f"{k}={_value(v)}" for k, v in spec.defaults.items())
    if spec.needs:
        text += "; needs " + ", ".join(f"`{n}`" for n in sorted(spec.needs))
    return text


def search_space(spec: registry.OptimizerSpec) -> str:
    """`learning_rate` in [1e-05, 1] log; ...; `nesterov` in {False, True}."""
    ranges = [f"`{k}` in [{_value(low)}, {_value(high)}]{' log' if scale == 'log' else ''}"
              for k, (low, high, scale) in spec.search_space.items()]
    choices = [f"`{k}` in {{{', '.join(_value(c) for c in options)}}}" for k, options in spec.choices.items()]
    return "; ".join(ranges + choices)


def twin(spec: registry.OptimizerSpec) -> str:
    """How the docs write the optax twin: its `twin_call`, `optax.<name>`, or "none"."""
    if spec.twin is None:
        return "none"
    return f"`{spec.twin_call or f'optax.{spec.twin.__name__}'}`"


def markdown() -> str:
    """The table of every registered optimizer, one row each, in name order."""
    rows = []
    for name in registry.names():
        spec = registry.get(name)
        cells = [f"`{name}`", _cell(spec.rule), hyperparameters(spec), search_space(spec), twin(spec),
                 _cell(spec.paper)]
        rows.append("| " + " | ".join(cells) + " |\n")
    return HEADER + "".join(rows)


def replaced(text: str) -> str:
    """`text` with the part between its BEGIN and END lines replaced by the generated table."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == END]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"expected one line {BEGIN!r} followed by one line {END!r}")
    return "".join(lines[: starts[0] + 1]) + markdown() + "".join(lines[ends[0]:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optimizers.table", description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--write", metavar="FILE", help="rewrite FILE's table (between the markers)")
    what.add_argument("--check", metavar="FILE", help="exit 1 if FILE's table is not the generated one")
    args = parser.parse_args(argv)
    if args.write is None and args.check is None:
        sys.stdout.write(markdown())
        return 0
    path = Path(args.write or args.check)
    try:
        text = path.read_text()
        new = replaced(text)
    except (OSError, ValueError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            print(f"{path}: the optimizer table is not the registry's; run `make readme`", file=sys.stderr)
            return 1
        return 0
    if new != text:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(new)
        tmp.replace(path)  # atomic: a reader never sees half a file
    return 0


if __name__ == "__main__":
    sys.exit(main())
