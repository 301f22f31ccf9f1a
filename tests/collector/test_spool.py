"""The write-ahead spool on real files: group commit, the byte bound, slots per process, and
adoption of what a dead process left behind."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from collector.spool import Spool, SpoolFull
from collector.synchelper import send_request


def lines(n: int, tag: str = "x") -> list[bytes]:
    return [f'{{"n":{i},"tag":"{tag}"}}'.encode() for i in range(n)]


def held_under(directory: Path, pid: int | str = "self") -> list[str]:
    """The paths under `directory` that process `pid` holds open."""
    names = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            names.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
    return sorted(n for n in names if n.startswith(str(directory)))


def test_concurrent_appends_share_one_fsync(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, segment_rows=10_000, segment_age_s=60)

    async def many() -> None:
        await asyncio.gather(*(spool.append([line]) for line in lines(100)))

    asyncio.run(many())
    assert spool.appended == 100
    assert 1 <= spool.fsyncs < 100
    [segment] = spool.segments()
    assert segment.read_bytes().count(b"\n") == 100
    spool.close()
    assert [p.suffix for p in spool.segments()] == [".seg"]


def test_a_write_is_acknowledged_only_once_the_helper_synced_it(tmp_path: Path) -> None:
    """The sync helper is a separate process syncing the segment through its own descriptor
    (closed once synced): an append returns once it answered, and it goes away with the spool."""
    spool = Spool(tmp_path, 1 << 20, segment_rows=10_000, segment_age_s=60)
    asyncio.run(spool.append(lines(3)))
    assert spool.fsyncs == 1
    helper = spool._helper
    assert helper is not None and helper.poll() is None and helper.pid != os.getpid()
    segment = spool.segments()[0]
    held = {
        os.path.realpath(f"/proc/{helper.pid}/fd/{fd}")
        for fd in os.listdir(f"/proc/{helper.pid}/fd")
    }
    assert str(segment) not in held  # closed once synced: a deleted segment it held kept its space
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C / a group stop: it waits for the server
        os.kill(helper.pid, sig)
    asyncio.run(spool.append(lines(1)))
    assert helper.poll() is None and spool.fsyncs == 2
    spool.close()
    assert helper.poll() == 0
    [segment] = spool.segments()
    assert segment.read_bytes().count(b"\n") == 4


def test_a_helper_that_dies_mid_sync_costs_a_503_and_the_next_append_gets_a_new_one(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, 1 << 20, segment_rows=10_000, segment_age_s=60)

    async def scenario() -> None:
        await spool.append(lines(2, "kept"))
        helper = spool._helper
        assert helper is not None
        os.kill(helper.pid, signal.SIGSTOP)  # a sync is asked for and never answered...
        refused = asyncio.ensure_future(spool.append(lines(2, "refused")))
        await asyncio.sleep(0.1)
        assert not refused.done()
        helper.kill()  # ...then SIGKILL: what it had not confirmed may not be promised
        with pytest.raises(SpoolFull):
            await asyncio.wait_for(refused, 10)
        await spool.append(lines(2, "after"))  # a new helper
        assert spool._helper is not helper

    asyncio.run(scenario())
    spool.close()
    data = b"".join(p.read_bytes() for p in spool.segments())
    assert data.count(b"kept") == 2 and data.count(b"after") == 2
    assert b"refused" not in data  # cut from the segment: a retry will not be a duplicate
    assert spool.bytes == len(data)


def test_the_bound_refuses_and_frees(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1024, segment_rows=10_000, segment_age_s=60)
    asyncio.run(spool.append(lines(20)))  # ~300 bytes
    with pytest.raises(SpoolFull):
        asyncio.run(spool.append([b"y" * 800]))
    assert spool.bytes == sum(len(line) + 1 for line in lines(20))
    spool.seal_if_due(force=True)
    [segment] = spool.sealed()
    spool.remove(segment)
    assert spool.bytes == 0
    asyncio.run(spool.append([b"y" * 800]))  # room again
    spool.close()


def test_segments_seal_at_the_row_count(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, segment_rows=10, segment_age_s=60)
    for _ in range(3):
        asyncio.run(spool.append(lines(5)))
    assert len(spool.sealed()) == 1  # 10 rows sealed, 5 still open
    assert len(spool.segments()) == 2
    spool.close()


def test_each_process_gets_its_own_slot_and_a_dead_ones_segments_are_adopted(
    tmp_path: Path,
) -> None:
    a = Spool(tmp_path, 1 << 20, 1000, 60)
    b = Spool(tmp_path, 1 << 20, 1000, 60)  # flock is per open file: a second claimant in-process
    assert a.directory != b.directory
    asyncio.run(b.append(lines(3, "b")))
    os.close(b._slot_fd)  # b dies without sealing: its open segment is left behind, unlocked
    c = Spool(tmp_path, 1 << 20, 1000, 60)  # starts while a still runs
    assert c.directory == b.directory  # the free slot is taken again...
    [adopted] = c.sealed()  # ...and its leftover sealed for sending
    assert adopted.read_bytes().count(b'"tag":"b"') == 3
    assert c.bytes == adopted.stat().st_size
    asyncio.run(a.append(lines(2, "a")))
    a.close()
    d = Spool(tmp_path, 1 << 20, 1000, 60)  # a's slot is free and holds a's sealed segment
    assert d.directory == a.directory
    assert [p.read_bytes().count(b'"tag":"a"') for p in d.sealed()] == [2]
    c.close()
    d.close()


FAILED_WRITE = """
import asyncio, json, resource, signal, sys, time
from pathlib import Path
from collector.spool import RETRY_WRITE_S, Spool, SpoolFull

