"""Push the boards to a running Grafana over its HTTP API (grafana-client)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linewatch.dashboards.boards import all_boards
from linewatch.dashboards.health_board import prometheus_boards

__all__ = ["push_boards"]


def push_boards(
    url: str,
    token: str | None = None,
    user: str | None = None,
    password: str | None = None,
    boards: Sequence[dict[str, Any]] | None = None,
) -> list[str]:
    """Create or overwrite every board; returns their uids. Errors name the board."""
    try:
        from grafana_client.api import GrafanaApi
    except ImportError as exc:
        raise ImportError(
            "pushing boards needs grafana-client: pip install 'linewatch[dashboards]'"
        ) from exc
    if token is None and (user is None or password is None):
        raise ValueError("give a token, or a user and a password")
    credential: Any = token if token is not None else (user, password)
    api = GrafanaApi.from_url(url, credential=credential)
    pushed = []
    for board in boards if boards is not None else [*all_boards(), *prometheus_boards()]:
        try:
            api.dashboard.update_dashboard(
                {
                    "dashboard": {**board, "id": None},
                    "overwrite": True,
                    "message": "provisioned by linewatch",
                }
            )
        except Exception as exc:  # grafana-client raises its own hierarchy per status
            raise RuntimeError(f"{url}: board {board['uid']!r} was refused: {exc}") from exc
        pushed.append(str(board["uid"]))
    return pushed
