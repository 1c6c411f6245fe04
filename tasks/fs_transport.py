"""kombu's filesystem transport, safe with many processes and cheap to poll (the embedded broker).

celeryconfig.py selects it (`broker_transport`) when the broker is `filesystem://`. kombu's own
transport creates a message file and writes it afterwards, so a reader can take the empty file
and the worker dies of a JSONDecodeError (kombu issue #1551); it keeps every queue's messages in
one folder and lists all of it on every poll; and nothing removes the queue of an event receiver
that died, so every event is copied into it forever. The changes:

1. **Whole messages only.** A message is written under `.tmp/`, fsynced if persistent (tasks;
   events and remote control are transient), and renamed into its queue's folder: a reader
   sees all of it or nothing.
2. **One reader per message.** A reader claims a message by renaming it into its process's
   in-flight folder; a rename succeeds once, so two readers never take the same message. A
   message that cannot be parsed is set aside in `.corrupt/`, never raised to the worker.
3. **A folder per queue.** A poll of queue Q lists Q's folder, so its cost grows with the
   messages in Q, never with other queues' messages. A reader keeps the sorted listing and takes
   from it until it is used up, so draining n messages lists the folder about once, not n times.
4. **Temporary queues go with their process.** A process that declares an `auto_delete` queue
   (an event receiver's `celeryev.<uuid>`, a pidbox or reply queue) holds a shared `flock` on
   `<queue>/.lock` while it lives; the kernel drops it on any death, SIGKILL included. Routing to
   a queue whose lock nobody holds prunes it: its bindings, then its folder. A sweep every
   `sweep_interval` seconds (and at a process's first channel) does the same for every queue.
   A channel that closes, or a process that exits (Flower never closes its connections),
   deletes its temporary queues at once.
5. **Exchange tables rewritten whole.** A binding table (`control_folder/<exchange>.exchange`,
   kombu's format) is replaced by a rename under an exclusive lock on `<exchange>.exchange.lock`,
   so a reader never parses a half-written table either.
6. **Nothing lost with its reader.** A message read with acknowledgement stays in its reader's
   in-flight folder until acked (`acks_late`); rejected with requeue, or unacked when the channel
   closes, it is put back, as kombu does. If the reader process dies (SIGKILL included) its
   in-flight lock is free, and the next sweep by any process puts its messages back in their
   queues, in their old places. There is no visibility timeout: a live reader keeps what it
   holds (Celery's time limits end a stuck task).

Layout under the `data_folder` transport option:

    <queue>/<time>-<uuid>.msg   a queue's messages, oldest first by name (<queue> is quoted)
    <queue>/.lock               a temporary queue's liveness lock
    .tmp/                       messages being written
    .inflight/<owner>/          messages a reader process holds unacked; <owner>.lock is its life
    .trash/, .corrupt/          queues being deleted; messages that could not be parsed

The old layout (kombu's: every message in one folder) is not read.

kombu internals overridden: `Transport.state` (one per data folder, not one per process); in
kombu.transport.filesystem.Channel `_put`, `_put_fanout`, `_get`, `_size`, `_purge`, `_delete`,
`_new_queue`, `get_table`, `_queue_bind`, `queue_delete`, `close`; and from the virtual channel,
to hold a message until its ack, `basic_consume`, `basic_get`, `basic_ack`, `basic_reject` and
`_restore`.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.transport.virtual import BrokerState

from tasks import temporary_queues
from tasks.fs_broker import (
    BROKERS,
    CORRUPT,
    LOCK,
    MESSAGE,
    PERSISTENT,
    TMP,
    Broker,
    folder_name,
    hold,
    release,
)

logger = logging.getLogger(__name__)

Table = list[filesystem.exchange_queue_t]


class Channel(filesystem.Channel):
    # kombu's channel methods are untyped; the calls into them below say so.

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._pid = os.getpid()
        self._temporary: dict[str, int] = {}  # auto_delete queue declared here -> its lock
        self._listings: dict[str, deque[str]] = {}  # queue -> names not yet tried
        self._no_ack: dict[str, bool] = {}  # queue -> read without acknowledgement
        self._claimed: dict[str, list[Path]] = {}  # delivery tag -> claimed, not yet acked
        self.broker.maybe_sweep(self._unbind_everywhere)

    @property
    def root(self) -> Path:
        options = self.transport_options
        return Path(options.get("data_folder") or options.get("data_folder_in", "data_in"))

    @property
    def broker(self) -> Broker:
        key = (str(self.root), os.getpid())
        if key not in BROKERS:
            interval = float(self.transport_options.get("sweep_interval", 5.0))
            BROKERS[key] = Broker(self.root, interval)
        return BROKERS[key]

    def _folder(self, queue: str) -> Path:
        return self.root / folder_name(queue)

    # --- writing ---

    def _write_tmp(self, payload: Any, sync: bool) -> Path:
        path = self.root / TMP / f"{uuid.uuid4().hex}{MESSAGE}"
        with path.open("xb") as file:
            file.write(json.dumps(payload).encode())
            if sync:
                file.flush()
                os.fsync(file.fileno())
        return path

    @staticmethod
    def _message_name() -> str:
        # Sorting by name is sorting by time: a queue is read oldest first.
        return f"{time.time_ns():020d}-{uuid.uuid4().hex}{MESSAGE}"

    # kombu's two base classes name the message differently; it is passed by position.
    def _put(self, queue: Any, message: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # Only persistent messages (tasks) are fsynced: events and remote control are transient.
        persistent = message.get("properties", {}).get("delivery_mode") == PERSISTENT
        sync = persistent and bool(self.transport_options.get("fsync", True))
        tmp = self._write_tmp(message, sync=sync)
        target = self._folder(queue) / self._message_name()
        try:
            try:
                tmp.rename(target)
            except FileNotFoundError:
                if not persistent:
                    # Unroutable, as a broker drops it: a temporary queue pruned a moment ago
                    # (only transient messages go to those) must not come back as an orphan.
                    tmp.unlink()
                    return
                target.parent.mkdir(exist_ok=True)  # as kombu does, a task makes its queue
                tmp.rename(target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ChannelError(f"Cannot add a message to {target.parent}") from exc

    def _put_fanout(self, exchange: Any, payload: Any, routing_key: Any, **kwargs: Any) -> None:
        queues = {binding.queue for binding in self.get_table(exchange)}
        if not queues:
            return
        # One write, a hard link per queue; a queue deleted meanwhile is skipped, not recreated.
        tmp = self._write_tmp(payload, sync=False)
        name = self._message_name()
        try:
            for queue in queues:
                with contextlib.suppress(FileNotFoundError):
                    os.link(tmp, self._folder(queue) / name)
        finally:
            tmp.unlink()

    # --- reading ---

    def _ready(self, folder: Path) -> list[str]:
        try:
            with os.scandir(folder) as entries:
                return sorted(e.name for e in entries if e.name.endswith(MESSAGE))
        except FileNotFoundError:
            return []

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        broker = self.broker
        broker.maybe_sweep(self._unbind_everywhere)
        folder = self._folder(queue)
        pending = self._listings.setdefault(queue, deque())
        listed = False
        while True:
            if not pending:
                if listed:
                    raise Empty()
                pending.extend(self._ready(folder))
                listed = True
                continue
            name = pending.popleft()
            claimed = broker.inflight / f"{folder.name}#{name}"
            try:
                (folder / name).rename(claimed)
            except FileNotFoundError:  # another reader took it
                continue
            payload = self._read_claimed(claimed)
            if payload is None:
                continue
            if self._no_ack.get(queue, False):
                claimed.unlink()
            else:  # kept until acknowledged, put back if this process dies first
                tag = payload["properties"]["delivery_tag"]
                self._claimed.setdefault(tag, []).append(claimed)
            return payload

    def _read_claimed(self, claimed: Path) -> Any:
        data = claimed.read_bytes()
        try:
            payload = json.loads(data)
            payload["properties"]["delivery_tag"]  # what kombu's Message needs
        except (ValueError, TypeError, KeyError):
            # Not written by kombu (our writers rename only whole files).
            logger.error("unreadable message set aside in %s: %r", CORRUPT, data[:200])
            claimed.rename(self.root / CORRUPT / claimed.name)
            return None
        return payload

    # --- acknowledgement ---

    def basic_consume(self, queue: Any, no_ack: Any, *args: Any, **kwargs: Any) -> Any:
        self._no_ack[queue] = bool(no_ack)
        return super().basic_consume(queue, no_ack, *args, **kwargs)  # type: ignore[no-untyped-call]

    def basic_get(self, queue: Any, no_ack: Any = False, **kwargs: Any) -> Any:
        self._no_ack[queue] = bool(no_ack)
        return super().basic_get(queue, no_ack, **kwargs)  # type: ignore[no-untyped-call]

    def _forget(self, delivery_tag: Any) -> None:
        claimed = self._claimed.get(delivery_tag)
        if claimed:
            claimed.pop(0).unlink(missing_ok=True)
            if not claimed:
                del self._claimed[delivery_tag]

    def basic_ack(self, delivery_tag: Any, multiple: Any = False) -> None:
        super().basic_ack(delivery_tag, multiple)  # type: ignore[no-untyped-call]
        self._forget(delivery_tag)

    def basic_reject(self, delivery_tag: Any, requeue: Any = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # type: ignore[no-untyped-call]
        if not requeue:  # else _restore has put it back and forgotten it
            self._forget(delivery_tag)

    def _restore(self, message: Any) -> None:
        super()._restore(message)  # type: ignore[no-untyped-call]
        self._forget(message.delivery_tag)

    def _size(self, queue: Any) -> int:
        return len(self._ready(self._folder(queue)))

    def _purge(self, queue: Any) -> int:
        folder = self._folder(queue)
        self._listings.pop(queue, None)
        count = 0
        for name in self._ready(folder):
            with contextlib.suppress(FileNotFoundError):
                (folder / name).unlink()
                count += 1
        return count

    # --- queues ---

    def _new_queue(self, queue: Any, **kwargs: Any) -> None:
        folder = self._folder(queue)
        if not kwargs.get("auto_delete"):
            folder.mkdir(exist_ok=True)
            return
        if queue in self._temporary:
            return
        while True:  # a sweep may delete a folder with a free lock before this takes it
            folder.mkdir(exist_ok=True)
            fd = hold(folder / LOCK)
            if fd is not None:
                break
        self._temporary[queue] = fd
        _open_channels.add(self)

    def queue_delete(
        self, queue: Any, if_unused: Any = False, if_empty: Any = False, **kwargs: Any
    ) -> None:
        if if_empty and self._size(queue):
            return
        super().queue_delete(queue, if_unused, if_empty, **kwargs)  # type: ignore[no-untyped-call]
        fd = self._temporary.pop(queue, None)
        if fd is not None:
            release(fd)
        self._unbind_everywhere(queue)
        self.broker.trash(self._folder(queue))

    def delete_temporary_queues(self) -> None:
        """Delete the auto_delete queues declared here, unless another live process holds one."""
        if os.getpid() != self._pid:
            return  # a forked child must not delete its parent's queues
        while self._temporary:
            queue, fd = self._temporary.popitem()
            self._listings.pop(queue, None)
            self.state.queue_bindings_delete(queue)
            release(fd)
            self.broker.alive(queue, self._unbind_everywhere)

    def close(self) -> None:
        temporary_queues.stop_and_delete(self)
        _open_channels.discard(self)
        super().close()  # type: ignore[no-untyped-call]

    # --- exchange tables ---

    def _read_table(self, file: Path) -> Table:
        try:
            rows = json.loads(file.read_bytes())
        except FileNotFoundError:
            return []
        except ValueError as exc:
            raise ChannelError(f"Cannot read the exchange table {file}") from exc
        return [filesystem.exchange_queue_t(*row) for row in rows]

    def _change_table(self, exchange: Any, change: Callable[[Table], Table]) -> None:
        """Rewrite an exchange's table whole, under its lock: readers see the old or the new."""
        file: Path = self._exchange_file(exchange)  # type: ignore[no-untyped-call]
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{file}{LOCK}", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            table = self._read_table(file)
            changed = change(list(table))
            if changed == table:
                return
            tmp = file.with_name(f".{file.name}.{uuid.uuid4().hex}")
            tmp.write_text(json.dumps(changed))
            tmp.replace(file)

    def get_table(self, exchange: Any) -> Table:
        table = self._read_table(self._exchange_file(exchange))  # type: ignore[no-untyped-call]
        alive = self.broker.alive
        return [row for row in table if alive(row.queue, self._unbind_everywhere)]

    def _queue_bind(self, exchange: Any, routing_key: Any, pattern: Any, queue: Any) -> None:
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda table: table if row in table else [row, *table])

    def _delete(
        self, queue: Any, exchange: Any, routing_key: Any, pattern: Any, *args: Any, **kwargs: Any
    ) -> None:
        self._purge(queue)
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda table: [r for r in table if r != row])

    def _unbind_everywhere(self, queue: str) -> None:
        """Remove every binding of `queue`, in every exchange's table."""
        for file in self.control_folder.glob("*.exchange"):
            exchange = file.name.removesuffix(".exchange")
            self._change_table(exchange, lambda table: [r for r in table if r.queue != queue])


class Transport(filesystem.Transport):
    Channel = Channel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)  # type: ignore[no-untyped-call]
        # kombu shares one state (the bindings it has made) among all its filesystem connections
        # in a process; two data folders need two, or a binding made in one is skipped in the other.
        root = client.transport_options.get("data_folder") or client.transport_options.get(
            "data_folder_in", "data_in"
        )
        self.state = _states.setdefault(str(root), BrokerState())  # type: ignore[no-untyped-call]


_states: dict[str, BrokerState] = {}


# Channels holding temporary queues. Flower and `celery inspect` never close their connections,
# so what they declared is deleted at exit (after a SIGKILL, by the next sweep or route).
_open_channels: weakref.WeakSet[Channel] = weakref.WeakSet()


@atexit.register
def _delete_temporary_queues_at_exit() -> None:
    for channel in list(_open_channels):
        if channel.connection is None:
            continue
        try:
            channel.delete_temporary_queues()
        except Exception:  # one channel's trouble must not leave the others' queues behind
            logger.exception("could not delete a channel's temporary queues at exit")
