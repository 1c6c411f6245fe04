"""The embedded broker (tasks/fs_transport.py): whole messages, one reader each, a folder per
queue, and temporary queues that go with their process; real processes, real files.

The tests that need no knowledge of the layout run against the transport named by
FS_TRANSPORT_UNDER_TEST (default ours). Pointed at kombu's own, they fail:
FS_TRANSPORT_UNDER_TEST=kombu.transport.filesystem:Transport pytest tests/tasks/test_fs_transport.py
"""

from __future__ import annotations

import collections
import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Producer, Queue
from kombu.utils.imports import symbol_by_name

from tasks import fs_transport
from tests.e2e.processes import ROOT

UNDER_TEST = os.environ.get("FS_TRANSPORT_UNDER_TEST", "tasks.fs_transport:Transport")
ours = pytest.mark.skipif(
    UNDER_TEST != "tasks.fs_transport:Transport", reason="reads tasks/fs_transport.py's layout"
)


def options(root: Path) -> dict[str, Any]:
    return {
        "data_folder": str(root / "queues"),
        "data_folder_in": str(root / "queues"),
        "data_folder_out": str(root / "queues"),
        "control_folder": str(root / "exchanges"),
        "polling_interval": 0.01,
    }


def connect(root: Path, **extra: Any) -> Connection:
    for name in ("queues", "exchanges"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return Connection(
        "filesystem://",
        transport=symbol_by_name(UNDER_TEST),
        transport_options=options(root) | extra,
    )


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Connection]:
    with connect(tmp_path) as connection:
        yield connection


# --- many writers and readers ---

WRITERS, READERS, PER_WRITER = 4, 4, 5_000
PAD = "x" * 2_000  # a message of a few KB, as a task's is: a write is not one instant


def body(writer: int, n: int) -> dict[str, Any]:
    text = f"{writer}:{n}:{PAD}"
    return {"w": writer, "n": n, "text": text, "sum": hashlib.sha1(text.encode()).hexdigest()}  # noqa: S324


def write_many(root: str, writer: int) -> None:
    with connect(Path(root)) as connection:
        channel = connection.channel()
        queue = Queue("stress", Exchange("stress", "direct"), "stress")
        producer = Producer(channel)
        for n in range(PER_WRITER):
            producer.publish(
                body(writer, n),
                exchange=queue.exchange,
                routing_key="stress",
                declare=[queue] if n == 0 else [],
                serializer="json",
            )


def read_many(root: str, reader: int, writers_done: Any) -> None:
    got: list[str] = []
    try:
        with connect(Path(root)) as connection:
            channel = connection.channel()
            queue = Queue("stress", Exchange("stress", "direct"), "stress")
            queue(channel).declare()
            empties = 0
            while empties < 3:  # three empty reads after the writers finished: drained
                message = channel.basic_get("stress", no_ack=True)
                if message is None:
                    empties = empties + 1 if writers_done.is_set() else 0
                    time.sleep(0.005)
                    continue
                payload = message.decode()
                whole = hashlib.sha1(payload["text"].encode()).hexdigest() == payload["sum"]  # noqa: S324
                got.append(f"{payload['w']}:{payload['n']}" if whole else "corrupt")
    finally:
        Path(root, f"reader-{reader}.txt").write_text("\n".join(got))


@pytest.mark.timeout(600)  # 20,000 fsyncs: 40 s on 2 loaded cores, give a busier machine room
def test_many_writers_and_readers_lose_duplicate_and_corrupt_nothing(tmp_path: Path) -> None:
    (tmp_path / "queues").mkdir()
    (tmp_path / "exchanges").mkdir()
    fork = multiprocessing.get_context("fork")
    writers_done = fork.Event()
    readers = [
        fork.Process(target=read_many, args=(str(tmp_path), r, writers_done))
        for r in range(READERS)
    ]
    writers = [fork.Process(target=write_many, args=(str(tmp_path), w)) for w in range(WRITERS)]
    for proc in readers + writers:
        proc.start()
    deadline = time.monotonic() + 540
    for proc in writers:
        proc.join(max(1.0, deadline - time.monotonic()))
    writers_done.set()
    for proc in readers:
        proc.join(max(1.0, deadline - time.monotonic()))
    for proc in readers + writers:
        if proc.is_alive():
            proc.kill()
    codes = [proc.exitcode for proc in writers + readers]

    got = collections.Counter()
    for r in range(READERS):
        file = tmp_path / f"reader-{r}.txt"
        got.update(
            line for line in file.read_text().splitlines() if line
        ) if file.exists() else None
    sent = {f"{w}:{n}" for w in range(WRITERS) for n in range(PER_WRITER)}
    assert codes == [0] * (WRITERS + READERS), f"crashed or hung: exit codes {codes}"
    assert got["corrupt"] == 0
    assert [m for m, k in got.items() if k > 1] == [], "delivered twice"
    assert sorted(sent - set(got)) == [], "lost"
    assert len(got) == WRITERS * PER_WRITER


