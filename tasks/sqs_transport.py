"""kombu's SQS transport, with what Celery events (and so Flower) need on SQS.

celeryconfig.py selects it (`broker_transport`) when the broker is `sqs://`. Two changes:

1. **Events as an SNS fanout.** Celery sends events to the `celeryev` topic exchange. kombu's SQS
   transport keeps exchange bindings in each process's memory, so a worker never sees the queue
   Flower bound, and its events go nowhere. Celery already turns the event exchange into a
   fanout for redis and gcpubsub (celery.events.event.get_exchange); here the exchanges named in
   the `fanout_exchanges` transport option are treated as fanouts, which kombu >= 5.6 delivers
   through an SNS topic of the same name to every subscribed SQS queue (`supports_fanout`).
2. **No-ack queues outside a worker.** A consumer with `no_ack` (Flower's event receiver) has
   each message deleted as it is read, through kombu's asynchronous client; that client needs the
   event loop only a Celery worker runs, so elsewhere the read fails ("'NoneType' object has no
   attribute 'on_close'"). Without an event loop the delete goes through the plain boto3 client.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import SQS


class Channel(SQS.Channel):
    # kombu's channel methods are untyped; the calls into them below say so.

    @property
    def fanout_exchanges(self) -> frozenset[str]:
        return frozenset(self.transport_options.get("fanout_exchanges", ()))

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

    def _delete_message(self, queue_name: Any, message: Any) -> None:
        if self.hub is not None:
            super()._delete_message(queue_name, message)  # type: ignore[no-untyped-call]
            return
        sqs_name = self.canonical_queue_name(queue_name)  # type: ignore[no-untyped-call]
        self.sqs(queue=sqs_name).delete_message(  # type: ignore[no-untyped-call]
            QueueUrl=self._new_queue(queue_name),  # type: ignore[no-untyped-call]
            ReceiptHandle=message["ReceiptHandle"],
        )


class Transport(SQS.Transport):
    Channel = Channel
