"""Remote control on SQS (tasks/sqs_transport.py): broadcasts through SNS, replies by queue name,
temporary queues deleted; against moto in process. Each connection is its own process's view:
kombu keeps bindings per connection, so a binding made on one is unknown to the others."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kombu import Connection, Exchange, Producer, Queue, pidbox
from kombu.transport.SQS.exceptions import UndefinedQueueException
from kombu.utils.uuid import uuid

from app.aws import AwsLocation, sns_client, sqs_client
from tasks import sqs_transport
from tasks.remote_control import Mailbox
from tasks.sqs_transport import Transport

OPTIONS: dict[str, Any] = {
    "supports_fanout": True,
    "fanout_exchanges": ["celeryev", "celery.pidbox"],
    "reply_exchanges": ["reply.celery.pidbox"],
    "wait_time_seconds": 1,
    "polling_interval": 0,
    "region": "us-east-1",
}
Connect = Callable[..., Connection]


@pytest.fixture
def connect(aws: AwsLocation) -> Iterator[Connect]:
    opened: list[Connection] = []

    def open_connection(**options: Any) -> Connection:
        conn = Connection(
            "sqs://testing:testing@", transport=Transport, transport_options=OPTIONS | options
        )
        opened.append(conn)
        return conn

    yield open_connection
    for conn in opened:
        conn.release()
    # Nothing may be left for the exit hook: moto is gone after this test.
    assert not [c for c in sqs_transport._open_channels if c.connection is not None]


def mailbox() -> Any:
    return pidbox.Mailbox("celery", type="fanout", accept=["json"])


def node(connect: Connect, hostname: str) -> tuple[Connection, Any]:
    """A worker's remote control: its own connection and pidbox queue, listening."""
    conn = connect()
    handlers = {"ping": lambda state: "pong", "hostname": lambda state: state}
    box = mailbox()(conn).Node(hostname, state=hostname, channel=conn.channel(), handlers=handlers)
    box.listen()
    return conn, box


def queues(aws: AwsLocation) -> set[str]:
    listed = sqs_client(aws).list_queues().get("QueueUrls", [])
    return {url.rsplit("/", 1)[-1] for url in listed}


def subscribed(aws: AwsLocation, topic: str) -> set[str]:
    """The SQS queues subscribed to an SNS topic."""
    arn = f"arn:aws:sns:us-east-1:123456789012:{topic}"
    subs = sns_client(aws).list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    return {s["Endpoint"].rsplit(":", 1)[-1] for s in subs}


def test_a_broadcast_reaches_every_node_and_each_reply_its_client(
    connect: Connect, aws: AwsLocation
) -> None:
    nodes = [node(connect, "a@host"), node(connect, "b@host")]
    assert subscribed(aws, "celery-pidbox") == {"a_host-celery-pidbox", "b_host-celery-pidbox"}
    client = mailbox()(connect())
    ticket = uuid()
    client._publish("ping", {}, reply_ticket=ticket, timeout=30)
    for conn, _ in nodes:  # each handles the command and replies from its own connection
        conn.drain_events(timeout=5)
    replies = client._collect(ticket, limit=2, timeout=2)
    assert sorted(replies, key=str) == [{"a@host": "pong"}, {"b@host": "pong"}]


def test_a_command_for_one_node_is_answered_by_that_node_only(connect: Connect) -> None:
    nodes = [node(connect, "a@host"), node(connect, "b@host")]
    client = mailbox()(connect())
    ticket = uuid()
    client._publish("hostname", {}, destination=["b@host"], reply_ticket=ticket, timeout=30)
    for conn, _ in nodes:
        conn.drain_events(timeout=5)
    assert client._collect(ticket, limit=1, timeout=5) == [{"b@host": "b@host"}]


