"""JAX's C++ runtime log in a distributed run: its end-of-run error as one line.

When a process of a `gdbench run --distributed` stops, JAX's coordination
service reports it to the others, and JAX's runtime ends them itself: from a
thread of its own it logs the error with a C++ stack trace and aborts, which
Python can neither catch nor shorten. `start` puts a small filter process
between the runtime's stderr (file descriptor 2) and the terminal; gdbench's
own output (Python's `sys.stderr`) still goes to the terminal directly. The
filter lets every line through but that error: in its place it prints the
one line of a gdbench error, and drops the stack trace and the coordination
service's log lines that came before it. Lines it holds back (the service's
warnings, until it knows whether the error follows) are printed when any
other line comes or the process ends: nothing else is lost.

This file runs as the filter with the standard library alone (`python -I
runtimelog.py INDEX COUNT`), so that starting it imports neither gdbench nor
JAX.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from typing import BinaryIO

#: A line of the C++ runtime's log (absl/glog format): severity, date, time, thread, source.
LOG_LINE = re.compile(rb"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ (?P<source>[\w.]+):\d+\] ")
#: Sources of the runtime's distributed services, whose lines precede the fatal error.
SERVICES = re.compile(rb"^(coordination\w*|preemption\w*|client|service|distributed\w*)\.(h|cc)$")
#: The runtime's fatal error when the run's coordination service reports that a process stopped.
FATAL = re.compile(rb"^F.*JAX distributed service detected fatal errors")
STATUS = re.compile(rb"absl::Status: (?P<status>[A-Z_]+: [^.]*)")


def start(index: int, count: int) -> None:
    """Routes this process's file descriptor 2 through the filter; `sys.stderr` keeps the terminal.

    `index` and `count`: this process's place in the run (for the error
    line). The filter runs in its own session, so a Ctrl-C at the terminal
    reaches this process alone; it ends when this process's stderr closes.
    Where it cannot be started, nothing changes.
    """
    sys.stderr.flush()
    terminal = os.dup(2)
    read, write = os.pipe()
    try:
        subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__), str(index), str(count)], stdin=read,
                         stdout=terminal, stderr=terminal, start_new_session=True, close_fds=True)
    except OSError:  # no filter (no interpreter to start): JAX's log stays as it is
        for fd in (terminal, read, write):
            os.close(fd)
        return
    os.close(read)
    os.dup2(write, 2)
    os.close(write)
    sys.stderr = open(terminal, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",  # noqa: SIM115
                      errors="backslashreplace")


def error_line(index: int, count: int, fatal: bytes) -> bytes:
    """The one line printed in place of the runtime's fatal error (`FATAL`)."""
    status = STATUS.search(fatal)
    why = status["status"].decode(errors="replace")[:200] if status else "JAX's coordination service reported it"
    return (f"gdbench: error: process {index} of {count}: another process of the run stopped, and JAX's runtime "
            f"ended this one ({why})\n").encode()


def filter_log(source: BinaryIO, sink: BinaryIO, index: int, count: int) -> None:
    """Copies `source` to `sink` line by line, the runtime's fatal error as one line (see the module)."""
    held: list[bytes] = []  # the distributed services' lines, and their continuation lines
    for line in iter(source.readline, b""):
        if FATAL.match(line):
            sink.write(error_line(index, count, line))
            sink.flush()
            for _ in iter(source.readline, b""):  # the stack trace, until the runtime aborts
                pass
            return
        log = LOG_LINE.match(line)
        if (log and SERVICES.search(log["source"])) or (held and not log):
            held.append(line)
            continue
        sink.writelines(held + [line])
        sink.flush()
        held = []
    sink.writelines(held)
    sink.flush()


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ends with the process it serves (its stderr's end)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    filter_log(sys.stdin.buffer, sys.stdout.buffer, int(argv[0]), int(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