# --- the cost of a poll ---


class Listed:
    """Counts the directory entries a process's polls read (os.scandir and os.listdir)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entries = 0
        scandir, listdir = os.scandir, os.listdir

        def counting_scandir(path: Any = ".") -> Any:
            entries = list(scandir(path))
            self.entries += len(entries)
            return _Entries(entries)

        def counting_listdir(path: Any = ".") -> list[str]:
            names = listdir(path)
            self.entries += len(names)
            return names

        monkeypatch.setattr(os, "scandir", counting_scandir)
        monkeypatch.setattr(os, "listdir", counting_listdir)


class _Entries(list[Any]):
    def __enter__(self) -> _Entries:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def publish(conn: Connection, queue: Queue, count: int) -> None:
    producer = Producer(conn.channel())
    for n in range(count):
        producer.publish(
            {"n": n},
            exchange=queue.exchange,
            routing_key=queue.routing_key,
            declare=[queue] if n == 0 else [],
            serializer="json",
            delivery_mode=1,
        )


def test_a_poll_reads_its_own_queue_only_and_draining_is_linear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connect(tmp_path, sweep_interval=3600)  # a process's first channel sweeps, then not
    dead = Queue("dead", Exchange("dead", "direct"), "dead")
    live = Queue("live", Exchange("live", "direct"), "live")
    publish(conn, dead, 3_000)  # a backlog nobody reads
    publish(conn, live, 500)
    channel = conn.channel()
    channel.basic_get("live", no_ack=True)
    listed = Listed(monkeypatch)
    got = 1
    while channel.basic_get("live", no_ack=True) is not None:
        got += 1
    assert got == 500
    # kombu's transport lists every file of every queue on each poll: 500 × 3,500 entries.
    assert listed.entries <= 2 * 500, listed.entries
    listed.entries = 0
    for _ in range(100):  # an idle consumer's polls
        assert channel.basic_get("live", no_ack=True) is None
    assert listed.entries == 0
    conn.release()


# --- temporary queues ---

EVENTS = Exchange("celeryev", "topic")


def event_queue(name: str) -> Queue:
    """As Celery's event receiver (Flower) declares its queue."""
    return Queue(name, EVENTS, routing_key="#", auto_delete=True, durable=False)


def send_events(conn: Connection, count: int) -> None:
    producer = Producer(conn.channel(), exchange=EVENTS)
    for n in range(count):
        producer.publish(
            {"type": "worker-heartbeat", "n": n},
            routing_key="worker.heartbeat",
            serializer="json",
            delivery_mode=1,
        )


def bound(conn: Connection) -> set[str]:
    return {row.queue for row in conn.default_channel.get_table("celeryev")}


def hold_event_queue(root: str, name: str, ready: Any) -> None:
    connection = connect(Path(root))
    event_queue(name)(connection.channel()).declare()
    ready.set()
    time.sleep(600)


def test_a_killed_consumers_event_queue_goes_and_gathers_nothing(
    tmp_path: Path, conn: Connection
) -> None:
    event_queue("celeryev.live")(conn.channel()).declare()
    fork = multiprocessing.get_context("fork")
    ready = fork.Event()
    child = fork.Process(target=hold_event_queue, args=(str(tmp_path), "celeryev.dead", ready))
    child.start()
    try:
        assert ready.wait(60), "the consumer did not declare its queue"
        assert bound(conn) == {"celeryev.live", "celeryev.dead"}
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join()
    send_events(conn, 200)
    channel = conn.default_channel
    assert channel._size("celeryev.live") == 200
    assert channel._size("celeryev.dead") == 0  # kombu's transport: 200, and growing
    assert bound(conn) == {"celeryev.live"}
    if UNDER_TEST == "tasks.fs_transport:Transport":
        assert not (tmp_path / "queues" / "celeryev.dead").exists()


