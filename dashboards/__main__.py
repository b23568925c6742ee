"""``python -m dashboards`` rewrites the committed boards in ``dashboards/json/``."""

from pathlib import Path

from linewatch.dashboards.boards import write_boards

if __name__ == "__main__":
    for path in write_boards(Path(__file__).parent / "json"):
        print(path)
