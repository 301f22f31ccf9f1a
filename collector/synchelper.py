"""The spool's sync helper: a small process that fdatasyncs the segments the event loop wrote.

A separate process so that no second Python thread ever waits for the server's GIL: with a disk
*thread*, each finished write waited for the event loop to run out of work before its requests
could be answered (docs/benchmarks.md). collector.spool starts it, asks it for syncs through a
socket pair and reads its answers like any other socket.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

# It reads requests "N\n" (the segment files to sync arrive as descriptors attached to them,
# "D" asks for the directory too), fdatasyncs them, closes them and answers "N ERRNO\n" (0: on
# disk). It keeps no segment open between syncs: one it held after the writer deleted it would
# keep its space taken. Only os/signal/socket/sys: with -I -S it starts and answers a first
# sync in ~30 ms, at ~10 MB resident.
HELPER = r"""
import os, signal, socket, sys
# Ctrl-C in a terminal, or a service manager stopping the whole group, must not end it before
# the server has drained: it ends when the server closes its socket (or is gone).
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
sock = socket.socket(fileno=int(sys.argv[1]))
directory = os.open(sys.argv[2], os.O_RDONLY)
files = []
buf = b""
while True:
    try:
        data, fds, _, _ = socket.recv_fds(sock, 4096, int(sys.argv[3]))
    except OSError:
        break
    if not data and not fds:
        break
    files.extend(fds)
    buf += data
    if b"\n" not in buf:
        continue
    *requests, buf = buf.split(b"\n")
    error = 0
    try:
        if any(r.startswith(b"D") for r in requests):
            os.fsync(directory)
        for fd in files:
            os.fdatasync(fd)
    except OSError as exc:
        error = exc.errno or 5
    for fd in files:
        os.close(fd)
    files.clear()
    try:
        sock.sendall(requests[-1].lstrip(b"D") + b" %d\n" % error)
    except OSError:
        break
"""
FDS_PER_MESSAGE = 64  # the most descriptors one request carries (the helper reads that many)


def start(directory: Path) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """A new helper for the spool `directory`, and our end of its socket (non-blocking)."""
    ours, theirs = socket.socketpair()
    try:
        helper = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", HELPER, str(theirs.fileno()), str(directory),
             str(FDS_PER_MESSAGE)],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    ours.setblocking(False)
    return helper, ours


def send_request(sock: socket.socket, request: bytes, files: list[int]) -> None:
    """One sync request with the descriptors of the segments it covers. Past FDS_PER_MESSAGE
    they go ahead in requests for batch 0 (whose answers release nothing)."""
    while len(files) > FDS_PER_MESSAGE:
        socket.send_fds(sock, [b"0\n"], files[:FDS_PER_MESSAGE])
        files = files[FDS_PER_MESSAGE:]
    socket.send_fds(sock, [request], files)
