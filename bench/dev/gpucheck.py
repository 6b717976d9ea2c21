"""`make gpu-check`: gdbench on an NVIDIA GPU in one command, the results in one Markdown file.

    python -m bench.dev.gpucheck                        # a machine with an NVIDIA GPU: about 8 minutes
    python -m bench.dev.gpucheck --device cpu --quick   # the same steps on the CPU, small sizes

The steps, in order, each in a process of its own with a time limit (one that
fails or runs out of time is recorded as such, and the next one runs):

  device       versions, jax.devices(), a jitted loop and a tiny sweep on the device; nvidia-smi
  engine tests tests/test_engine.py and tests/test_engine_bookkeeping.py (the exact first hits)
  sweep        python -m bench.dev.perf sweep --rounds 3
  large        python -m bench.dev.perf large --repeats 5 --dims 1e6 1e7 1e8 --bandwidth
  transformer  python -m bench.dev.perf_transformer --steps 200 --rounds 3 (its sweep cost, attention's share)
  quick suite  python -m bench run --device gpu --no-progress
  other tests  the rest of the fast test suite, in the time left

Each step has a budget (`steps()`; the engine tests and the sweep come first,
the other tests get what is left); a step may also use what the steps before it
left unused, and all of them end within the total (`--time-limit`, 8 minutes).
The report, `results/gpu-check/<UTC stamp>-<device>.md`, gives each step's
command, status, time and a summary of its output; a GPU run's report is meant
to be committed (those of CPU runs are git-ignored).

The steps run with JAX_PLATFORMS=cuda,cpu: a CUDA backend that fails to start
is then an error, not a silent fall-back to the CPU. They also run with
XLA_PYTHON_CLIENT_PREALLOCATE=false: in several steps two JAX processes share
the GPU (perf's sweep times (a) itself, then starts a process per measurement;
some tests start gdbench processes), and by default the first would take 75% of
its memory. Only when JAX has no CUDA backend at all does the check try
`pip install jax[cuda12]` (at the installed JAX's version; `--no-install` skips
it), and a failure there is reported as such. This process itself never starts
a JAX backend.

Without a GPU it says it needs one and exits 0, writing nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout whose code is checked
TIME_LIMIT_S = 480.0
MIN_STEP_S = 5.0  # a step with less time than this left is skipped
PIP_BUDGET_S = 180.0
ENGINE_TESTS = ("tests/test_engine.py", "tests/test_engine_bookkeeping.py")
PLATFORMS = {"gpu": "cuda,cpu", "cpu": "cpu"}  # JAX_PLATFORMS of the steps
CUDA_DISTS = ("jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin", "jax-cuda13-pjrt")


@dataclasses.dataclass(frozen=True)
class Step:
    """One command of the check, with its time budget in seconds."""

    key: str
    title: str
    argv: tuple[str, ...]
    budget_s: float
    kind: str  # how its output is summarised: probe, pytest, perf, suite, text


@dataclasses.dataclass
class Outcome:
    """What a step did: status passed / failed / timed out / skipped, and its output."""

    step: Step
    status: str
    seconds: float
    limit_s: float
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    note: str = ""  # why it was skipped, or what went wrong around it
    folder: str = ""  # the results folder a suite step wrote


# --------------------------------------------------------------------------- the plan


def _python(*args: str) -> tuple[str, ...]:
    return (sys.executable, *args)


def steps(device: str, quick: bool, runs_out: str) -> list[Step]:
    """The steps after the device probe. `quick`: small sizes, for a check of the check."""
    pytest = _python("-m", "pytest", "-v", "-p", "no:cacheprovider")
    if quick:
        engine = (*pytest, *ENGINE_TESTS, "-k", "test_numpy_gd_loop_agrees")
        others = (*pytest, "tests/test_schedule.py")
        sweep = _python("-m", "bench.dev.perf", "sweep", "--rounds", "1", "--configs", "8", "--steps", "200",
                        "--repeats", "2")
        large = _python("-m", "bench.dev.perf", "large", "--repeats", "2", "--dims", "1e4", "1e5", "--large-steps",
                        "10", "--bandwidth")
        suite = ("--problems", "quadratic", "--optimizers", "adam", "--steps", "200", "--seeds", "1",
                 "--repeats", "1")
        transformer = _python("-m", "bench.dev.perf_transformer", "--steps", "10", "--rounds", "1")
        budgets = (60, 90, 60, 60, 90, 30)  # generous: a busy 2-core machine takes 4x its idle time
    else:
        engine = (*pytest, *ENGINE_TESTS)
        others = (*pytest, "tests", *(f"--ignore={t}" for t in ENGINE_TESTS))
        sweep = _python("-m", "bench.dev.perf", "sweep", "--rounds", "3")
        large = _python("-m", "bench.dev.perf", "large", "--repeats", "5", "--dims", "1e6", "1e7", "1e8",
                        "--bandwidth")
        transformer = _python("-m", "bench.dev.perf_transformer", "--steps", "200", "--rounds", "3")
        suite = ()
        budgets = (80, 140, 50, 40, 90, 40)  # with the device's 40 s: the 8 minutes
    run = _python("-m", "bench", "run", "--device", device, "--no-progress", "--out", runs_out, *suite)
    return [
        Step("engine-tests", "Engine tests (exact first hits)", engine, budgets[0], "pytest"),
        Step("sweep", "Sweep throughput", sweep, budgets[1], "perf"),
        Step("large", "Large problems and memory bandwidth", large, budgets[2], "perf"),
        Step("transformer", "The transformer problem's sweep cost", transformer, budgets[3], "perf"),
        Step("quick-suite", "The quick suite", run, budgets[4], "suite"),
        Step("other-tests", "The other tests", others, budgets[5], "pytest"),
    ]


def probe_step(device: str) -> Step:
    return Step("device", "Device", _python("-m", "bench.dev.gpucheck", "--probe", "--device", device), 40, "probe")


def pip_step() -> Step:
    version = _version("jax")
    spec = f"jax[cuda12]=={version}" if version else "jax[cuda12]"
    return Step("install", "Installing JAX's CUDA backend", _python("-m", "pip", "install", spec),
                PIP_BUDGET_S, "text")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- running


def nvidia_gpu_present() -> bool:
    """Whether this machine shows an NVIDIA GPU (its device files, or nvidia-smi listing one)."""
    if any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/nvidiactl")):
        return True
    return "GPU" in _nvidia_smi("-L")


def _nvidia_smi(*args: str) -> str:
    if shutil.which("nvidia-smi") is None:
        return ""
    try:
        proc = subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout if proc.returncode == 0 else ""


def step_env(device: str) -> dict[str, str]:
    """The steps' environment: this one, with the platforms set (module docstring)."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # output up to a timeout is kept
    env["JAX_PLATFORMS"] = PLATFORMS[device]
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # processes share the GPU (module docstring)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_step(step: Step, limit_s: float, env: dict[str, str]) -> Outcome:
    """Runs a step's command in its own process group, killing the whole group at `limit_s`."""
    files = dict(mode="w+", encoding="utf-8", errors="replace")
    with tempfile.TemporaryFile(**files) as out, tempfile.TemporaryFile(**files) as err:
        start = time.monotonic()
        try:
            proc = subprocess.Popen(step.argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
        except OSError as e:
            return Outcome(step, "failed", 0.0, limit_s, note=f"could not start: {e}")
        try:
            code = proc.wait(timeout=limit_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            code, timed_out = None, True
        _end_group(proc)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if timed_out:
        status = "timed out"
    else:
        status = "passed" if code == 0 else "failed"
    return Outcome(step, status, seconds, limit_s, code, stdout, stderr)


def _end_group(proc: subprocess.Popen) -> None:
    """Ends the step's process and whatever it started (its process group): politely, then not."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            time.sleep(0.2)  # grandchildren that outlived the leader get the SIGKILL round


def _folders(root: str) -> set[str]:
    """The results folders under `root` (relative to the checkout, as the suite step is given it)."""
    path = ROOT / root
    return {str(Path(root) / d.name) for d in path.iterdir() if d.is_dir()} if path.is_dir() else set()


def probe_result(outcome: Outcome) -> dict:
    """The probe's last `PROBE {...}` line, or {} if it printed none."""
    for line in reversed(outcome.stdout.splitlines()):
        if line.startswith("PROBE "):
            try:
                return json.loads(line[len("PROBE "):])
            except json.JSONDecodeError:
                return {}
    return {}


def check(device: str, quick: bool, time_limit_s: float, runs_out: str, install: bool,
          say=print, clock=time.monotonic) -> tuple[list[Outcome], dict]:
    """Runs the check's steps in order; returns their outcomes and what the report's header needs."""
    start = clock()
    outcomes: list[Outcome] = []
    planned = 0.0  # the time by which the steps so far were budgeted to end

    def run(step: Step, last: bool = False) -> Outcome:
        nonlocal planned
        planned += step.budget_s
        elapsed = clock() - start
        limit = time_limit_s - elapsed if last else min(time_limit_s, planned) - elapsed
        if limit < MIN_STEP_S:
            outcome = Outcome(step, "skipped", 0.0, max(limit, 0.0), note="out of time")
        else:
            say(f"[{len(outcomes) + 1}] {step.title}: {display(step.argv)} (up to {limit:.0f} s)")
            outcome = run_step(step, limit, step_env(device))
            say(f"    {outcome.status} in {outcome.seconds:.1f} s")
        outcomes.append(outcome)
        return outcome

    header = {"device": device, "quick": quick, "time_limit_s": time_limit_s,
              "nvidia_smi": _nvidia_smi() if device == "gpu" else ""}
    found = probe_result(run(probe_step(device)))
    if not found.get("ok") and device == "gpu" and not any(map(_version, CUDA_DISTS)) and install:
        say("JAX has no CUDA backend here: trying to install it")
        pip = run(pip_step())
        if pip.status == "passed":
            found = probe_result(run(probe_step(device)))
        else:
            pip.note = "pip could not install it (no network, or no wheel for this Python?): see its output"
    plan = steps(device, quick, runs_out)
    if not found.get("ok"):
        for step in plan:
            outcomes.append(Outcome(step, "skipped", 0.0, 0.0, note=f"JAX cannot use the {device} (see Device)"))
    else:
        for i, step in enumerate(plan):
            before = _folders(runs_out) if step.kind == "suite" else set()
            outcome = run(step, last=i == len(plan) - 1)
            if step.kind == "suite":
                written = sorted(_folders(runs_out) - before)
                outcome.folder = written[-1] if written else ""
    header["wall_s"] = clock() - start
    return outcomes, header


# --------------------------------------------------------------------------- the probe (its own process)


def probe(device: str) -> int:
    """Prints what a report needs to know of this machine's JAX; last a `PROBE {json}` line."""
    result = {"ok": False}
    print(f"python {platform.python_version()}, {platform.platform()}")
    for dist in ("jax", "jaxlib", *CUDA_DISTS, "numpy", "optax"):
        if _version(dist):
            print(f"{dist} {_version(dist)}")
    for var in ("JAX_PLATFORMS", "XLA_PYTHON_CLIENT_PREALLOCATE", "CUDA_VISIBLE_DEVICES"):
        print(f"{var}={os.environ.get(var, '')}")
    try:
        import numpy as np

        import bench  # gdbench's XLA settings, as in every gdbench process
        import jax

        print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}")
        devices = jax.devices(device)
        print(f"default backend: {jax.default_backend()}; jax.devices(): {jax.devices()}")
        for d in devices:
            stats = d.memory_stats() or {}
            memory = f", {stats['bytes_limit'] / 2**30:.1f} GiB for JAX" if "bytes_limit" in stats else ""
            print(f"{device} device {d.id}: {d.device_kind} (platform {d.platform}){memory}")
        x = jax.device_put(np.arange(8, dtype=np.float32), devices[0])
        loop = jax.jit(lambda x, n: jax.lax.fori_loop(0, n, lambda i, x: 0.5 * x + 1, x))
        y = loop(x, jax.device_put(np.int32(30), devices[0]))
        np.testing.assert_allclose(np.asarray(y), 2.0, rtol=1e-6)  # 0.5 x + 1 converges to 2
        print(f"a jitted loop with a run-time trip count ran on {sorted(str(d) for d in y.devices())}")
        start = time.perf_counter()
        runs = bench.sweep("rosenbrock", "adam", problem_args={"dim": 2}, grid={"learning_rate": [1e-3, 1e-2]},
                           steps=100, device=device, repeats=1)
        print(f"bench.sweep on the {device}: {len(runs)} runs on {runs.device.iloc[0]}, "
              f"compiled in {runs.compile_s.iloc[0]:.2f} s, {time.perf_counter() - start:.2f} s in all")
        result["ok"] = True
    except Exception as e:  # noqa: BLE001 - what failed is the finding
        print(f"FAILED: {type(e).__name__}: {e}")
        result["error"] = f"{type(e).__name__}: {str(e)[:500]}"
    print("PROBE " + json.dumps(result))
    return 0 if result["ok"] else 1


# --------------------------------------------------------------------------- the report


def display(argv) -> str:
    """A command as a user would type it: `python` for this interpreter."""
    return shlex.join(["python" if a == sys.executable else a for a in argv])


def _fence(text: str) -> list[str]:
    return ["```", text.rstrip("\n"), "```"] if text.strip() else []


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


PYTEST_RESULT = re.compile(r"^(\S+::.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b.*\[\s*\d+%\]\s*$")
PYTEST_FINAL = re.compile(r"^=+ (.+ in [\d.]+s.*?) =+$")


def pytest_summary(stdout: str) -> list[str]:
    """Counts (from the final line, or from the per-test lines of a run cut short),
    failures and errors, skip reasons, and the device JAX ran the tests on."""
    lines = stdout.splitlines()
    final = [m.group(1) for m in map(PYTEST_FINAL.match, lines) if m]
    out = []
    if final:
        out.append(f"Result: {final[-1]}")
    else:
        counts: dict[str, int] = {}
        for m in filter(None, map(PYTEST_RESULT.match, lines)):
            counts[m.group(2)] = counts.get(m.group(2), 0) + 1
        done = ", ".join(f"{v} {k.lower()}" for k, v in counts.items()) or "none"
        out.append(f"Cut short; tests finished before that: {done}")
    device = [line for line in lines if line.startswith("JAX default device:")]
    out += [f"{device[-1]}"] if device else []
    failed = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
    if not final:  # no short summary was printed: the per-test lines say which
        failed = [f"{m.group(2)} {m.group(1)}" for m in filter(None, map(PYTEST_RESULT.match, lines))
                  if m.group(2) in ("FAILED", "ERROR")]
    skipped = [line for line in lines if line.startswith("SKIPPED ")]
    if failed:
        out += ["", "Failed:", *_fence("\n".join(failed[:40]) + (f"\n... {len(failed) - 40} more" if len(failed) > 40
                                                                  else ""))]
    if skipped:
        out += ["", "Skipped:", *_fence("\n".join(skipped[:20]))]
    return out


def suite_summary(outcome: Outcome) -> list[str]:
    """The results folder the run wrote, its phases and its end-of-run table."""
    if not outcome.folder:
        return _fence(_tail(outcome.stderr, 20))
    folder = ROOT / outcome.folder
    out = [f"Results folder: `{outcome.folder}`"]
    try:
        meta = json.loads((folder / "meta.json").read_text())
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in meta.get("phases_s", {}).items())
        device = meta.get("device", {})
        out.append(f"Status {meta.get('status')}, {meta.get('cells')} cells, {meta.get('wall_s', 0):.1f} s "
                   f"({phases}) on {device.get('backend')} ({device.get('device_kind')}) "
                   f"x {device.get('device_count')}.")
        out += ["", *_fence((folder / "summary.txt").read_text())]
    except (OSError, ValueError) as e:
        out.append(f"(its meta.json or summary.txt could not be read: {e})")
    return out