def test_a_reply_for_a_client_that_has_gone_is_dropped_and_creates_no_queue(
    connect: Connect, aws: AwsLocation
) -> None:
    client = mailbox()(connect())
    reply_queue = client.reply_queue(client.connection.default_channel)
    reply_queue.declare()
    sender = connect()
    exchange = Exchange("reply.celery.pidbox", "direct", durable=False)
    producer = Producer(sender.channel(), exchange)
    producer.publish({"x@host": 1}, routing_key=client.oid, declare=[exchange])
    message = reply_queue.get(no_ack=True)
    assert message is not None and message.payload == {"x@host": 1}
    client.connection.release()  # the client leaves: its reply queue is deleted ...
    assert f"{client.oid}-reply-celery-pidbox" not in queues(aws)
    # ... and a late reply (the sender still has the URL) or one to a stranger goes nowhere.
    producer.publish({"x@host": 2}, routing_key=client.oid, declare=[exchange])
    producer.publish({"x@host": 3}, routing_key="nobody", declare=[exchange])
    assert not {f"{client.oid}-reply-celery-pidbox", "nobody-reply-celery-pidbox"} & queues(aws)


def test_a_clients_reply_queue_serves_its_next_calls_then_goes_with_it(
    connect: Connect, aws: AwsLocation
) -> None:
    worker, _ = node(connect, "a@host")
    conn = connect()
    box = Mailbox("celery", type="fanout", accept=["json"])  # as the app's Control makes it
    for _ in range(2):
        call, ticket = box(conn), uuid()
        call._publish("ping", {}, reply_ticket=ticket, timeout=30)
        worker.drain_events(timeout=5)
        assert call._collect(ticket, limit=1, timeout=5) == [{"a@host": "pong"}]
        assert f"{box.oid}-reply-celery-pidbox" in queues(aws)  # kept for the next call
    conn.release()
    assert not [n for n in queues(aws) if n.endswith("-reply-celery-pidbox")]


def test_temporary_queues_and_their_subscriptions_go_when_the_channel_closes(
    connect: Connect, aws: AwsLocation
) -> None:
    conn, _ = node(connect, "a@host")
    events = Queue("celeryev.1", Exchange("celeryev", "fanout"), auto_delete=True, message_ttl=5)
    kept = Queue("tasks", Exchange("tasks"), routing_key="tasks")  # not auto_delete
    channel = conn.channel()
    consumer = conn.Consumer([events, kept], channel=channel, no_ack=True)
    consumer.consume()
    assert {"a_host-celery-pidbox", "celeryev-1", "tasks"} <= queues(aws)
    assert subscribed(aws, "celeryev") == {"celeryev-1"}
    conn.release()
    assert "tasks" in queues(aws)
    assert not {"a_host-celery-pidbox", "celeryev-1"} & queues(aws)
    assert subscribed(aws, "celeryev") == subscribed(aws, "celery-pidbox") == set()


def test_what_is_still_open_at_exit_is_deleted_then_but_not_by_a_forked_child(
    connect: Connect, aws: AwsLocation
) -> None:
    conn, box = node(connect, "a@host")
    box.channel._pid = -1  # as a pool process sees its parent's channel
    sqs_transport._delete_temporary_queues_at_exit()
    assert "a_host-celery-pidbox" in queues(aws)
    box.channel._pid = conn.default_channel._pid
    sqs_transport._delete_temporary_queues_at_exit()
    assert "a_host-celery-pidbox" not in queues(aws)


@pytest.mark.parametrize(("ttl", "retention"), [(5, "60"), (300, "300"), (None, "345600")])
def test_a_temporary_queue_keeps_messages_for_its_ttl_as_far_as_sqs_allows(
    connect: Connect, aws: AwsLocation, ttl: int | None, retention: str
) -> None:
    conn = connect()
    Queue("temp", Exchange("temp"), auto_delete=True, message_ttl=ttl)(conn.channel()).declare()
    url = sqs_client(aws).get_queue_url(QueueName="temp")["QueueUrl"]
    attributes = sqs_client(aws).get_queue_attributes(
        QueueUrl=url, AttributeNames=["MessageRetentionPeriod"]
    )["Attributes"]
    assert attributes["MessageRetentionPeriod"] == retention


