"""State fuzz: 100 seeded corruptions of a real checkpoint of the demo line.

Each must be refused with one error line that says what to do, or resume to exactly the
outputs of an uninterrupted run. The checkpoint comes from a run over the first 20,000
demo records stopped after 10,000; the corruptions are truncations, flipped bytes, edited
numbers and keys (with and without a recomputed checksum: a forgery with invalid fields
must be refused by the field checks), other formats, and other inputs.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from linewatch.pipeline.job import JobError
from tests.unit.demo_slice import OUTPUTS, cli, outputs, run_in_process, write_slice

SEED = 20261201
Corruption = tuple[str, Callable[[bytes], bytes], str | None]  # name, edit, input override


def split(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    head, _, body = data.partition(b"\n")
    return json.loads(head), json.loads(body)


def join(header: dict[str, Any], body: dict[str, Any], forge: bool) -> bytes:
    encoded = json.dumps(body, separators=(",", ":")).encode()
    if forge:  # a checksum that matches the edited body: only the field checks can catch it
        header = {**header, "sha256": hashlib.sha256(encoded).hexdigest()}
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + encoded


def edit_body(change: Callable[[dict[str, Any]], None], forge: bool) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        header, body = split(data)
        change(body)
        return join(header, body, forge)

    return apply


def set_records(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        if value is KeyError:
            del body["source"]["records"]
        else:
            body["source"]["records"] = value

    return change


def set_in(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        node = body
        for step in path[:-1]:
            node = node[step] if step != "*" else next(iter(node.values()))
        node[path[-1]] = value

    return change


def first_key_state(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        edit(next(iter(body["engine"]["keys"].values())))

    return change


def corruptions(size: int) -> list[Corruption]:
    rng = random.Random(SEED)
    cases: list[Corruption] = []
    for _ in range(25):
        cut = rng.randrange(size)
        cases.append((f"truncated at {cut}", lambda d, cut=cut: d[:cut], None))
    for _ in range(25):
        at, mask = rng.randrange(size), rng.randrange(1, 256)
        cases.append(
            (
                f"byte {at} ^ {mask}",
                lambda d, at=at, mask=mask: d[:at] + bytes([d[at] ^ mask]) + d[at + 1 :],
                None,
            )
        )
    edits: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
        ("records 10", set_records(10)),
        ("records -5", set_records(-5)),
        ("records 99999999", set_records(99_999_999)),
        ("records removed", set_records(KeyError)),
        ("records 'x'", set_records("x")),
        ("records 1.5", set_records(1.5)),
        ("records true", set_records(True)),
        ("engine keys {}", set_in(("engine", "keys"), {})),
        ("engine {}", lambda b: b.__setitem__("engine", {})),
        ("engine keys a list", set_in(("engine", "keys"), [])),
        ("a key without a station", lambda b: b["engine"]["keys"].__setitem__("L3", {})),
        ("a key with a space", lambda b: b["engine"]["keys"].__setitem__("L3/we ld", {})),
        ("key state lacks streams", first_key_state(lambda s: s.pop("streams"))),
        ("key state is a number", lambda b: b["engine"]["keys"].__setitem__("L3/trim", 7)),
        (
            "a detector state is garbage",
            first_key_state(
                lambda s: s["streams"].update(
                    {name: {"detector": {"n": "many"}} for name in s["streams"]}
                )
            ),
        ),
        (
            "a clock holds text",
            first_key_state(
                lambda s: s.__setitem__("clock", {"recent": ["soon"], "future_run": []})
            ),
        ),
        ("negative sink length", set_in(("sinks",), {"points.jsonl": -1})),
        ("negative applied offset", set_in(("applied",), {"L3/trim": {"t/0": -3}})),
        ("version 3 in the body", set_in(("version",), 3)),
        ("another input kind", set_in(("input",), {"kind": "kafka", "topics": ["x"]})),
    ]
    for name, change in edits:
        cases.append((f"{name} (checksum stale)", edit_body(change, forge=False), None))
    for name, change in edits:
        if name != "records 10" and name != "engine keys {}":  # valid forgeries: out of scope
            cases.append((f"{name} (checksum forged)", edit_body(change, forge=True), None))
    cases += [
        ("empty file", lambda d: b"", None),
        ("garbage appended", lambda d: d + b"\n{}", None),
        (
            "format 1 (no header)",
            lambda d: d.partition(b"\n")[2].replace(b'"version":2', b'"version":1'),
            None,
        ),
        ("header version 1", lambda d: d.replace(b'"version":2', b'"version":1', 1), None),
        ("header of another tool", lambda d: d.replace(b"linewatch-checkpoint", b"x", 1), None),
        (
            "checksum zeroed",
            lambda d: d.replace(d[d.index(b'"sha256":"') + 10 :][:64], b"0" * 64, 1),
            None,
        ),
        ("not JSON at all", lambda d: b"\x00\xff" * 40, None),
        ("the body twice", lambda d: d + b"\n" + d.partition(b"\n")[2], None),
        ("only the header", lambda d: d.partition(b"\n")[0] + b"\n", None),
        ("another file", lambda d: d, "copy"),
        ("same path, first block edited", lambda d: d, "edited"),
        ("same path, shorter", lambda d: d, "shorter"),
    ]
    return cases


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, dict[str, bytes]]:  # fmt: skip
    folder = tmp_path_factory.mktemp("fuzz")
    input_path, config_path = write_slice(folder)
    straight = folder / "straight"
    straight.mkdir()
    assert run_in_process(straight, input_path, config_path) == 20_000
    stopped = folder / "stopped"
    stopped.mkdir()
    assert run_in_process(stopped, input_path, config_path, stop_after=10_000) == 10_000
    return input_path, config_path, stopped, outputs(straight)


def prepare(stopped: Path, case: Path, edit: Callable[[bytes], bytes]) -> None:
    shutil.copytree(stopped / "state", case / "state")
    for name in OUTPUTS:
        shutil.copy(stopped / name, case / name)
    checkpoint = case / "state" / "checkpoint.json"
    checkpoint.write_bytes(edit(checkpoint.read_bytes()))


def test_a_hundred_corrupted_checkpoints(
    tmp_path: Path, interrupted: tuple[Path, Path, Path, dict[str, bytes]]
) -> None:
    input_path, config_path, stopped, expected = interrupted
    original = input_path.read_bytes()
    cases = corruptions(len((stopped / "state" / "checkpoint.json").read_bytes()))
    assert len(cases) == 100
    # Controls: untouched, and a forged but harmless edit, resume exactly.
    cases.insert(0, ("untouched", lambda d: d, None))
    cases.insert(1, ("written_at edited (forged)", edit_body(set_in(("written_at",), "x"), True), None))  # fmt: skip
    outcomes: dict[str, str] = {}
    for number, (name, edit, other_input) in enumerate(cases):
        case = tmp_path / f"case{number}"
        case.mkdir()
        prepare(stopped, case, edit)
        given = input_path
        if other_input == "copy":
            given = case / "slice.jsonl"
            given.write_bytes(original)
        elif other_input == "edited":
            input_path.write_bytes(b"[" + original[1:])
        elif other_input == "shorter":
            input_path.write_bytes(original[: len(original) // 2])
        try:
            run_in_process(case, given, config_path)
            outcome = "resumed"
        except JobError as exc:
            outcome = str(exc)
        finally:
            input_path.write_bytes(original)
        if outcome == "resumed":
            assert outputs(case) == expected, name
        else:
            assert "\n" not in outcome and outcome.endswith(
                ("rerun with --reset-state to start over", "(or give the original input)")
            ), (name, outcome)
        outcomes[name] = outcome
    assert [n for n, o in outcomes.items() if o == "resumed"] == [
        "untouched",
        "written_at edited (forged)",
    ]
    checkpoint = stopped / "state" / "checkpoint.json"
    assert outcomes["records -5 (checksum forged)"] == (
        f"{Path('state/checkpoint.json')}: source.records must be a whole number >= 0, got -5; "
        "rerun with --reset-state to start over"
    )
    assert outcomes["records 99999999 (checksum forged)"].endswith(
        f"source.records 99999999 is more than {input_path.resolve()} can hold; rerun with "
        "--reset-state to start over (or give the original input)"
    )
    assert "first block differs" in outcomes["same path, first block edited"]
    assert f"is now {len(original) // 2} bytes" in outcomes["same path, shorter"]
    assert "checksum mismatch" in outcomes["engine keys {} (checksum stale)"]
    assert checkpoint.exists()

    # A sample through the real CLI: an error line, exit 1, never a traceback.
    for number in (3, 30, 55, 70, 85, 95):
        name, edit, _ = cases[number]
        case = tmp_path / f"cli{number}"
        case.mkdir()
        prepare(stopped, case, edit)
        result = cli(
            case, "run", "--config", str(config_path), "--input", str(input_path),
            "--state-dir", "state",
        )  # fmt: skip
        assert result.returncode == 1, (name, result.stderr)
        assert "Traceback" not in result.stderr
        message = " ".join(result.stderr.split())
        assert message == f"error: {outcomes[name]}", name