spool = Spool(Path(sys.argv[1]), 1 << 20, segment_rows=10_000, segment_age_s=60)
good = [b'{"n":%d}' % i for i in range(10)]
asyncio.run(spool.append(good))
before = spool.bytes
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit write() fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

async def two_requests():  # neither fits, batched together or not: both are refused
    return await asyncio.gather(spool.append([b"a" * 4000]), spool.append([b"b" * 4000]),
                                return_exceptions=True)

results = asyncio.run(two_requests())
out = {"refused": [type(r).__name__ for r in results], "bytes_kept": spool.bytes == before,
       "error": spool.last_error}
time.sleep(RETRY_WRITE_S)  # until then it refuses without trying
asyncio.run(spool.append([b'{"n":"after"}']))  # a fresh segment: the disk works again
spool.close()
out["segments"] = [p.read_bytes().decode() for p in spool.segments()]
print(json.dumps(out))
"""


def test_a_failed_write_refuses_its_batch_and_keeps_what_was_acknowledged(tmp_path: Path) -> None:
    """A real write error (the file-size limit: EFBIG), in a child process: the waiting
    requests get SpoolFull (503), the reserved bytes are given back, the segment is cut back
    to its acknowledged lines and sealed, and the next append goes to a new segment."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", FAILED_WRITE, str(tmp_path / "spool")],
        capture_output=True, text=True, timeout=120, cwd=root, env={"PYTHONPATH": str(root)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["refused"] == ["SpoolFull", "SpoolFull"]
    assert result["bytes_kept"] is True
    assert "File too large" in result["error"]  # EFBIG
    first, second = result["segments"]
    assert first == "".join(f'{{"n":{i}}}\n' for i in range(10))
    assert second == '{"n":"after"}\n'


def test_segments_sealed_between_syncs_are_synced_and_let_go(tmp_path: Path) -> None:
    """With the helper stopped, 100 batches each fill and seal a segment: every sealed segment's
    descriptor rides on a sync request and is closed once sent, and all is confirmed at once
    when the helper resumes. Nothing of the spool stays open but its lock."""
    spool = Spool(tmp_path, 1 << 20, segment_rows=2, segment_age_s=60)

    async def scenario() -> None:
        await spool.append(lines(1, "first"))
        helper = spool._helper
        assert helper is not None
        os.kill(helper.pid, signal.SIGSTOP)
        pending = []
        for i in range(100):
            pending.append(asyncio.ensure_future(spool.append(lines(2, f"b{i}"))))
            await asyncio.sleep(0)  # one batch per turn of the loop
        await asyncio.sleep(0.05)
        assert not any(p.done() for p in pending)
        os.kill(helper.pid, signal.SIGCONT)
        await asyncio.wait_for(asyncio.gather(*pending), 30)

    asyncio.run(scenario())
    assert spool._sealed_unsent == []
    assert held_under(tmp_path) == [str(spool.directory / ".lock")]
    data = b"".join(p.read_bytes() for p in spool.segments())
    assert data.count(b"\n") == 201
    spool.close()


def test_a_request_carrying_more_descriptors_than_one_message_holds_is_split(
    tmp_path: Path,
) -> None:
    """Past FDS_PER_MESSAGE descriptors (253 is the kernel's limit per message) a sync request is
    sent in parts; the helper syncs and closes every one, and answers the last part's batch."""
    spool = Spool(tmp_path, 1 << 20, segment_rows=10_000, segment_age_s=60)
    asyncio.run(spool.append(lines(1)))  # the helper is up
    helper, sock = spool._helper, spool._sock
    assert helper is not None and sock is not None
    files = [os.open(tmp_path / f"f{i}", os.O_WRONLY | os.O_CREAT, 0o600) for i in range(150)]
    sock.setblocking(True)
    send_request(sock, b"99\n", files)
    answers = b""
    while not answers.endswith(b"99 0\n"):
        answers += sock.recv(4096)
    assert answers.split(b"\n")[-2] == b"99 0"
    for fd in files:
        os.close(fd)
    assert held_under(tmp_path, helper.pid) == [str(spool.directory)]  # only its directory
    sock.setblocking(False)
    spool.close()
