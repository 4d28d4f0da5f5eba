"""What the worker's "where does this id already live?" lookup costs per batch.

    python -m bench.id_lookup --prefix mwbench-dash --rounds 200

Before writing a batch the worker runs one ``ids`` search on the messages alias so that a
message replayed with another date overwrites its document instead of adding one in another
monthly index (issue 8). This times that search for batches of ``--batch`` ids (half existing,
half new) against an index that already holds many documents (seed one with
``python -m bench.seed_messages``), next to a bulk write of the same batch, the other
Elasticsearch round trip every batch makes. Prints JSON, then a one-line summary. The model's
time for a batch of 64 on this machine is about 215 ms (bench/README: 298 msg/s model alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

from elasticsearch import AsyncElasticsearch

from stream.es_sink import ElasticsearchSink, IndexRequest


async def _run(args: argparse.Namespace) -> dict[str, object]:
    client = AsyncElasticsearch(args.es, request_timeout=30)
    alias = f"{args.prefix}-messages"
    sink = ElasticsearchSink(client)
    try:
        await client.indices.refresh(index=alias)
        total = int((await client.count(index=alias))["count"])
        page = await client.search(index=alias, size=args.rounds * args.batch // 2, source=False)
        known = [hit["_id"] for hit in page["hits"]["hits"]]
        scratch = f"{args.prefix}-lookup-scratch-{uuid.uuid4().hex[:6]}"
        lookups: list[float] = []
        writes: list[float] = []
        for round_ in range(args.rounds):
            half = args.batch // 2
            ids = known[round_ * half : (round_ + 1) * half] + [
                f"new-{uuid.uuid4().hex}" for _ in range(args.batch - half)
            ]
            started = time.perf_counter()
            found = await sink.locate(alias, ids)
            lookups.append(time.perf_counter() - started)
            assert len(found) <= len(ids)
            requests = [
                IndexRequest(
                    i,
                    (
                        json.dumps({"index": {"_index": scratch, "_id": i}})
                        + "\n"
                        + json.dumps({"text": "a message of ordinary length " * 3})
                        + "\n"
                    ).encode(),
                )
                for i in ids
            ]
            started = time.perf_counter()
            await sink.write(requests)
            writes.append(time.perf_counter() - started)
        await client.options(ignore_status=404).indices.delete(index=scratch)
    finally:
        await client.close()
    lookup_ms = statistics.median(lookups) * 1000
    return {
        "documents_behind_alias": total,
        "batch": args.batch,
        "rounds": args.rounds,
        "lookup_ms_median": round(lookup_ms, 2),
        "lookup_ms_p90": round(statistics.quantiles(lookups, n=10)[-1] * 1000, 2),
        "bulk_write_ms_median": round(statistics.median(writes) * 1000, 2),
        "lookup_us_per_message": round(lookup_ms * 1000 / args.batch, 1),
        "share_of_model_time_for_64": round(lookup_ms / 215.0, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", required=True, help="index prefix with seeded messages")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--es", default="http://127.0.0.1:9200")
    result = asyncio.run(_run(parser.parse_args()))
    print(json.dumps(result, indent=2))
    share = 100 * float(str(result["share_of_model_time_for_64"]))
    print(
        f"id lookup: {result['lookup_ms_median']} ms per batch of {result['batch']} "
        f"(p90 {result['lookup_ms_p90']} ms) over {result['documents_behind_alias']} documents; "
        f"bulk write {result['bulk_write_ms_median']} ms; {share:.1f} % of the model's batch time"
    )


if __name__ == "__main__":
    main()
