"""What a batch hands to the sinks, kept per record and handed on in the per-record order.

A columnar batch (a Parquet row group, a Kafka poll) is processed key by key: the lane
takes whole keys at once and the rest goes record by record afterwards. While it runs, an
:class:`OutputCapture` holds the runner's outputs, dead letters and raw records, each with
the batch row that caused it; :meth:`OutputCapture.replay` hands them on sorted by (row,
phase), which is exactly the order the per-record path would have handed them on, across
keys too (``tests/unit/test_columnar_replay.py``, ``tests/unit/test_poll_lane.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from linewatch.pipeline.columnar_charts import Tagged
from linewatch.pipeline.models import DeadLetter, Output

if TYPE_CHECKING:
    from linewatch.pipeline.runner import Runner

__all__ = ["OutputCapture"]


class OutputCapture:
    """A context in which ``runner``'s emits, dead letters and raw records are held.

    Set :attr:`row` before each record the runner handles itself; give the lane's
    outputs with :meth:`laned` and its raw records with :meth:`record_at`.
    """

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.row = 0  # of the record the runner is handling
        self.events: list[tuple[int, int, str, Any]] = []  # (row, phase, what, item)
        self.emit = runner._emit
        self.dead = runner._dead
        self.sinks = list(runner._record_sinks)

    def __enter__(self) -> OutputCapture:
        runner = self.runner
        setattr(runner, "_emit", self._on_emit)  # noqa: B010 - shadows the method a while
        setattr(runner, "_dead", self._on_dead)  # noqa: B010
        runner._record_sinks = [self] if self.sinks else []  # type: ignore[list-item]
        return self

    def __exit__(self, *_: object) -> None:
        runner = self.runner
        delattr(runner, "_emit")
        delattr(runner, "_dead")
        runner._record_sinks = self.sinks

    def _on_emit(self, outputs: Iterable[Output]) -> None:
        found = list(outputs)
        if found:
            self.events.append((self.row, 0, "outputs", found))

    def _on_dead(self, letter: DeadLetter) -> None:
        self.events.append((self.row, 0, "dead", letter))

    def add(self, record: Any) -> None:  # a raw-record sink while capturing
        self.events.append((self.row, -1, "record", record))

    def record_at(self, row: int, record: Any) -> None:
        """A laned record, for the sinks that keep the raw records."""
        self.events.append((row, -1, "record", record))

    def laned(self, tagged: list[Tagged]) -> None:
        """The lane's outputs, each tagged with its row and phase."""
        self.events += [(row, phase, "output", out) for row, phase, out in tagged]

    def replay(self) -> None:
        """Hand everything held on, in per-record order (call after the context ends)."""
        self.events.sort(key=_row_phase)
        emit, dead, sinks = self.emit, self.dead, self.sinks
        run: list[Output] = []
        for _, _, what, item in self.events:
            if what == "output":
                run.append(item)
                continue
            if run:
                emit(run)
                run = []
            if what == "outputs":
                emit(item)
            elif what == "dead":
                dead(item)
            else:
                for sink in sinks:
                    sink.add(item)
        if run:
            emit(run)
        self.events = []


def _row_phase(item: tuple[int, int, str, Any]) -> tuple[int, int]:
    return item[0], item[1]
