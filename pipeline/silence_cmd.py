"""``linewatch silence add|list|expire``: the silences of a config's notifications.

They go to the file ``notifications.silences_path`` names; a running job rereads it when it
changes, so a silence takes effect at its next look without a restart.

    linewatch silence add --config plant.yaml --matcher line=L3 --matcher 'rule=~nelson[2-4]' \\
        --duration 2h --author anna --comment "tool change"
    linewatch silence list --config plant.yaml [--all]
    linewatch silence expire --config plant.yaml ID
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from linewatch.pipeline.notify.service import RequestError, load_service

__all__ = ["add_parser", "cmd_silence"]


def _print_table(silences: list[dict[str, Any]]) -> None:
    if not silences:
        print("no silences")
        return
    for s in silences:
        print(
            f"{s['id']}  {s['state']:<8} {s['starts_at']} → {s['ends_at']}  "
            f"{', '.join(s['matchers'])}  by {s['created_by']}: {s['comment']}"
        )


def cmd_silence(args: argparse.Namespace) -> int:
    service = load_service(args.config)
    if isinstance(service, str):
        sys.stderr.write(f"error: {service}\n")
        return 2
    try:
        if args.action == "add":
            body: dict[str, Any] = {
                "matchers": args.matcher or [],
                "created_by": args.author,
                "comment": args.comment,
                "starts_at": args.starts,
                "ends_at": args.ends,
                "duration": args.duration,
            }
            if args.ends is None and args.duration is None:
                raise RequestError("give --duration or --ends")
            silence = service.create_silence(body)
            print(silence.id)
        elif args.action == "expire":
            expired = service.expire_silence(args.id)
            print(f"{expired.id} expired at {expired.ends_at.isoformat()}")
        else:
            listed = service.list_silences()
            _print_table(listed if args.all else [s for s in listed if s["state"] != "expired"])
    except RequestError as exc:
        sys.stderr.write(f"error: silence {args.action}: {exc}\n")
        return 2 if exc.status == 400 else 1
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "silence", help="add, list or expire silences", description=__doc__.split("\n\n")[0]
    )
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="mute the alerts all matchers match, for a while")
    listing = actions.add_parser("list", help="pending and active silences")
    expire = actions.add_parser("expire", help="end a silence now")
    for sub in (add, listing, expire):
        sub.add_argument("--config", type=Path, required=True, help="the YAML config file")
        sub.set_defaults(func=cmd_silence)
    add.add_argument(
        "--matcher",
        action="append",
        help="label matcher like line=L3, station!=trim, rule=~nelson[2-4] (repeatable)",
    )
    add.add_argument("--duration", help="how long, like 30m or 2h")
    add.add_argument("--starts", help="ISO 8601 start with zone (default now)")
    add.add_argument("--ends", help="ISO 8601 end with zone (instead of --duration)")
    add.add_argument("--author", required=True, help="who silences")
    add.add_argument("--comment", default="", help="why")
    listing.add_argument("--all", action="store_true", help="expired ones too")
    expire.add_argument("id", help="the silence's id (from add or list)")
