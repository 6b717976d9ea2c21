"""Results folders: written so that a crash never leaves half a table behind.

A run writes `results/runs/<UTC timestamp>-<suite>/`:
  runs.parquet    one row per trajectory (columns in results/README.md)
  curves.parquet  (run_id, step, loss) at the recorded steps
  paths.parquet   (run_id, step, coord, value) for low-dimensional problems
  costs.parquet   the compiled cost of one step per (instance, optimizer, impl) (bench/tracking/costs.py)
  meta.json       what is needed to reproduce and trust the run
  summary.txt     the end-of-run table

While it runs the folder is named `<name>.partial`; each finished cell's
tables land in `parts/` as `cell-<index>-<table>.parquet` (each file written to
a temporary name, then renamed; the runs table last, so a cell is done when its
runs file exists), so an interruption loses only the cells in progress. A
cell that failed leaves `cell-<index>-failed.json` instead (`RunFolder.fail`):
finishing lists them in meta.json's `failures`, and a resume retries them.
Finishing merges the parts in cell order (numbering the run ids from 0 across
them) and renames the folder to its final name; a run that did not complete
keeps `parts/`, so that it can be resumed (`RunFolder.reopen`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core import xla
from bench.runs import storage

SCHEMA_VERSION = 2  # 2: per-trajectory and per-program times (lane_*, program_*), every timed run kept
TABLES = ("runs", "curves", "paths", "costs")
OPTIONAL_TABLES = ("costs",)  # absent from folders written before it existed: read as empty
PARTIAL = ".partial"


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
    _write_atomic(path, lambda p: storage.write_parquet(df, p))  # encodings: bench/runs/storage.py


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


#: The CPU features that decide XLA:CPU's vector code: /proc/cpuinfo's x86 `flags`, Arm `Features`.
SIMD_FEATURES = {"flags": re.compile(r"^(sse\w*|ssse3|avx\w*|fma\w*|f16c|amx\w*)$"),
                 "Features": re.compile(r"^(asimd\w*|sve\w*|sme\w*|fphp|bf16|i8mm)$")}


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (Linux); {} where there is none."""
    fields: dict[str, str] = {}
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return fields
    for line in lines:
        if not line.strip() and fields:
            break
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def host_cpu() -> str | None:
    """The host CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows, else None."""
    return _cpuinfo().get("model name") or platform.processor() or None


def host_cpu_id() -> str | None:
    """Vendor, family and model numbers ('AuthenticAMD family 25 model 17'), None where unknown.

    A virtual machine may show one model name for several CPU generations;
    these numbers still tell them apart, and they choose the CPU that XLA:CPU
    tunes its code for.
    """
    info = _cpuinfo()
    if "vendor_id" not in info:
        return None
    return f"{info['vendor_id']} family {info.get('cpu family', '?')} model {info.get('model', '?')}"


def host_isa() -> str | None:
    """The CPU's vector instruction sets XLA:CPU may use (sorted /proc/cpuinfo flags), None where unknown."""
    info = _cpuinfo()
    for field, simd in SIMD_FEATURES.items():
        if field in info:
            return " ".join(sorted(f for f in info[field].split() if simd.match(f))) or None
    return None


def device_info(devices: list) -> dict[str, Any]:
    d = devices[0]
    return {
        "backend": d.platform,
        # The CPU decides the last bits of XLA:CPU's arithmetic (bench/tracking/gates.py) and, with
        # device_kind, which machine a run's times are of (gdbench history).
        "host_cpu": host_cpu(),
        "host_cpu_id": host_cpu_id(),
        "host_isa": host_isa(),  # AVX2 and AVX-512 machines differ in the last bits, under one model name
        "device_kind": d.device_kind,
        "device_count": len(devices),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "compile_options": xla.compile_options(d.platform) or {},  # the engine's per-program XLA options
        "xla_settings_in_force": xla.settings()["process_flags"],  # gdbench's process-wide flags
    }