def test_a_closed_connection_takes_its_queue_away(tmp_path: Path, conn: Connection) -> None:
    with connect(tmp_path) as other:
        event_queue("celeryev.closing")(other.channel()).declare()
        assert bound(conn) == {"celeryev.closing"}
    assert bound(conn) == set()
    send_events(conn, 5)
    assert conn.default_channel._size("celeryev.closing") == 0


def test_a_process_that_exits_without_closing_takes_its_queue_away(
    tmp_path: Path, conn: Connection
) -> None:
    """Flower and `celery inspect` never close their connections."""
    code = textwrap.dedent(f"""
        from pathlib import Path
        from tests.tasks.test_fs_transport import connect, event_queue
        connection = connect(Path({str(tmp_path)!r}))
        event_queue("celeryev.exiting")(connection.channel()).declare()
        consumer = connection.Consumer([event_queue("celeryev.exiting")], no_ack=True)
        consumer.consume()
    """)
    env = os.environ | {"FS_TRANSPORT_UNDER_TEST": UNDER_TEST}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=120)
    assert bound(conn) == set()
    assert not any((tmp_path / "queues").glob("celeryev*"))


@ours
def test_one_channel_failing_at_exit_does_not_leave_the_others_queues(
    tmp_path: Path, conn: Connection, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    with connect(tmp_path) as first, connect(tmp_path) as second:
        failing, other = first.channel(), second.channel()
        event_queue("celeryev.failing")(failing).declare()
        event_queue("celeryev.other")(other).declare()
        assert bound(conn) == {"celeryev.failing", "celeryev.other"}

        def broken() -> None:
            raise RuntimeError("not a kombu error")

        monkeypatch.setattr(failing, "delete_temporary_queues", broken)
        monkeypatch.setattr(fs_transport, "_open_channels", [failing, other])
        with caplog.at_level("ERROR", logger=fs_transport.logger.name):
            fs_transport._delete_temporary_queues_at_exit()
        assert bound(conn) == {"celeryev.failing"}
        assert "not a kombu error" in caplog.text
        monkeypatch.undo()


@ours
def test_a_queue_two_processes_consume_stays_while_one_lives(
    tmp_path: Path, conn: Connection
) -> None:
    event_queue("celeryev.shared")(conn.channel()).declare()
    with connect(tmp_path) as other:
        event_queue("celeryev.shared")(other.channel()).declare()
    send_events(conn, 3)
    assert bound(conn) == {"celeryev.shared"}
    assert conn.default_channel._size("celeryev.shared") == 3


@ours
def test_a_task_makes_its_queue_but_a_transient_message_makes_none(
    tmp_path: Path, conn: Connection
) -> None:
    producer = Producer(conn.channel())
    producer.publish({"task": 7}, routing_key="undeclared")  # the default exchange
    producer.publish({"event": 1}, routing_key="celeryev.gone", delivery_mode=1)
    assert conn.default_channel._size("undeclared") == 1
    assert not (tmp_path / "queues" / "celeryev.gone").exists()


# --- what a reader sees ---


@ours
def test_a_reader_never_sees_a_message_still_being_written(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = Queue("tasks", Exchange("tasks", "direct"), "tasks")
    reader = conn.channel()
    queue(reader).declare()
    seen_mid_write: list[object] = []
    fsync = os.fsync

    def read_then_fsync(fd: int) -> None:
        seen_mid_write.append(reader.basic_get("tasks", no_ack=True))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", read_then_fsync)
    Producer(conn.channel()).publish({"task": 1}, exchange=queue.exchange, routing_key="tasks")
    monkeypatch.undo()
    assert seen_mid_write == [None]  # kombu's transport: the empty file, and a JSONDecodeError
    message = reader.basic_get("tasks", no_ack=True)
    assert message is not None
    assert message.decode() == {"task": 1}


@ours
def test_a_message_that_is_not_json_is_set_aside_not_raised(
    tmp_path: Path, conn: Connection
) -> None:
    queue = Queue("tasks", Exchange("tasks", "direct"), "tasks")
    channel = conn.channel()
    queue(channel).declare()
    (tmp_path / "queues" / "tasks" / f"{0:020d}-empty.msg").write_bytes(b"")
    (tmp_path / "queues" / "tasks" / f"{1:020d}-not-kombu.msg").write_bytes(b'{"task": 0}')
    Producer(channel).publish({"task": 2}, exchange=queue.exchange, routing_key="tasks")
    message = channel.basic_get("tasks")
    assert message is not None
    assert message.decode() == {"task": 2}
    assert sorted(p.name for p in (tmp_path / "queues" / ".corrupt").iterdir()) == [
        f"tasks#{0:020d}-empty.msg",
        f"tasks#{1:020d}-not-kombu.msg",
    ]


def hold_unacked(root: str, got: Any) -> None:
    connection = connect(Path(root))
    message = connection.channel().basic_get("tasks", no_ack=False)
    assert message is not None
    got.set()
    time.sleep(600)


def read_in_a_new_process(root: str, result: Any) -> None:
    with connect(Path(root)) as connection:
        message = connection.channel().basic_get("tasks", no_ack=True)
        result.put(None if message is None else message.decode())


def test_a_message_held_unacked_by_a_killed_worker_is_delivered_again(
    tmp_path: Path, conn: Connection
) -> None:
    queue = Queue("tasks", Exchange("tasks", "direct"), "tasks")
    channel = conn.channel()
    queue(channel).declare()
    Producer(channel).publish({"task": 4}, exchange=queue.exchange, routing_key="tasks")
    fork = multiprocessing.get_context("fork")
    got = fork.Event()
    holder = fork.Process(target=hold_unacked, args=(str(tmp_path), got))
    holder.start()
    try:
        assert got.wait(60), "the worker did not take the message"
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
    result = fork.SimpleQueue()
    reader = fork.Process(target=read_in_a_new_process, args=(str(tmp_path), result))
    reader.start()  # a process's first channel sweeps: what the dead one held goes back
    reader.join(60)
    # kombu's transport acks on read: lost with its worker.
    assert result.get() == {"task": 4}


@ours
def test_an_acked_message_leaves_nothing_and_a_rejected_one_comes_back(
    tmp_path: Path, conn: Connection
) -> None:
    queue = Queue("tasks", Exchange("tasks", "direct"), "tasks")
    channel = conn.channel()
    queue(channel).declare()
    producer = Producer(channel)
    for n in (5, 6):
        producer.publish({"task": n}, exchange=queue.exchange, routing_key="tasks")
    inflight = channel.broker.inflight
    first = channel.basic_get("tasks")
    assert len(list(inflight.iterdir())) == 1
    first.ack()
    assert list(inflight.iterdir()) == []
    second = channel.basic_get("tasks")
    second.reject(requeue=True)
    assert list(inflight.iterdir()) == []
    again = channel.basic_get("tasks")
    assert again.decode() == {"task": 6}
    again.reject(requeue=False)
    assert list(inflight.iterdir()) == []
    assert channel.basic_get("tasks") is None


def die_while_reading(root: str) -> None:
    def killed(self: Any, claimed: Path) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    fs_transport.Channel._read_claimed = killed  # type: ignore[method-assign]
    with connect(Path(root)) as connection:
        connection.channel().basic_get("tasks", no_ack=True)


@ours
def test_a_message_a_killed_reader_claimed_goes_back_to_its_queue(
    tmp_path: Path, conn: Connection
) -> None:
    queue = Queue("tasks", Exchange("tasks", "direct"), "tasks")
    channel = conn.channel()
    queue(channel).declare()
    Producer(channel).publish({"task": 3}, exchange=queue.exchange, routing_key="tasks")
    child = multiprocessing.get_context("fork").Process(
        target=die_while_reading, args=(str(tmp_path),)
    )
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    assert channel.basic_get("tasks", no_ack=True) is None  # claimed by the dead reader
    channel.broker.sweep(channel._unbind_everywhere)
    message = channel.basic_get("tasks", no_ack=True)
    assert message is not None
    assert message.decode() == {"task": 3}
