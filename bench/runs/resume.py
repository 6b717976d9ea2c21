"""Resuming an unfinished run: `gdbench run --resume RUN_DIR`.

A run stores each finished cell in its folder's `parts/` (`bench.runs.results`), so
a run that was killed (`<name>.partial`) or interrupted can go on: the stored
cells are skipped, the others run, and the folder is finished as if the run
had never stopped. That holds only if the code, its libraries, the machine's
devices and the suite are those of the stored cells, so all of them are
checked against the folder's meta.json first: a mismatch is bad input
(`ConfigError`), and nothing is touched.

With held-out seeds (a suite's [tuning]) each cell has two parts, its
selection phase (part k) and its report phase (part n + k): a run stopped
between them chooses again from the stored selection rows (the same rows, so
the same choice, and without f* the same f_ref) and runs only the missing
report phases (bench/runs/runner.py). `[tuning]` is part of the suite, so a
run with other selection seeds is another suite.

The git commit is compared when both runs know it; uncommitted changes to the
code are not detected (meta.json's `git.dirty` says there were some).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.runs import results
from bench.runs import suite as suites

WHERE = "--resume"
#: What must be equal in the stored run and this one (paths into meta.json).
MUST_MATCH = (
    ("versions",),
    ("git", "commit"),
    ("device", "backend"),
    ("device", "device_kind"),
    ("device", "device_count"),
    ("device", "host_cpu"),  # the CPU: its last bits and its speed (a cluster may restart a job elsewhere)
    ("device", "host_cpu_id"),
    ("device", "host_isa"),
    ("device", "xla_flags"),
    ("device", "compile_options"),
    ("dtype",),
)


def _plain(value: Any) -> Any:
    """As JSON would store it (tuples as lists, keys sorted)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def recorded(path: str | Path) -> dict[str, Any]:
    """The meta.json of a resumable run folder; ConfigError if there is none."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(WHERE, f"{path}: no such results folder")
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(WHERE, f"{path}: no readable meta.json ({type(e).__name__})") from None
    if not isinstance(meta, dict) or meta.get("schema_version") != results.SCHEMA_VERSION:
        raise ConfigError(WHERE, f"{path}: not a results folder of schema version {results.SCHEMA_VERSION}")
    if not (path / "parts").is_dir():
        raise ConfigError(WHERE, f"{path}: nothing to resume (status {meta.get('status')!r}, no parts/)")
    if not isinstance(meta.get("suite"), dict):
        raise ConfigError(WHERE, f"{path}: meta.json records no suite")
    return meta


def recorded_suite(meta: dict[str, Any]) -> suites.Suite:
    """The suite a run folder recorded, validated again."""
    data = {k: v for k, v in meta["suite"].items()
            if k != "source" and v is not None and not (k == "description" and v == "")}
    return suites.parse(data, str(meta["suite"].get("source", "meta.json")))


def check_suite(meta: dict[str, Any], suite: suites.Suite, path: str | Path) -> None:
    """ConfigError unless `suite` is the one the run recorded (its source aside)."""
    stored = {k: v for k, v in _plain(meta["suite"]).items() if k != "source"}
    given = {k: v for k, v in _plain(suite.to_dict()).items() if k != "source"}
    # the name and description last: an overridden suite is renamed <name>-custom and says so, and the
    # override says more
    differ = sorted((k for k in stored.keys() | given.keys() if stored.get(k) != given.get(k)),
                    key=lambda k: (k in ("name", "description"), k))
    if differ:
        k = differ[0]
        raise ConfigError(WHERE, f"{path} ran another suite ({k}: {stored.get(k)!r} there, {given.get(k)!r} here); "
                                 "give --resume alone to go on with the recorded one")


def check_same(stored: dict[str, Any], current: dict[str, Any], path: str | Path) -> None:
    """ConfigError unless the code, libraries and devices are those of the stored run."""
    for keys in MUST_MATCH:
        a, b = stored, current
        for k in keys:
            a = a.get(k) if isinstance(a, dict) else None
            b = b.get(k) if isinstance(b, dict) else None
        if keys == ("git", "commit") and (a is None or b is None):
            continue
        if _plain(a) != _plain(b):
            raise ConfigError(WHERE, f"{path} was run with {'.'.join(keys)} = {_plain(a)!r}, this run has "
                                     f"{_plain(b)!r}; its cells would not be comparable")
