"""Our kombu transports override kombu internals: a kombu release that changes one fails here.

tasks/sqs_transport.py and tasks/fs_transport.py subclass kombu's SQS and filesystem transports
and override methods kombu does not document as an interface (several private). kombu may change
them in any release, and the symptom would be a worker that misbehaves at run time. So every
kombu attribute our subclasses override, found by introspection (a new override is covered
without editing this file), and every kombu method they call, must still exist with the signature
recorded below. docs/kombu-upstream.md lists the kombu changes that would let these overrides go.

After a kombu upgrade that fails here: read kombu's change to that method, adapt the override,
then record the new signature printed in the failure.
"""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import Any

import pytest
from kombu.transport import SQS, filesystem

from tasks import fs_transport, sqs_transport

CLASS = "<class>"
PROPERTY = "<property>"

# kombu attribute -> its signature (a method) or kind, as our subclass was written against
# (kombu 5.7.0).
SQS_CHANNEL = {
    "__init__": "(self, *args, **kwargs)",
    "exchange_declare": (
        "(self, exchange=None, type='direct', durable=False, auto_delete=False, arguments=None,"
        " nowait=False, passive=False)"
    ),
    "typeof": "(self, exchange, default='direct')",
    "_lookup": "(self, exchange, routing_key, default=None)",
    "_put": "(self, queue, message, **kwargs)",
    "prepare_queue_arguments": "(self, arguments, **kwargs)",
    "_new_queue": "(self, queue, **kwargs)",
    "_create_queue": "(self, queue_name, attributes)",
    "after_reply_message_received": "(self, queue)",
    "close": "(self)",
    "drain_events": "(self, timeout=None, callback=None, **kwargs)",
    "_receive_message": (
        "(self, queue: 'str', max_number_of_messages: 'int' = 1,"
        " wait_time_seconds: 'int | None' = None)"
    ),
    "_delete_message": "(self, queue_name, message)",
    "_on_messages_ready": "(self, queue, qname, messages)",
}
SQS_TRANSPORT = {"__init__": "(self, client, **kwargs)", "Channel": CLASS}
FS_CHANNEL = {
    "__init__": "(self, connection, **kwargs)",
    "_put": "(self, queue, payload, **kwargs)",
    "_put_fanout": "(self, exchange, payload, routing_key, **kwargs)",
    "_get": "(self, queue)",
    "basic_consume": "(self, queue, no_ack, callback, consumer_tag, **kwargs)",
    "basic_get": "(self, queue, no_ack=False, **kwargs)",
    "basic_ack": "(self, delivery_tag, multiple=False)",
    "basic_reject": "(self, delivery_tag, requeue=False)",
    "_restore": "(self, message)",
    "_size": "(self, queue)",
    "_purge": "(self, queue)",
    "_new_queue": "(self, queue, **kwargs)",
    "queue_delete": "(self, queue, if_unused=False, if_empty=False, **kwargs)",
    "close": "(self)",
    "get_table": "(self, exchange)",
    "_queue_bind": "(self, exchange, routing_key, pattern, queue)",
    "_delete": "(self, queue, exchange, routing_key, pattern, *args, **kwargs)",
}
FS_TRANSPORT = {"__init__": "(self, client, **kwargs)", "Channel": CLASS}

# kombu methods our overrides call without overriding them.
SQS_CHANNEL_CALLED = {
    "canonical_queue_name": "(self, queue_name)",
    "sqs": "(self, queue=None)",
    "_exchange_is_fanout": "(self, exchange_name: 'str') -> 'bool'",
    "queue_unbind": "(self, queue, exchange=None, routing_key='', arguments=None, **kwargs)",
    "basic_cancel": "(self, consumer_tag)",
    "fanout": PROPERTY,
    "predefined_queues": PROPERTY,
    "transport_options": PROPERTY,
}
FS_CHANNEL_CALLED = {
    "_exchange_file": "(self, exchange)",
    "control_folder": PROPERTY,
    "basic_cancel": "(self, consumer_tag)",
    "transport_options": PROPERTY,
}

