"""Celery's remote-control client, with one reply queue per thread instead of one per call.

kombu names a client's reply queue after `Mailbox.oid`, which includes id() of the mailbox copy
that Celery binds to each call's connection (celery.app.control.Control.broadcast): nearly every
inspect or control call gets a new queue. A broker with expiring queues forgets them; on SQS each
is a CreateQueue that nothing deletes before the process exits (tasks/sqs_transport.py), and a
name that comes back within a minute of its deletion cannot be created. Here the oid is that of
the app's mailbox, per process and thread, like Celery's own `app.thread_oid`: calls from one
thread, one after another, share a queue, and the ticket in each reply keeps them apart
(kombu.pidbox.Mailbox._collect).
"""

from __future__ import annotations

from typing import Any

from celery.app import control
from kombu import pidbox
from kombu.common import oid_from


class Mailbox(pidbox.Mailbox):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.origin = self  # the copies bound to each call's connection share it

    @property
    def oid(self) -> str:
        oid: str = oid_from(self.origin, threads=True)  # type: ignore[no-untyped-call]
        return oid


class Control(control.Control):  # type: ignore[misc]  # celery is untyped
    Mailbox = Mailbox
