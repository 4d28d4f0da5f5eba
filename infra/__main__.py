"""``python -m infra up|down|status|start NAME|stop NAME``: the local Kafka and Elasticsearch.

Exit codes, the same as ``moodwatch``'s: 0 success; 1 an error (the message says what went
wrong and what to do); 2 a usage error; 3 ``status --check`` found a service not answering.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from infra import services
from infra.config import SERVICE_NAMES
from infra.render import render
from moodwatch.errors import EXIT_ERROR, EXIT_UNAVAILABLE, MoodwatchError
from moodwatch.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra", description="Local Kafka and Elasticsearch without Docker."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start both (fetching jars the first time) and wait")
    commands.add_parser("down", help="stop what infra/ started")
    check = commands.add_parser("status", help="versions, ports, pids, memory, health")
    check.add_argument(
        "--check", action="store_true",
        help=f"exit {EXIT_UNAVAILABLE} unless both services answer"
    )
    for verb in ("start", "stop"):
        one = commands.add_parser(verb, help=f"{verb} one service")
        one.add_argument("name", choices=SERVICE_NAMES)
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        started = time.monotonic()
        if args.command == "up":
            statuses = services.up(settings)
        elif args.command == "down":
            statuses = services.down(settings)
        elif args.command == "start":
            statuses = [services.start_service(args.name, settings)]
        elif args.command == "stop":
            statuses = [services.stop_service(args.name, settings)]
        else:
            statuses = services.status(settings)
        elapsed = time.monotonic() - started
    except MoodwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(render(statuses, relative_to=Path.cwd()))
    if args.command != "status":
        print(f"({args.command} took {elapsed:.1f} s)")
    if args.command == "status" and args.check and not services.all_healthy(statuses):
        return EXIT_UNAVAILABLE
    return 0


if __name__ == "__main__":
    sys.exit(main())
