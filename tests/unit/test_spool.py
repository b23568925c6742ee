"""The shared on-disk spool: order, restart, crashes (simulated by truncating files), bound,
acknowledgement and idempotency keys, and slots shared between processes."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from linewatch.connectors.spool import Spool, SpoolCorrupt, SpoolFull
from linewatch.pipeline.models import BackpressureError

ROOT = Path(__file__).resolve().parents[2]


def payloads(spool: Spool) -> list[bytes]:
    return [spool.read(entry) for entry in spool]


def test_entries_come_back_in_append_order_with_key_and_meta(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        for k in range(12):
            assert spool.append(f"body {k}".encode(), key=f"k{k}", meta={"lines": k})
        assert len(spool) == 12
        assert [e.key for e in spool] == [f"k{k}" for k in range(12)]
        assert [e.meta["lines"] for e in spool] == list(range(12))
        assert payloads(spool) == [f"body {k}".encode() for k in range(12)]
        assert [e.seq for e in spool] == list(range(12))
        assert all(e.created_at.tzinfo is not None for e in spool)
        assert "k3" in spool and "k12" not in spool


def test_a_restart_sees_the_pending_entries_and_continues_the_sequence(tmp_path: Path) -> None:
    first = Spool(tmp_path, max_bytes=1 << 20)
    for k in range(3):
        first.append(bytes([k]) * 10, key=f"k{k}")
    first.ack("k0")
    first.close()
    second = Spool(tmp_path, max_bytes=1 << 20)
    assert second.dir == first.dir
    assert [(e.key, e.seq) for e in second] == [("k1", 1), ("k2", 2)]
    assert payloads(second) == [b"\x01" * 10, b"\x02" * 10]
    second.append(b"next", key="k3")
    assert [e.seq for e in second] == [1, 2, 3]
    assert second.bytes == sum(e.path.stat().st_size for e in second)
    second.close()


def test_ack_deletes_the_file_and_remembers_the_key(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        spool.append(b"a", key="alert-1:firing")
        spool.append(b"b", key="alert-2:firing")
        entry = spool.first()
        assert entry is not None and entry.key == "alert-1:firing"
        spool.ack(entry)
        assert not entry.path.exists()
        assert [e.key for e in spool] == ["alert-2:firing"]
        assert spool.bytes == spool.first().size  # type: ignore[union-attr]
        assert spool.delivered("alert-1:firing") and not spool.delivered("alert-2:firing")
        # a resend of a delivered or a pending key stores nothing
        assert not spool.append(b"a again", key="alert-1:firing")
        assert not spool.append(b"b again", key="alert-2:firing")
        assert len(spool) == 1
        with pytest.raises(KeyError, match="alert-1:firing"):
            spool.ack("alert-1:firing")
        spool.ack("alert-2:firing")
        assert len(spool) == 0 and spool.bytes == 0 and spool.first() is None
    # the memory of delivered keys survives a restart
    with Spool(tmp_path, max_bytes=1 << 20) as again:
        assert again.delivered("alert-1:firing") and again.delivered("alert-2:firing")
        assert not again.append(b"a", key="alert-1:firing")


def test_remembered_keys_are_bounded_and_the_log_is_compacted(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20, remember_acked=5) as spool:
        for k in range(12):
            spool.append(b"x", key=f"k{k}")
            spool.ack(f"k{k}")
        assert [spool.delivered(f"k{k}") for k in range(12)] == [False] * 7 + [True] * 5
        # compacted when it passed 2 x 5 lines; 2 more since
        assert (spool.dir / "acked.log").read_text().split() == [f"k{k}" for k in range(6, 12)]
    with Spool(tmp_path, max_bytes=1 << 20, remember_acked=5) as again:
        assert (again.dir / "acked.log").read_text().split() == [f"k{k}" for k in range(7, 12)]
        assert again.append(b"x", key="k6")  # forgotten: taken as new


def test_generated_keys_are_unique(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        for _ in range(50):
            assert spool.append(b"same body")
        assert len({e.key for e in spool}) == 50


def test_bad_keys_and_settings_are_refused(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=100) as spool:
        for bad in ("two\nlines", "", "tab\there", "\ud800"):
            with pytest.raises(ValueError, match="non-empty printable text"):
                spool.append(b"x", key=bad)
        assert len(spool) == 0 and not list(spool.dir.glob("*.entry*"))
    with pytest.raises(ValueError, match="max_bytes must be >= 1"):
        Spool(tmp_path, max_bytes=0)
    with pytest.raises(ValueError, match="remember_acked must be >= 0"):
        Spool(tmp_path, max_bytes=10, remember_acked=-1)
    with pytest.raises(ValueError, match="suffix"):
        Spool(tmp_path, max_bytes=10, suffix="entry")


# -- bound -----------------------------------------------------------------------------------


def test_a_full_spool_raises_spool_full_with_retry_after(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1000, retry_after_s=2.5, label="webhook spool") as spool:
        assert spool.fits(10**9)  # an empty spool takes one entry of any size
        spool.append(b"x" * 5000, key="big")
        assert not spool.fits(1)
        with pytest.raises(SpoolFull, match=r"webhook spool .* is full") as caught:
            spool.append(b"y", key="small")
        assert isinstance(caught.value, BackpressureError)
        assert caught.value.retry_after == 2.5
        assert [e.key for e in spool] == ["big"]
        assert not list(spool.dir.glob("*.tmp"))
        spool.ack("big")
        assert spool.bytes == 0
        # bytes count the file on disk: 12 bytes of prefix + the JSON header + the payload
        spool.append(b"y" * 100, key="k")
        only = spool.first()
        assert only is not None and spool.bytes == only.size == only.path.stat().st_size
        assert 12 + 100 < only.size < 12 + 100 + 200


def test_the_bound_counts_every_entry(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=2000) as spool:
        stored = 0
        with pytest.raises(SpoolFull):
            while True:
                spool.append(b"z" * 300, key=f"k{stored}")
                stored += 1
        sizes = [e.size for e in spool]
        assert len(sizes) == stored and spool.bytes == sum(sizes)
        assert spool.bytes <= 2000 < spool.bytes + min(sizes)
        assert stored == 2000 // max(sizes) or stored == 2000 // min(sizes)


# -- crashes -----------------------------------------------------------------------------------


def _entry_files(spool: Spool) -> list[Path]:
    return sorted(spool.dir.glob("*.entry"))


def test_a_torn_last_entry_is_set_aside_and_the_rest_survives(tmp_path: Path) -> None:
    first = Spool(tmp_path, max_bytes=1 << 20)
    for k in range(3):
        first.append(f"payload number {k}".encode() * 5, key=f"k{k}")
    last = _entry_files(first)[-1]
    first.close()
    whole = last.read_bytes()
    with last.open("r+b") as torn:  # as a file system that did not order the write might
        torn.truncate(len(whole) - 7)
    with Spool(tmp_path, max_bytes=1 << 20) as second:
        assert [e.key for e in second] == ["k0", "k1"]
        assert second.bytes == sum(e.size for e in second)
        kept = tmp_path / "corrupt" / f"slot-0-{last.name}"
        assert kept.read_bytes() == whole[:-7] and not last.exists()
        # the next append does not reuse a sequence number of a file set aside badly
        second.append(b"new", key="k3")
        assert [e.key for e in second] == ["k0", "k1", "k3"]


@pytest.mark.parametrize("keep", [0, 5, 11, 12, 30])
def test_an_entry_cut_anywhere_never_crashes_the_next_start(tmp_path: Path, keep: int) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as first:
        first.append(b"good", key="good")
        first.append(b"cut short" * 10, key="cut")
        cut = _entry_files(first)[-1]
    cut.write_bytes(cut.read_bytes()[:keep])
    with Spool(tmp_path, max_bytes=1 << 20) as second:
        assert [e.key for e in second] == ["good"] and payloads(second) == [b"good"]
        assert len(list((tmp_path / "corrupt").iterdir())) == 1


def test_a_tmp_file_is_an_append_that_never_returned(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as first:
        first.append(b"kept", key="kept")
        (first.dir / "000000000001.entry.tmp").write_bytes(b"half a wr")
    with Spool(tmp_path, max_bytes=1 << 20) as second:
        assert [e.key for e in second] == ["kept"]
        assert not list(tmp_path.rglob("*.tmp")) and not (tmp_path / "corrupt").exists()


def test_a_flipped_payload_byte_is_caught_on_read(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        spool.append(b"abcdef", key="k0")
        spool.append(b"ghijkl", key="k1")
        damaged = spool.first()
        assert damaged is not None
        data = bytearray(damaged.path.read_bytes())
        data[-1] ^= 0x01
        damaged.path.write_bytes(bytes(data))
        with pytest.raises(SpoolCorrupt, match="failed its checksum"):
            spool.read(damaged)
        assert [e.key for e in spool] == ["k1"]
        assert (tmp_path / "corrupt" / f"slot-0-{damaged.path.name}").exists()
        assert spool.bytes == spool.first().size  # type: ignore[union-attr]
        assert zlib.crc32(spool.read(spool.first())) == zlib.crc32(b"ghijkl")  # type: ignore[arg-type]


def test_delivered_but_not_deleted_before_a_crash_is_not_sent_again(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as first:
        first.append(b"a", key="k0")
        first.append(b"b", key="k1")
        copy = first.first().path.read_bytes()  # type: ignore[union-attr]
        name = first.first().path.name  # type: ignore[union-attr]
        first.ack("k0")
    (first.dir / name).write_bytes(copy)  # the crash came between the log and the unlink
    with Spool(tmp_path, max_bytes=1 << 20) as second:
        assert [e.key for e in second] == ["k1"] and not (first.dir / name).exists()


def test_a_torn_last_acked_line_leaves_that_entry_pending(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as first:
        for k in range(3):
            first.append(b"p", key=f"k{k}")
        copy = next(e for e in first if e.key == "k1").path.read_bytes()
        first.ack("k0")
        first.ack("k1")
    log = first.dir / "acked.log"
    assert log.read_bytes() == b"k0\nk1\n"
    log.write_bytes(b"k0\nk1")  # k1's line lost its newline: its ack never completed
    k1 = first.dir / "000000000001.entry"
    k1.write_bytes(copy)  # and the crash came before the unlink
    with Spool(tmp_path, max_bytes=1 << 20) as second:
        assert second.delivered("k0") and not second.delivered("k1")
        assert [e.key for e in second] == ["k1", "k2"]  # k1 is sent again, same key
        assert (second.dir / "acked.log").read_bytes() == b"k0\n"


def test_kill_9_mid_stream_loses_no_returned_append(tmp_path: Path) -> None:
    writer = (
        "import os, sys\n"
        "from linewatch.connectors.spool import Spool\n"
        "spool = Spool(sys.argv[1], max_bytes=1 << 30)\n"
        "for k in range(40):\n"
        "    spool.append(f'body {k}'.encode(), key=f'k{k}')\n"
        "    if k % 3 == 0:\n"
        "        spool.ack(f'k{k}')\n"
        "print(len(spool), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", writer, str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -9, done.stderr
    assert int(done.stdout) == 26
    with Spool(tmp_path, max_bytes=1 << 20) as after:
        expected = [k for k in range(40) if k % 3]
        assert [e.key for e in after] == [f"k{k}" for k in expected]
        assert payloads(after) == [f"body {k}".encode() for k in expected]


# -- processes sharing a root -------------------------------------------------------------


def test_a_live_spool_keeps_its_slot_and_an_unlocked_one_is_adopted(tmp_path: Path) -> None:
    first = Spool(tmp_path, max_bytes=1 << 20)
    for k in range(3):
        first.append(f"a{k}".encode(), key=f"a{k}")
    first.ack("a0")
    second = Spool(tmp_path, max_bytes=1 << 20)  # first holds slot-0's lock
    assert second.dir == tmp_path / "slot-1" and len(second) == 0
    second.append(b"b0", key="b0")
    second.append(b"b1", key="b1")
    second.ack("b1")
    first.close()  # as if both processes had died
    second.close()
    third = Spool(tmp_path, max_bytes=1 << 20)
    assert third.dir == tmp_path / "slot-0"
    assert [e.key for e in third] == ["a1", "a2", "b0"]  # its own, then slot-1's
    assert payloads(third) == [b"a1", b"a2", b"b0"]
    assert [e.seq for e in third] == [1, 2, 3]
    assert not list((tmp_path / "slot-1").glob("*.entry"))
    assert not (tmp_path / "slot-1" / "acked.log").exists()
    assert third.delivered("a0") and third.delivered("b1")  # adopted memory too
    third.close()
    with Spool(tmp_path, max_bytes=1 << 20) as fourth:
        assert fourth.delivered("b1") and [e.key for e in fourth] == ["a1", "a2", "b0"]


def test_the_suffix_names_the_entry_files(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20, suffix=".lp.gz") as spool:
        spool.append(b"m v=1 1")
        names = sorted(p.name for p in spool.dir.iterdir())
        assert names == [".lock", "000000000000.lp.gz", "acked.log"]
    with Spool(tmp_path, max_bytes=1 << 20) as other_suffix:
        assert len(other_suffix) == 0  # files of another suffix are not its entries
