"""``linewatch dashboards``: build the Grafana boards as JSON, or push them to a Grafana."""

from __future__ import annotations

import argparse
from pathlib import Path

from linewatch.pipeline.cli_common import out
from linewatch.pipeline.job import JobError

__all__ = ["add_parser", "cmd_dashboards"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``dashboards`` subcommand."""
    boards = sub.add_parser(
        "dashboards",
        help="build the Grafana boards, or push them to a Grafana",
        description="Grafana boards as code. `build` writes the board JSON that Grafana's file "
        "provisioning reads (dashboards/provisioning); `push` creates or overwrites them over "
        "Grafana's HTTP API.",
    )
    boards.add_argument("action", choices=["build", "push"], help="what to do")
    boards.add_argument(
        "--out",
        type=Path,
        default=Path("dashboards/json"),
        help="build: the folder for the board JSON (default dashboards/json)",
    )
    boards.add_argument("--url", help="push: Grafana's URL, e.g. http://127.0.0.1:3000")
    boards.add_argument("--token", help="push: a service-account token")
    boards.add_argument("--user", help="push: user (with --password) instead of a token")
    boards.add_argument("--password", help="push: password")
    boards.set_defaults(func=cmd_dashboards)


def cmd_dashboards(args: argparse.Namespace) -> int:
    if args.action == "build":
        from linewatch.dashboards.boards import write_boards

        for path in write_boards(args.out):
            out.print(str(path))
        return 0
    from linewatch.dashboards.push import push_boards

    if not args.url:
        raise JobError("dashboards push needs --url")
    try:
        uids = push_boards(args.url, token=args.token, user=args.user, password=args.password)
    except (ValueError, RuntimeError) as exc:
        raise JobError(str(exc)) from exc
    out.print(f"pushed {', '.join(uids)} to {args.url}")
    return 0
