"""kombu's SQS transport, with what Celery events and remote control (so Flower) need on SQS.

celeryconfig.py selects it (`broker_transport`) when the broker is `sqs://`. kombu's SQS transport
keeps exchange bindings in each process's memory, so a message routed by a binding another
process made goes nowhere. The changes:

1. **Broadcasts as SNS fanouts.** The exchanges named in the `fanout_exchanges` transport option
   (Celery's `celeryev` events and `celery.pidbox` remote-control commands) are fanouts, which
   kombu >= 5.7 delivers through an SNS topic of the same name to every subscribed SQS queue
   (`supports_fanout`). With that option the transport says it has fanout exchanges, which is
   what makes Celery start a worker's remote control (celery/worker/consumer/control.py).
2. **Replies by name.** A remote-control reply goes to a `reply_exchanges` exchange with the
   asking client's oid as routing key; kombu's pidbox names the client's queue
   `<oid>.<exchange>` (kombu.pidbox.Mailbox.get_reply_queue). The worker resolves that name,
   since it cannot see the client's binding. A reply for a client that has gone is dropped.
3. **Temporary queues go.** SQS has no auto-delete: the queues declared `auto_delete` (event
   receivers, pidbox and reply queues) are unsubscribed from SNS and deleted when their channel
   closes, or when the process exits (Flower and `celery inspect` never close their
   connections). Their retention is the declared message TTL, so a killed process's queues
   hold little. SQS refuses for 60 s to recreate a deleted queue's name; that case is waited out.
4. **No-ack queues outside a worker.** A consumer with `no_ack` (Flower's event receiver, a
   reply queue) has each message deleted as it is read, through kombu's asynchronous client;
   that client needs the event loop only a Celery worker runs, so elsewhere the read fails
   ("'NoneType' object has no attribute 'on_close'"). Without an event loop the delete goes
   through the plain boto3 client; and a blocking read waits at most the caller's timeout
   (an inspect's reply window), not a whole long poll.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import weakref
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from kombu.exceptions import KombuError
from kombu.transport import SQS
from kombu.transport.SQS.exceptions import UndefinedQueueException

from tasks import temporary_queues

logger = logging.getLogger(__name__)

# SQS keeps messages 60 s to 14 days.
MIN_RETENTION, MAX_RETENTION = 60, 14 * 24 * 3600
# How long to retry creating a queue whose name was deleted less than 60 s ago.
RECREATE_PATIENCE = 75.0
_TTL = "message_ttl"  # seconds, from prepare_queue_arguments to _new_queue


def _error_code(exc: ClientError) -> str:
    # boto3 sees either the JSON protocol's code or the legacy "AWS.SimpleQueueService.<code>".
    return str(exc.response.get("Error", {}).get("Code", ""))


def _queue_missing(exc: ClientError) -> bool:
    return _error_code(exc).endswith(("NonExistentQueue", "QueueDoesNotExist"))


class Channel(SQS.Channel):
    # kombu's channel methods are untyped; the calls into them below say so.
    recreate_interval = 5.0
    _drain_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Deleting the temporary queues and closing go one at a time: the exit hook (main
        # thread) and Flower's event thread closing its channel at the same moment split the
        # queues between them, and a close in the middle left the hook without a connection:
        # it stopped with an AttributeError, and the queues it had not reached stayed.
        self._closing = threading.RLock()
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._temporary: set[str] = set()  # queues declared auto_delete here
        self._retention: dict[str, int] = {}  # SQS queue name -> MessageRetentionPeriod
        self._deleted: set[str] = set()  # temporary queues deleted here, never to be made again
        self._pid = os.getpid()

    @property
    def fanout_exchanges(self) -> frozenset[str]:
        return frozenset(self.transport_options.get("fanout_exchanges", ()))

    @property
    def reply_exchanges(self) -> frozenset[str]:
        return frozenset(self.transport_options.get("reply_exchanges", ()))

    def exchange_declare(
        self, exchange: Any = None, type: Any = "direct", *args: Any, **kwargs: Any
    ) -> Any:
        if exchange in self.fanout_exchanges:
            type = "fanout"
        return super().exchange_declare(exchange, type, *args, **kwargs)  # type: ignore[no-untyped-call]

    def typeof(self, exchange: Any, default: Any = "direct") -> Any:
        if exchange in self.fanout_exchanges:
            return self.exchange_types["fanout"]
        return super().typeof(exchange, default)  # type: ignore[no-untyped-call]

    # --- replies ---

    def _lookup(self, exchange: Any, routing_key: Any, default: Any = None) -> Any:
        if exchange not in self.reply_exchanges:
            return super()._lookup(exchange, routing_key, default)  # type: ignore[no-untyped-call]
        queue = f"{routing_key}.{exchange}"
        return [queue] if self._queue_exists(queue) else []

    def _queue_exists(self, queue: str) -> bool:
        name = self.canonical_queue_name(queue)  # type: ignore[no-untyped-call]
        if name in self._queue_cache:
            return True
        try:
            # GetQueueUrl, not kombu's ListQueues: that may not list a queue made a moment ago.
            url = self.sqs().get_queue_url(QueueName=name)["QueueUrl"]  # type: ignore[no-untyped-call]
        except ClientError as exc:
            if _queue_missing(exc):
                return False  # the client has gone; never create its queue for it
            raise
        self._queue_cache[name] = url
        return True

    def _put(self, queue: Any, message: Any, **kwargs: Any) -> None:
        try:
            super()._put(queue, message, **kwargs)  # type: ignore[no-untyped-call]
        except ClientError as exc:
            reply = any(queue.endswith(f".{e}") for e in self.reply_exchanges)
            if not (reply and _queue_missing(exc)):
                raise
            # Deleted since its URL was cached: the client has gone. Raising would reset the
            # worker's remote control, which deletes and recreates its own queue.
            self._queue_cache.pop(self.canonical_queue_name(queue), None)  # type: ignore[no-untyped-call]
            logger.info("reply to %s dropped: the queue is gone", queue)

    # --- temporary queues ---

    def prepare_queue_arguments(self, arguments: Any, **kwargs: Any) -> Any:
        # kombu's virtual channels drop the message TTL; it becomes a temporary queue's retention.
        ttl = kwargs.get("message_ttl")
        return {**(arguments or {}), _TTL: ttl} if ttl else arguments

    def _new_queue(self, queue: Any, **kwargs: Any) -> Any:
        if queue in self._deleted:
            # kombu resolves (and if missing, creates) a queue on every poll: Flower's event
            # thread, still polling while the exit hook runs, would make its queue again.
            raise UndefinedQueueException(f"{queue!r} was deleted when its channel closed")
        if kwargs.get("auto_delete") and queue not in self.predefined_queues:
            if self.predefined_queues:  # kombu's own message would say to predefine it
                raise UndefinedQueueException(
                    f"{queue!r} is a temporary queue (an event receiver's or a remote-control"
                    " client's): kombu creates no queue when 'predefined_queues' is set"
                )
            self._temporary.add(queue)
            _open_channels.add(self)
            ttl = (kwargs.get("arguments") or {}).get(_TTL)
            if ttl:
                retention = min(max(math.ceil(ttl), MIN_RETENTION), MAX_RETENTION)
                self._retention[self.canonical_queue_name(queue)] = retention  # type: ignore[no-untyped-call]
        return super()._new_queue(queue, **kwargs)  # type: ignore[no-untyped-call]

    def _create_queue(self, queue_name: Any, attributes: Any) -> Any:
        if queue_name in self._retention:
            attributes["MessageRetentionPeriod"] = str(self._retention[queue_name])
        deadline = time.monotonic() + RECREATE_PATIENCE
        while True:
            try:
                return super()._create_queue(queue_name, attributes)  # type: ignore[no-untyped-call]
            except ClientError as exc:
                recent = _error_code(exc).endswith("QueueDeletedRecently")
                if not recent or time.monotonic() > deadline:
                    raise
            # A worker restarted under the same name within a minute of deleting its queue.
            logger.warning("SQS queue %s was deleted less than 60 s ago; waiting", queue_name)
            time.sleep(self.recreate_interval)

    def after_reply_message_received(self, queue: Any) -> None:
        # kombu deletes a reply queue after each call; on SQS its name then could not be used
        # again for a minute, and tasks/remote_control.py reuses it. It goes with the channel.
        pass

    def delete_temporary_queues(self) -> None:
        """Delete the queues this channel declared auto_delete, and their SNS subscriptions."""
        if os.getpid() != self._pid:
            return  # a forked child (a pool process) must not delete its parent's queues
        with self._closing:
            if self.connection is not None:  # else closed meanwhile: its close deleted them
                self._delete_temporary_queues()

    def _delete_temporary_queues(self) -> None:
        while self._temporary:
            queue = self._temporary.pop()
            self._deleted.add(queue)
            try:
                # The subscription first: SNS would go on sending to the deleted queue.
                for exchange, routing_key, arguments in list(self.state.queue_bindings(queue)):
                    if self._exchange_is_fanout(exchange):
                        self.fanout.subscriptions.unsubscribe_queue(queue, exchange)
                    self.queue_unbind(queue, exchange, routing_key, arguments)  # type: ignore[no-untyped-call]
                name = self.canonical_queue_name(queue)  # type: ignore[no-untyped-call]
                url = self._queue_cache.pop(name, None)
                if url is not None:
                    self.sqs().delete_queue(QueueUrl=url)  # type: ignore[no-untyped-call]
            except ClientError as exc:
                if not _queue_missing(exc):
                    logger.warning("could not delete temporary queue %s: %s", queue, exc)
            except (BotoCoreError, KombuError) as exc:
                logger.warning("could not delete temporary queue %s: %s", queue, exc)

    def close(self) -> None:
        if os.getpid() != self._pid:  # a forked copy: the lock may have been held at the fork
            _open_channels.discard(self)
            super().close()  # type: ignore[no-untyped-call]
            return
        with self._closing:
            temporary_queues.stop_and_delete(self)
            _open_channels.discard(self)
            super().close()  # type: ignore[no-untyped-call]

    # --- reads outside a worker ---

    def drain_events(self, timeout: Any = None, callback: Any = None, **kwargs: Any) -> Any:
        self._drain_timeout = timeout
        try:
            return super().drain_events(timeout, callback, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            self._drain_timeout = None

    def _receive_message(
        self, queue: Any, max_number_of_messages: int = 1, wait_time_seconds: int | None = None
    ) -> Any:
        if self._drain_timeout is not None and wait_time_seconds:
            wait_time_seconds = min(wait_time_seconds, max(1, math.ceil(self._drain_timeout)))
        return super()._receive_message(queue, max_number_of_messages, wait_time_seconds)

    def _on_messages_ready(self, queue: Any, qname: Any, messages: Any) -> int:
        # kombu answers a ReceiveMessage that got a 5xx or a timeout with [] so the worker keeps
        # polling, then reads that [] as the response dict: the AttributeError stopped the
        # worker (seen when moto's SQS failed a receive). It is an empty poll.
        if not isinstance(messages, dict):
            return 0
        got: int = super()._on_messages_ready(queue, qname, messages)  # type: ignore[no-untyped-call]
        return got

    def _delete_message(self, queue_name: Any, message: Any) -> None:
        if self.hub is not None:
            super()._delete_message(queue_name, message)  # type: ignore[no-untyped-call]
            return
        sqs_name = self.canonical_queue_name(queue_name)  # type: ignore[no-untyped-call]
        self.sqs(queue=sqs_name).delete_message(  # type: ignore[no-untyped-call]
            QueueUrl=self._new_queue(queue_name),
            ReceiptHandle=message["ReceiptHandle"],
        )


class Transport(SQS.Transport):
    Channel = Channel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)  # type: ignore[no-untyped-call]
        options = client.transport_options
        # kombu says 'direct' only, though `supports_fanout` gives it fanouts. Not with predefined
        # queues: kombu could not create a worker's pidbox queue, and the worker would not start.
        if options.get("supports_fanout") and not options.get("predefined_queues"):
            kinds = self.implements.exchange_type | {"fanout"}
            self.implements = self.implements.extend(exchange_type=kinds)


# Channels holding temporary queues. Flower and `celery inspect` never close their connections,
# so what they declared is deleted at exit (not after SIGKILL: the retention bounds that).
_open_channels: weakref.WeakSet[Channel] = weakref.WeakSet()


@atexit.register
def _delete_temporary_queues_at_exit() -> None:
    for channel in list(_open_channels):
        try:
            channel.delete_temporary_queues()
        except Exception:  # one channel's trouble must not leave the others' queues behind
            logger.exception("could not delete a channel's temporary queues at exit")
