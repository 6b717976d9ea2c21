"""Results folders: written so that a crash never leaves half a table behind.

A run writes `results/runs/<UTC timestamp>-<suite>/`:
  runs.parquet    one row per trajectory (columns in results/README.md)
  curves.parquet  (run_id, step, loss) at the recorded steps
  paths.parquet   (run_id, step, coord, value) for low-dimensional problems
  costs.parquet   the compiled cost of one step per (instance, optimizer, impl) (bench/costs.py)
  meta.json       what is needed to reproduce and trust the run
  summary.txt     the end-of-run table

While it runs the folder is named `<name>.partial`; each finished problem's
tables land in `parts/` (each file written to a temporary name, then renamed),
so an interruption loses only the problem in progress. Finishing merges the
parts and renames the folder to its final name.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import pandas as pd

from bench import storage, xla

SCHEMA_VERSION = 2  # 2: per-trajectory and per-program times (lane_*, program_*), every timed run kept
TABLES = ("runs", "curves", "paths", "costs")
OPTIONAL_TABLES = ("costs",)  # absent from folders written before it existed: read as empty


class ResultsError(ValueError):
    """A results folder that is missing, corrupt or of another schema version."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y%m%dT%H%M%SZ")


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    _write_atomic(path, lambda p: p.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"))


def write_table(path: Path, df: pd.DataFrame) -> None:
    _write_atomic(path, lambda p: storage.write_parquet(df, p))  # encodings: bench/storage.py


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("gdbench", "jax", "jaxlib", "optax", "numpy", "pandas"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[dist] = None
    return out


def git_state(path: Path | None = None) -> dict[str, Any]:
    """The commit of the checkout holding gdbench's code, and whether it is dirty."""
    where = path or Path(__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def host_cpu() -> str | None:
    """The host CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows, else None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def device_info(devices: list) -> dict[str, Any]:
    d = devices[0]
    return {
        "backend": d.platform,
        # The CPU decides the last bits of XLA:CPU's arithmetic (bench/gates.py) and, with
        # device_kind, which machine a run's times are of (gdbench history).
        "host_cpu": host_cpu(),
        "device_kind": d.device_kind,
        "device_count": len(devices),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "compile_options": xla.compile_options(d.platform) or {},  # the engine's per-program XLA options
        "xla_settings_in_force": xla.settings()["process_flags"],  # gdbench's process-wide flags
    }


class RunFolder:
    """A results folder being written."""

    def __init__(self, root: Path, name: str, meta: dict[str, Any]):
        root.mkdir(parents=True, exist_ok=True)
        self.final = root / name
        if self.final.exists():
            raise FileExistsError(self.final)
        self.path = root / f"{name}.partial"
        (self.path / "parts").mkdir(parents=True)
        self.meta = {**meta, "schema_version": SCHEMA_VERSION, "status": "running"}
        write_json(self.path / "meta.json", self.meta)
        self.n_parts = 0

    def add(self, tables: dict[str, pd.DataFrame]) -> None:
        """Stores one finished part (e.g. one problem's cells)."""
        for name in TABLES:
            write_table(self.path / "parts" / f"{self.n_parts:04d}-{name}.parquet", tables.get(name, pd.DataFrame()))
        self.n_parts += 1

    def finish(self, status: str, summary: str, extra_meta: dict[str, Any]) -> Path:
        """Merges the parts, writes summary and meta, and gives the folder its name."""
        for name in TABLES:
            parts = [pd.read_parquet(self.path / "parts" / f"{i:04d}-{name}.parquet") for i in range(self.n_parts)]
            parts = [p for p in parts if len(p)]
            df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
            write_table(self.path / f"{name}.parquet", df)
        _write_atomic(self.path / "summary.txt", lambda p: p.write_text(summary))
        self.meta.update(extra_meta, status=status)
        write_json(self.path / "meta.json", self.meta)
        shutil.rmtree(self.path / "parts")
        os.replace(self.path, self.final)
        return self.final


def read_run(path: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Reads a results folder: ({runs, curves, paths, costs}, meta); ResultsError if unusable."""
    path = Path(path)
    if not path.is_dir():
        raise ResultsError(f"{path}: not a results folder (no such directory)")
    try:
        meta = json.loads((path / "meta.json").read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: not a results folder (no meta.json)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}/meta.json: unreadable ({e})") from None
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: results schema version {meta.get('schema_version')!r}, this gdbench reads version {SCHEMA_VERSION}"
        )
    tables = {}
    for name in TABLES:
        try:
            tables[name] = pd.read_parquet(path / f"{name}.parquet")
        except FileNotFoundError:
            if name in OPTIONAL_TABLES:
                tables[name] = pd.DataFrame()
                continue
            raise ResultsError(f"{path}: missing {name}.parquet") from None
        except Exception as e:  # pyarrow raises several types for corrupt files
            raise ResultsError(f"{path}/{name}.parquet: unreadable ({type(e).__name__})") from None
    return tables, meta


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
