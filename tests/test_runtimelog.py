"""The filter of JAX's runtime log in a distributed run (bench/core/runtimelog.py), on the log's own lines.

The log below is what jaxlib 0.10.2 wrote to stderr in a process whose
process 0 was killed (addresses shortened); the filter must turn it into one
line and let every other line through, in order.
"""

from __future__ import annotations

import io
import subprocess
import sys

from bench.core import runtimelog

PEER_STOPPED = b"""\
W1201 10:39:07.691523    6272 preemption_sync_manager.cc:147] Failed to retrieve preemption notice from coordination service: UNAVAILABLE: Socket closed
Additional GRPC error information from remote target coordination_service while calling /xla.coordination.CoordinationService/GetKeyValue:
:UNKNOWN:Error received from peer  {grpc_message:"Socket closed", grpc_status:14}. This is only expected if one of the tasks is unhealthy.
E1201 10:39:07.691774    6272 coordination_service_agent.cc:289] Polled an error from coordination service (this can be an error from this or another task).
F1201 10:39:07.691778    6272 client.h:80] Terminating process because the JAX distributed service detected fatal errors. This most likely indicates that another task died; see the other task logs for more details. absl::Status: UNAVAILABLE: Failed to send RPC to coordination service. Either the leader task was preempted/died/restarted unexpectedly or this task is experiencing network issues.
Additional GRPC error information from remote target coordination_service while calling /xla.coordination.CoordinationService/PollForError:
:UNKNOWN:Error received from peer  {grpc_message:"Socket closed", grpc_status:14}
*** Check failure stack trace: ***
    @     0x7f639b840634  absl::lts_20260107::log_internal::LogMessage::SendToLog()
    @     0x7f63979040ee  xla::CoordinationServiceAgent::SetError()
"""
OTHER = b"W1201 10:39:01.000000    6200 cpu_client.cc:12] an unrelated warning\nplain text from a library\n"


def _filtered(log: bytes, index: int = 1, count: int = 2) -> bytes:
    sink = io.BytesIO()
    runtimelog.filter_log(io.BytesIO(log), sink, index, count)
    return sink.getvalue()


def test_a_peers_end_becomes_one_line_after_the_lines_before_it():
    out = _filtered(OTHER + PEER_STOPPED + b"never printed: the process aborts\n")
    assert out == OTHER + (b"gdbench: error: process 1 of 2: another process of the run stopped, and JAX's runtime "
                           b"ended this one (UNAVAILABLE: Failed to send RPC to coordination service)\n")


def test_every_other_line_passes_in_order_and_held_lines_are_not_lost():
    services, _ = PEER_STOPPED.split(b"F1201", 1)  # the services' warnings without the fatal error
    assert _filtered(OTHER) == OTHER
    assert _filtered(services) == services  # held until the end, then printed
    assert _filtered(services + OTHER) == services + OTHER  # held until an unrelated line
    assert _filtered(b"F1201 10:00:00.000000 1 other.cc:1] another fatal error\n") == \
        b"F1201 10:00:00.000000 1 other.cc:1] another fatal error\n"


def test_the_filter_runs_alone_from_its_file():
    """As `start` runs it: a script of the standard library alone (no gdbench, no JAX to import)."""
    done = subprocess.run([sys.executable, "-I", runtimelog.__file__, "0", "3"], input=OTHER + PEER_STOPPED,
                          capture_output=True, timeout=30)
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.startswith(OTHER + b"gdbench: error: process 0 of 3: another process of the run stopped")


def test_start_routes_the_runtimes_stderr_through_the_filter_and_python_s_past_it():
    """In a child process: a C-level write to fd 2 (as JAX's runtime writes) is filtered, sys.stderr is not."""
    code = (
        "import os, sys; from bench.core import runtimelog\n"
        "runtimelog.start(1, 2)\n"
        "print('from python', file=sys.stderr)\n"
        "os.write(2, " + repr(PEER_STOPPED) + ")\n"
        "os._exit(134)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 134
    assert done.stderr.splitlines() == [
        b"from python",
        b"gdbench: error: process 1 of 2: another process of the run stopped, and JAX's runtime ended this one "
        b"(UNAVAILABLE: Failed to send RPC to coordination service)"]


def test_without_a_filter_nothing_changes(monkeypatch):
    def no_interpreter(*args, **kwargs):
        raise OSError("no interpreter")

    stderr = sys.stderr
    monkeypatch.setattr(subprocess, "Popen", no_interpreter)
    runtimelog.start(0, 2)
    assert sys.stderr is stderr
