"""A minimal Faust app for the integration test: uppercases what it reads into another topic.

Configured by environment variables the test sets: ECHO_BROKER, ECHO_SOURCE, ECHO_SINK,
ECHO_GROUP, ECHO_DATADIR, ECHO_WEB_PORT.
"""

from __future__ import annotations

import os

import faust

app = faust.App(
    os.environ["ECHO_GROUP"],
    broker=os.environ["ECHO_BROKER"],
    store="memory://",
    datadir=os.environ["ECHO_DATADIR"],
    web_port=int(os.environ["ECHO_WEB_PORT"]),
    topic_partitions=1,
    topic_replication_factor=1,
)
source = app.topic(os.environ["ECHO_SOURCE"], value_serializer="raw")
sink = app.topic(os.environ["ECHO_SINK"], value_serializer="raw")


@app.agent(source)
async def shout(stream: faust.StreamT[bytes]) -> None:
    async for value in stream:
        await sink.send(value=value.upper())
