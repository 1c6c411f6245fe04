"""What a channel holding temporary queues does before it closes, on either broker."""

from __future__ import annotations

from typing import Any


def stop_and_delete(channel: Any) -> None:
    """Stop reading, put back what was unacked, then delete the channel's temporary queues.

    In that order: neither a consumer nor a restored message may touch a deleted queue. A
    closed channel, or one that declared no temporary queue, has nothing to do.
    """
    if channel.closed or channel.connection is None or not channel._temporary:
        return
    for tag in list(channel._consumers):
        channel.basic_cancel(tag)
    if channel._qos is not None:
        channel._qos.restore_unacked_once()
    channel.delete_temporary_queues()