CASES = [
    pytest.param(sqs_transport.Channel, SQS.Channel, SQS_CHANNEL, id="sqs-channel"),
    pytest.param(sqs_transport.Transport, SQS.Transport, SQS_TRANSPORT, id="sqs-transport"),
    pytest.param(fs_transport.Channel, filesystem.Channel, FS_CHANNEL, id="fs-channel"),
    pytest.param(fs_transport.Transport, filesystem.Transport, FS_TRANSPORT, id="fs-transport"),
]
CALLED = [
    pytest.param(SQS.Channel, SQS_CHANNEL_CALLED, id="sqs-channel"),
    pytest.param(filesystem.Channel, FS_CHANNEL_CALLED, id="fs-channel"),
]


def describe(base: type, name: str) -> str:
    """A kombu attribute as recorded above: a method's signature, or what kind of thing it is."""
    static = inspect.getattr_static(base, name)
    if isinstance(static, property | cached_property):
        return PROPERTY
    value = getattr(base, name)
    if inspect.isclass(value):
        return CLASS
    return str(inspect.signature(value))


def overridden(sub: type, base: type) -> set[str]:
    """The names our class defines that kombu's class (or one it inherits from) also has."""
    own = {name for name in vars(sub) if not name.startswith("__") or name == "__init__"}
    return {name for name in own if hasattr(base, name)}


@pytest.mark.parametrize(("sub", "base", "recorded"), CASES)
def test_every_override_is_recorded(sub: type, base: type, recorded: dict[str, str]) -> None:
    # A name of ours that kombu now has too (a new kombu method, or a new override of ours) must
    # be looked at: ours silently replaces kombu's.
    unrecorded = sorted(overridden(sub, base) - recorded.keys())
    assert not unrecorded, (
        f"{sub.__module__}.{sub.__name__} overrides kombu's {unrecorded} without a recorded "
        f"signature: check each against kombu, then record "
        f"{ {name: describe(base, name) for name in unrecorded} }"
    )


@pytest.mark.parametrize(("sub", "base", "recorded"), CASES)
def test_overridden_kombu_internals_keep_their_signatures(
    sub: type, base: type, recorded: dict[str, str]
) -> None:
    gone = sorted(name for name in recorded if not hasattr(base, name))
    assert not gone, f"kombu's {base.__module__}.{base.__name__} no longer has {gone}"
    changed = {
        name: (want, got)
        for name, want in recorded.items()
        if (got := describe(base, name)) != want
    }
    assert not changed, (
        f"kombu's {base.__module__}.{base.__name__} changed what {sub.__module__} overrides "
        f"(name: (recorded, now)): {changed}"
    )


@pytest.mark.parametrize(("base", "recorded"), CALLED)
def test_kombu_internals_we_call_keep_their_signatures(
    base: type, recorded: dict[str, str]
) -> None:
    gone = sorted(name for name in recorded if not hasattr(base, name))
    assert not gone, f"kombu's {base.__module__}.{base.__name__} no longer has {gone}"
    changed = {
        name: (want, got)
        for name, want in recorded.items()
        if (got := describe(base, name)) != want
    }
    assert not changed, f"kombu's {base.__name__} changed (name: (recorded, now)): {changed}"


def _accepts(override: Any, parameter: inspect.Parameter) -> bool:
    params = inspect.signature(override).parameters
    if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
        return any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params.values())
    if parameter.kind is inspect.Parameter.VAR_KEYWORD:
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return parameter.name in params or any(
        p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        for p in params.values()
    )


@pytest.mark.parametrize(("sub", "base", "recorded"), CASES)
def test_overrides_accept_every_argument_kombu_passes(
    sub: type, base: type, recorded: dict[str, str]
) -> None:
    # kombu calls our override as it would call its own method: each of its parameters must be
    # accepted, by name or through *args/**kwargs.
    missing = {
        name: [
            p.name
            for p in inspect.signature(getattr(base, name)).parameters.values()
            if not _accepts(vars(sub)[name], p)
        ]
        for name in overridden(sub, base)
        if callable(vars(sub)[name]) and not inspect.isclass(vars(sub)[name])
    }
    assert not {k: v for k, v in missing.items() if v}, missing