def step_summary(outcome: Outcome) -> list[str]:
    kind = outcome.step.kind
    if outcome.status == "skipped":
        return []
    if kind == "probe":
        return _fence("\n".join(line for line in outcome.stdout.splitlines() if not line.startswith("PROBE ")))
    if kind == "pytest":
        return pytest_summary(outcome.stdout)
    if kind == "perf":
        return [outcome.stdout.strip()] if outcome.status == "passed" else _fence(_tail(outcome.stdout, 40))
    if kind == "suite":
        return suite_summary(outcome)
    return _fence(_tail(outcome.stdout, 20))


def render(outcomes: list[Outcome], header: dict) -> str:
    """The check's Markdown report."""
    git = header.get("git") or {}
    lines = [
        f"# gdbench {header['device'].upper()} check, {header['started']}",
        "",
        f"`{header['command']}`{' (quick sizes)' if header.get('quick') else ''}: "
        f"{sum(o.status == 'passed' for o in outcomes)} of {len(outcomes)} steps passed in "
        f"{header.get('wall_s', 0):.0f} s (limit {header['time_limit_s']:.0f} s). "
        f"Code: commit {git.get('commit') or 'unknown'}{' with local changes' if git.get('dirty') else ''}. "
        f"The steps ran with JAX_PLATFORMS={PLATFORMS[header['device']]} and XLA_PYTHON_CLIENT_PREALLOCATE=false.",
        "",
        "| step | status | time | limit |",
        "|---|---|---:|---:|",
    ]
    for o in outcomes:
        status = o.status + (f" (exit {o.returncode})" if o.status == "failed" and o.returncode is not None else "")
        status += f": {o.note}" if o.note else ""
        lines.append(f"| {o.step.title} | {status} | {o.seconds:.1f} s | {o.limit_s:.0f} s |")
    if header.get("nvidia_smi"):
        lines += ["", "## nvidia-smi", "", *_fence(header["nvidia_smi"])]
    for o in outcomes:
        lines += ["", f"## {o.step.title}", "", f"`{display(o.step.argv)}`", "",
                  f"Status: {o.status}, {o.seconds:.1f} s of {o.limit_s:.0f} s."]
        summary = step_summary(o)
        if summary:
            lines += ["", *summary]
        if o.status in ("failed", "timed out"):
            tail = _tail(o.stderr, 30) or _tail(o.stdout, 30)
            if tail:
                lines += ["", "Last lines of its output:", "", *_fence(tail)]
    return "\n".join(lines) + "\n"


