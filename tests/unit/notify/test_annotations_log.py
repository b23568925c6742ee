"""The annotations file is written by ``serve`` and read by the job: only whole lines count."""

from __future__ import annotations

from pathlib import Path

import msgspec

from linewatch.pipeline.models import AlertAnnotation
from linewatch.pipeline.notify.annotations import AnnotationLog
from tests.unit.notify.alerts import T0


def note(author: str) -> AlertAnnotation:
    return AlertAnnotation(
        ts=T0,
        line="L3",
        station="weld-2",
        characteristic="nugget_dia_mm",
        rule="nelson2",
        alert_id="f1-1",
        fingerprint="f1",
        kind="ack",
        author=author,
    )


def test_a_line_being_written_is_read_at_the_next_look(tmp_path: Path) -> None:
    log = AnnotationLog(tmp_path / "annotations.jsonl")
    log.append(note("li"))
    whole = (tmp_path / "annotations.jsonl").read_bytes()
    half = msgspec.json.encode(note("wang"))
    with (tmp_path / "annotations.jsonl").open("ab") as out:
        out.write(half[:20])
    found, offset = log.read_from(0)
    assert [n.author for n in found] == ["li"] and offset == len(whole)
    with (tmp_path / "annotations.jsonl").open("ab") as out:
        out.write(half[20:] + b"\n" + b"not json\n")
    found, later = log.read_from(offset)
    assert [n.author for n in found] == ["wang"]  # the broken line is passed over
    assert later == (tmp_path / "annotations.jsonl").stat().st_size
    assert AnnotationLog(tmp_path / "missing.jsonl").read_from(0) == ([], 0)
