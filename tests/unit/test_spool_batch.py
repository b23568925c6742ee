"""Spool appends and acks with ``sync=False``: one fsync for many, made durable by ``sync()``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from linewatch.connectors import spool as spool_module
from linewatch.connectors.spool import Spool


class FsyncCounter:
    def __init__(self) -> None:
        self.calls = 0
        self.fsync = os.fsync  # the real one (the patch replaces os.fsync itself)

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.fsync(fd)


def counted(monkeypatch: pytest.MonkeyPatch) -> FsyncCounter:
    counter = FsyncCounter()
    monkeypatch.setattr(spool_module.os, "fsync", counter)
    return counter


def test_five_appends_then_sync_cost_seven_fsyncs_not_ten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        counter = counted(monkeypatch)
        for k in range(5):
            assert spool.append(f"body {k}".encode(), key=f"k{k}", sync=False)
        assert counter.calls == 5  # each file; the directory waits for sync()
        spool.sync()
        assert counter.calls == 7  # the directory and the ack log
        spool.sync()
        assert counter.calls == 7  # nothing pending: no fsync
        for k in range(5):
            spool.append(f"more {k}".encode(), key=f"m{k}")
        assert counter.calls == 17  # the default: file and directory per append


def test_acks_without_sync_are_fsynced_once_and_survive_a_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        for k in range(4):
            spool.append(f"body {k}".encode(), key=f"k{k}")
        counter = counted(monkeypatch)
        for k in range(3):
            spool.ack(f"k{k}", sync=False)
        assert counter.calls == 0
        spool.sync()
        assert counter.calls == 2
    with Spool(tmp_path, max_bytes=1 << 20) as again:
        assert [entry.key for entry in again] == ["k3"]
        assert [again.delivered(f"k{k}") for k in range(4)] == [True, True, True, False]
        assert not again.append(b"resent", key="k1")  # acknowledged: not stored twice


def test_close_syncs_what_was_left_unsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(b"x", key="a", sync=False)
    counter = counted(monkeypatch)
    spool.close()
    assert counter.calls == 2