def test_a_name_deleted_a_moment_ago_is_created_once_sqs_allows_it(
    connect: Connect,
    aws: AwsLocation,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = connect().channel()
    client = channel.sqs()
    create, refusals = client.create_queue, [1, 1]

    def create_queue(**kwargs: Any) -> Any:
        if refusals:  # what SQS answers for 60 s after a DeleteQueue of that name
            refusals.pop()
            error = {"Code": "AWS.SimpleQueueService.QueueDeletedRecently", "Message": "wait"}
            raise ClientError({"Error": error}, "CreateQueue")
        return create(**kwargs)

    monkeypatch.setattr(client, "create_queue", create_queue)
    monkeypatch.setattr(channel, "recreate_interval", 0)
    with caplog.at_level(logging.WARNING, logger="tasks.sqs_transport"):
        Queue("a@host.celery.pidbox", auto_delete=True)(channel).declare()
    assert refusals == []
    assert "a_host-celery-pidbox" in queues(aws)
    assert "deleted less than 60 s ago" in caplog.text


def test_other_create_errors_are_not_retried(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = connect().channel()
    error = {"Code": "AWS.SimpleQueueService.QueueNameExists", "Message": "different"}
    calls: list[dict[str, Any]] = []

    def create_queue(**kwargs: Any) -> Any:
        calls.append(kwargs)
        raise ClientError({"Error": error}, "CreateQueue")

    monkeypatch.setattr(channel.sqs(), "create_queue", create_queue)
    with pytest.raises(ClientError):
        Queue("q", auto_delete=True)(channel).declare()
    assert len(calls) == 1


def test_the_transport_has_fanout_exchanges_only_where_kombu_can_make_the_queues(
    connect: Connect,
) -> None:
    # What decides whether a Celery worker starts its remote control.
    assert connect().supports_exchange_type("fanout")
    assert not connect(supports_fanout=False).supports_exchange_type("fanout")
    predefined = {"imagepipe": {"url": "https://sqs.us-east-1.amazonaws.com/1/imagepipe"}}
    assert not connect(predefined_queues=predefined).supports_exchange_type("fanout")


def test_with_predefined_queues_a_temporary_queue_is_refused_saying_why(
    connect: Connect, aws: AwsLocation
) -> None:
    url = sqs_client(aws).create_queue(QueueName="imagepipe")["QueueUrl"]
    conn = connect(predefined_queues={"imagepipe": {"url": url}})
    with pytest.raises(UndefinedQueueException, match="temporary queue"):
        mailbox()(conn)._broadcast("ping", reply=True, timeout=1)
    Queue("imagepipe", Exchange("imagepipe"))(conn.channel()).declare()  # that one still works


def test_waiting_for_replies_takes_the_timeout_not_a_whole_long_poll(connect: Connect) -> None:
    client = mailbox()(connect(wait_time_seconds=20))
    started = time.monotonic()
    assert client._broadcast("ping", reply=True, timeout=1) == []
    assert time.monotonic() - started < 10


def test_calls_from_one_thread_share_a_reply_queue() -> None:
    box = Mailbox("celery", type="fanout")
    assert box(None).oid == box(None).oid == box.oid
    elsewhere: list[str] = []
    thread = threading.Thread(target=lambda: elsewhere.append(box(None).oid))
    thread.start()
    thread.join()
    assert elsewhere != [box.oid]
    assert Mailbox("celery", type="fanout").oid != box.oid  # another app, another queue


def test_a_poll_after_the_exit_hook_does_not_make_the_queue_again(
    connect: Connect, aws: AwsLocation
) -> None:
    """Flower's event thread polls while the exit hook deletes its queue (a flaky e2e test)."""
    channel = connect().channel()
    Queue("celeryev.2", Exchange("celeryev", "fanout"), auto_delete=True)(channel).declare()
    assert "celeryev-2" in queues(aws)
    channel.delete_temporary_queues()
    with pytest.raises(UndefinedQueueException):
        channel._receive_message("celeryev.2", wait_time_seconds=0)
    assert "celeryev-2" not in queues(aws)


def test_a_close_from_another_thread_waits_while_the_exit_hook_deletes(
    connect: Connect, aws: AwsLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flower's event thread closed its channel while the exit hook was deleting the same
    channel's queues: the hook lost its connection mid-way and left queues (a loaded e2e run)."""
    channel = connect().channel()
    for n in (3, 4):
        Queue(f"celeryev.{n}", Exchange("celeryev", "fanout"), auto_delete=True)(channel).declare()
    assert {"celeryev-3", "celeryev-4"} <= queues(aws)
    errors: list[BaseException] = []

    def close() -> None:
        try:
            channel.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    closer = threading.Thread(target=close)
    unsubscribe = channel.fanout.subscriptions.unsubscribe_queue

    def close_meanwhile(queue: str, exchange: str) -> Any:
        if not closer.is_alive() and not errors:
            closer.start()  # the other thread's close, while this one is at its first queue
            closer.join(timeout=2)  # before the fix it finished here, taking the connection
        return unsubscribe(queue, exchange)

    monkeypatch.setattr(channel.fanout.subscriptions, "unsubscribe_queue", close_meanwhile)
    sqs_transport._delete_temporary_queues_at_exit()
    closer.join()
    assert errors == []
    assert not {"celeryev-3", "celeryev-4"} & queues(aws)
    assert subscribed(aws, "celeryev") == set()


def test_one_channel_failing_at_exit_does_not_leave_the_others_queues(
    connect: Connect, aws: AwsLocation, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    failing, other = connect().channel(), connect().channel()
    Queue("celeryev.5", Exchange("celeryev", "fanout"), auto_delete=True)(failing).declare()
    Queue("celeryev.6", Exchange("celeryev", "fanout"), auto_delete=True)(other).declare()

    def broken() -> None:
        raise RuntimeError("not a boto or kombu error")

    monkeypatch.setattr(failing, "_delete_temporary_queues", broken)
    monkeypatch.setattr(sqs_transport, "_open_channels", [failing, other])
    with caplog.at_level(logging.ERROR, logger=sqs_transport.logger.name):
        sqs_transport._delete_temporary_queues_at_exit()
    assert "celeryev-6" not in queues(aws)
    assert "not a boto or kombu error" in caplog.text
    monkeypatch.undo()
    failing.close()  # what the test's own teardown needs: moto goes with it


def test_a_receive_that_sqs_answers_with_a_server_error_is_an_empty_poll(
    connect: Connect,
) -> None:
    """kombu turns a 5xx answer to ReceiveMessage into [] and hands it to _on_messages_ready."""
    from types import SimpleNamespace

    from kombu.asynchronous.aws.connection import AsyncAWSQueryConnection

    failed = SimpleNamespace(status=500, reason="Internal Server Error", read=lambda: b"")
    sqs = SimpleNamespace(sqs_connection=SimpleNamespace(meta=SimpleNamespace(service_model=None)))
    sqs.STATUS_CODE_OK = AsyncAWSQueryConnection.STATUS_CODE_OK
    sqs.STATUS_CODES_TIMEOUT = AsyncAWSQueryConnection.STATUS_CODES_TIMEOUT
    sqs.STATUS_CODES_SERVER_ERRORS = AsyncAWSQueryConnection.STATUS_CODES_SERVER_ERRORS
    answer = AsyncAWSQueryConnection._on_list_ready(sqs, None, [], "ReceiveMessage", failed)
    assert answer == []
    channel = connect().channel()
    assert channel._on_messages_ready("imagepipe", "imagepipe", answer) == 0