class RunFolder:
    """A results folder being written, one part per finished cell."""

    def __init__(self, root: Path, name: str, meta: dict[str, Any]):
        root.mkdir(parents=True, exist_ok=True)
        self.final = root / name
        if self.final.exists():
            raise FileExistsError(self.final)
        self.path = root / f"{name}{PARTIAL}"
        (self.path / "parts").mkdir(parents=True)
        self.meta = {**meta, "schema_version": SCHEMA_VERSION, "status": "running"}
        write_json(self.path / "meta.json", self.meta)

    @classmethod
    def reopen(cls, path: Path, resumed: dict[str, Any]) -> "RunFolder":
        """An unfinished run's folder (`<name>.partial`, or an interrupted or
        failed one that kept its parts), renamed `<name>.partial` to go on;
        `resumed` is appended to meta's "resumed" list."""
        path = Path(path)
        name = path.name[: -len(PARTIAL)] if path.name.endswith(PARTIAL) else path.name
        self = cls.__new__(cls)
        self.final, self.path = path.with_name(name), path.with_name(name + PARTIAL)
        if path == self.final:
            if self.path.exists():
                raise ResultsError(f"{path}: {self.path.name} exists too; resume that one")
            os.replace(self.final, self.path)
        elif self.final.exists():
            raise ResultsError(f"{path}: {self.final.name} exists too (that run finished)")
        self.meta = json.loads((self.path / "meta.json").read_text())
        self.meta.update(status="running", resumed=[*self.meta.get("resumed", []), resumed])
        write_json(self.path / "meta.json", self.meta)
        return self

    def _part(self, index: int, name: str) -> Path:
        return self.path / "parts" / f"cell-{index:05d}-{name}.parquet"

    def done(self) -> set[int]:
        """The indices of the cells whose tables are stored."""
        return {int(p.name.split("-")[1]) for p in (self.path / "parts").glob("cell-*-runs.parquet")}

    def read_part(self, index: int, name: str = "runs") -> pd.DataFrame:
        return pd.read_parquet(self._part(index, name))

    def add(self, index: int, tables: dict[str, pd.DataFrame]) -> None:
        """Stores the tables of finished cell `index` (run ids local to the cell, from 0)."""
        for name in (*TABLES[1:], TABLES[0]):  # runs last: it marks the cell done
            write_table(self._part(index, name), tables[name])
        self._failed(index).unlink(missing_ok=True)  # a failure of an earlier session, retried

    def _failed(self, index: int) -> Path:
        return self.path / "parts" / f"cell-{index:05d}-failed.json"

    def fail(self, index: int, record: dict[str, Any]) -> None:
        """Records that cell `index` failed (`record`: meta.json's `failures` entry); it stays not done."""
        write_json(self._failed(index), record)

    def failures(self) -> list[dict[str, Any]]:
        """The failed cells' records, in cell order (a cell stored since is no longer one)."""
        done = self.done()
        found = sorted((p for p in (self.path / "parts").glob("cell-*-failed.json")), key=lambda p: p.name)
        return [json.loads(p.read_text()) for p in found if int(p.name.split("-")[1]) not in done]

    def merged(self) -> dict[str, pd.DataFrame]:
        """The stored cells' tables, in cell order, run ids numbered from 0 across them."""
        out = {name: [] for name in TABLES}
        offset = 0
        for index in sorted(self.done()):
            parts = {name: self.read_part(index, name) for name in TABLES}
            for name, df in parts.items():
                if len(df):
                    if "run_id" in df:  # the costs table has none
                        df = df.assign(run_id=df["run_id"] + offset)
                    out[name].append(df)
            offset += len(parts["runs"])
        return {name: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for name, v in out.items()}

    def finish(self, status: str, summary: str, extra_meta: dict[str, Any],
               tables: dict[str, pd.DataFrame]) -> Path:
        """Writes the merged tables, summary and meta, and gives the folder its
        name; `parts/` is removed once the run is complete, kept otherwise."""
        for name in TABLES:
            write_table(self.path / f"{name}.parquet", tables[name])
        _write_atomic(self.path / "summary.txt", lambda p: p.write_text(summary))
        self.meta.update(extra_meta, status=status)
        write_json(self.path / "meta.json", self.meta)
        if status == "complete":
            shutil.rmtree(self.path / "parts")
        os.replace(self.path, self.final)
        return self.final


def read_meta(path: str | Path) -> dict[str, Any]:
    """A results folder's meta.json, checked to be of this schema version; ResultsError if not."""
    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: not a results folder (no meta.json)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}/meta.json: unreadable ({e})") from None
    if not isinstance(meta, dict):
        raise ResultsError(f"{path}/meta.json: not a JSON object")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: results schema version {meta.get('schema_version')!r}, this gdbench reads version {SCHEMA_VERSION}"
        )
    return meta


def read_table(path: str | Path, name: str) -> pd.DataFrame:
    """One table of a results folder (an absent optional one is empty); ResultsError if unusable."""
    path = Path(path)
    try:
        return pd.read_parquet(path / f"{name}.parquet")
    except FileNotFoundError:
        if name in OPTIONAL_TABLES:
            return pd.DataFrame()
        raise ResultsError(f"{path}: missing {name}.parquet") from None
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise ResultsError(f"{path}/{name}.parquet: unreadable ({type(e).__name__})") from None


def read_run(path: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Reads a results folder: ({runs, curves, paths, costs}, meta); ResultsError if unusable."""
    path = Path(path)
    if not path.is_dir():
        raise ResultsError(f"{path}: not a results folder (no such directory)")
    meta = read_meta(path)
    return {name: read_table(path, name) for name in TABLES}, meta


def latest(folder: str | Path = "results/runs", suite: str | None = None) -> Path:
    """The latest finished results folder in `folder` (of `suite` if given): its `<UTC stamp>-<suite>`
    name sorts last. ResultsError naming `folder` when it holds none (or does not exist)."""
    folder = Path(folder)
    stamped = re.compile(r"\d{8}T\d{6}Z-(.+)")
    found = sorted(p for p in (folder.iterdir() if folder.is_dir() else ())
                   if (m := stamped.fullmatch(p.name)) and not p.name.endswith(PARTIAL)
                   and (suite is None or m.group(1) == suite) and (p / "meta.json").is_file())
    if not found:
        what = f"no finished results folder of suite {suite!r}" if suite else "no finished results folder"
        where = "no such directory" if not folder.is_dir() else "gdbench run writes them there"
        raise ResultsError(f"{folder}: {what} ({where})")
    return found[-1]


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
