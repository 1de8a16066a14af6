"""Channels: one ``all_to_all`` of Arrow partitions over redis, tcp or s3.

See :mod:`.base` for the contract and the life cycle the runtime follows
(``make_channel`` → ``bind`` → all_gather → ``connect`` → ``all_to_all``… → ``close``).
"""
from __future__ import annotations

from airflow_provider_cylon.runtime.channels.base import (
    Channel,
    ChannelAbortedError,
    ChannelContext,
    ChannelError,
    ChannelTimeoutError,
)
from airflow_provider_cylon.runtime.channels.redis import RedisChannel
from airflow_provider_cylon.runtime.channels.s3 import S3Channel, purge_objects
from airflow_provider_cylon.runtime.channels.tcp import TcpChannel
from airflow_provider_cylon.runtime.channels.tcp_punch import TcpPunchChannel

#: Channel name (JobSpec.channel) -> implementation.
CHANNELS: dict[str, type[Channel]] = {
    RedisChannel.name: RedisChannel,
    TcpChannel.name: TcpChannel,
    S3Channel.name: S3Channel,
    TcpPunchChannel.name: TcpPunchChannel,
}


def make_channel(name: str, ctx: ChannelContext) -> Channel:
    """Build the channel called ``name`` for one worker.

    :param name: ``"redis"``, ``"tcp"`` or ``"s3"``.
    :param ctx: the worker's channel context.
    :raises ValueError: naming the unknown channel and the known ones.
    """
    try:
        cls = CHANNELS[name]
    except KeyError:
        raise ValueError(f"channel {name!r}: expected one of {sorted(CHANNELS)}") from None
    return cls(ctx)


__all__ = [
    "CHANNELS",
    "Channel",
    "ChannelAbortedError",
    "ChannelContext",
    "ChannelError",
    "ChannelTimeoutError",
    "RedisChannel",
    "S3Channel",
    "TcpChannel",
    "make_channel",
    "purge_objects",
]
