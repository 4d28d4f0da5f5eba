"""Elasticsearch: reachable, which version, what cluster health, how many messages indexed.

The client is the workers' own (hosts, API key or basic auth, CA certificate) with a short
request timeout and no retries, so a stopped node answers "refused" at once and a hung one
within the timeout.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from moodwatch.doctor.findings import Finding, fail, ok, warn
from moodwatch.settings import Settings
from stream.connections import elasticsearch
from stream.index_layout import layout_for

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_local_elasticsearch(settings: Settings) -> bool:
    return all(
        urlsplit(url).hostname in LOOPBACK and urlsplit(url).port == settings.es_port
        for url in settings.es_urls
    )


def quick_client(settings: Settings, timeout_s: float) -> Elasticsearch:
    """The workers' client, answering within ``timeout_s`` and never retrying."""
    return elasticsearch(settings).options(
        request_timeout=timeout_s, max_retries=0, retry_on_timeout=False
    )


def check_elasticsearch(settings: Settings, client: Elasticsearch) -> Finding:
    where = settings.es_hosts
    try:
        nodes = client.nodes.info(node_id="_all", filter_path="nodes.*.version").body
        health = client.cluster.health().body
    except (TransportError, ApiError) as exc:
        # Refused or timed out: exit 3 (try later); an answer refusing us (401, 403): exit 1.
        return fail("elasticsearch", f"cannot reach Elasticsearch at {where}: {_reason(exc)}",
                    _unreachable_fix(settings, exc), unreachable=isinstance(exc, TransportError))
    versions = sorted({node["version"] for node in (nodes.get("nodes") or {}).values()})
    status = str(health.get("status"))
    details: dict[str, Any] = {
        "versions": versions,
        "status": status,
        "nodes": health.get("number_of_nodes"),
        "messages": _message_count(settings, client),
    }
    shown = (
        f"Elasticsearch {', '.join(versions) or '?'} at {where}: {status}, "
        f"{details['messages'] if details['messages'] is not None else 'no'} messages indexed"
    )
    if status == "red":
        return fail("elasticsearch", shown + " (a primary shard is unassigned)",
                    "look at `GET _cluster/allocation/explain` and the node's log "
                    "(`moodwatch infra status` shows where)", **details)
    if versions and not all(v.startswith("8.") for v in versions):
        return warn("elasticsearch", shown, "moodwatch is tested on Elasticsearch 8.14",
                    **details)
    return ok("elasticsearch", shown, **details)


def _message_count(settings: Settings, client: Elasticsearch) -> int | None:
    try:
        return int(client.count(index=layout_for(settings).messages_alias)["count"])
    except (TransportError, ApiError):  # no alias yet: no worker has written
        return None


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "…"


def _unreachable_fix(settings: Settings, exc: Exception) -> str:
    if isinstance(exc, ApiError) and exc.meta.status in (401, 403):
        return ("check MOODWATCH_ES_API_KEY (or MOODWATCH_ES_USERNAME / MOODWATCH_ES_PASSWORD) "
                "and the key's privileges: cluster monitor, and the moodwatch* indices")
    if isinstance(exc, ApiError):
        return (f"something answered HTTP {exc.meta.status} but not as Elasticsearch: check that "
                "MOODWATCH_ES_HOSTS points at the cluster itself")
    if is_local_elasticsearch(settings):
        return "start it: `moodwatch infra up` (then `moodwatch infra status`)"
    return ("check MOODWATCH_ES_HOSTS, MOODWATCH_ES_CA_CERT and that the cluster is up "
            "(`curl -s <host>/_cluster/health`)")