def write_report(folder: Path, name: str, text: str) -> Path:
    """Writes the report atomically (a temporary name, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = folder / f".{name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- CLI


def _from_root(path: str) -> str:
    """A folder given from the current directory, as the steps (run in the checkout) see it."""
    full = Path(path).resolve()
    return str(full.relative_to(ROOT)) if full.is_relative_to(ROOT) else str(full)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dev.gpucheck",
                                description="Check gdbench on this machine's NVIDIA GPU and write one Markdown report.")
    p.add_argument("--device", choices=["gpu", "cpu"], default="gpu",
                   help="gpu (default), or cpu to run the same steps on the CPU")
    p.add_argument("--quick", action="store_true", help="small sizes (a check of the check: under a minute)")
    p.add_argument("--time-limit", type=float, default=TIME_LIMIT_S, help="seconds for all the steps (default 480)")
    p.add_argument("--out", default="results/gpu-check", help="folder of the report (default: results/gpu-check)")
    p.add_argument("--runs-out", default="results/runs", help="folder for the quick suite's results")
    p.add_argument("--no-install", action="store_true", help="never pip install JAX's CUDA backend")
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe:
        return probe(args.device)
    if args.device == "gpu" and not nvidia_gpu_present():
        print("gpu-check needs an NVIDIA GPU, and this machine shows none (no /dev/nvidia0, nvidia-smi lists "
              "no GPU): nothing was run. `python -m bench.dev.gpucheck --device cpu --quick` runs the same steps "
              "on the CPU.")
        return 0
    started = dt.datetime.now(dt.timezone.utc)
    outcomes, header = check(args.device, args.quick, args.time_limit, _from_root(args.runs_out),
                             not args.no_install)
    from bench.runs import results

    header.update(started=started.strftime("%Y-%m-%d %H:%M UTC"), git=results.git_state(ROOT),
                  command=display([sys.executable, "-m", "bench.dev.gpucheck", *(argv if argv is not None
                                                                             else sys.argv[1:])]))
    path = write_report(Path(args.out), f"{results.stamp(started)}-{args.device}.md", render(outcomes, header))
    print(f"report: {path}")
    return 0 if all(o.status == "passed" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
