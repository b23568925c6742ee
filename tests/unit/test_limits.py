"""``linewatch limits``: estimate on a hand-checkable history, approve, seed a replay, versions.

The history is I-MR data with phase1 6 and one exclusion pass: 10, 12, 11, 13, 10, 30.
Pass 1: center 86/6, MR-bar (2+1+2+3+20)/4 = 5.6, sigma 5.6/1.128, UCL 14.333 + 3·4.965 =
29.23, so 30 is beyond and excluded. Re-estimated on 10, 12, 11, 13, 10 (the moving range
into 30 is dropped too): center 56/5 = 11.2, MR-bar 8/4 = 2, sigma 2/1.128, limits
11.2 ± 6/1.128. Lag-1 autocorrelation of the kept values: deviations −1.2, 0.8, −0.2,
1.8, −1.2; sum of lagged products −3.64 over sum of squares 6.8.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from linewatch.pipeline.cli import main
from linewatch.pipeline.limits_file import LimitsFile, LimitsFileError, content_hash

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
HISTORY = [10.0, 12.0, 11.0, 13.0, 10.0, 30.0]
SIGMA = 2.0 / 1.128
KEY = "L1/s1/d"

CONFIG = """\
version: 1
lines:
  - name: L1
    stations:
      - name: s1
        characteristics:
          - {name: d, chart: imr, phase1: 6, phase1_passes: 1, rules: test1}
          - {name: porosity, chart: p, phase1: 25}
dead_letters:
  path: dead.jsonl
sinks:
  - {type: jsonl, path: points.jsonl, outputs: [points, alerts]}
"""


def _records(values: list[float], start: datetime = T0, lots: int = 0) -> str:
    lines = [
        {
            "kind": "measurement",
            "ts": (start + timedelta(minutes=i)).isoformat(),
            "line": "L1",
            "station": "s1",
            "characteristic": "d",
            "value": value,
        }
        for i, value in enumerate(values)
    ]
    lines += [
        {
            "kind": "attribute",
            "ts": (start + timedelta(minutes=i, seconds=30)).isoformat(),
            "line": "L1",
            "station": "s1",
            "characteristic": "porosity",
            "inspected": 100,
            "nonconforming": 2,
        }
        for i in range(lots)
    ]
    lines.sort(key=lambda r: str(r["ts"]))
    return "".join(json.dumps(line) + "\n" for line in lines)


@pytest.fixture
def plant(tmp_path: Path) -> Path:
    (tmp_path / "plant.yaml").write_text(CONFIG)
    (tmp_path / "history.jsonl").write_text(_records(HISTORY, lots=4))
    return tmp_path


def _estimate(plant: Path, history: str = "history.jsonl", *extra: str) -> int:
    return main(
        [
            "limits",
            "estimate",
            "--config",
            str(plant / "plant.yaml"),
            "--input",
            str(plant / history),
            "--out",
            str(plant / "limits.yaml"),
            *extra,
        ]
    )


def _approve(plant: Path, effective: str, by: str = "A. Engineer") -> int:
    return main(
        ["limits", "approve", str(plant / "limits.yaml"), "--by", by, "--effective-from", effective]
    )


def _replay(plant: Path, data: str, out: str, *extra: str) -> list[dict[str, object]]:
    args = ["replay", "--config", str(plant / "plant.yaml"), "--input", str(plant / data)]
    code = main([*args, "--out", str(plant / out), "--no-progress", *extra])
    assert code == 0
    return [json.loads(line) for line in (plant / out / "points.jsonl").read_text().splitlines()]


def test_estimate_gives_hand_computed_limits_and_review(
    plant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    review = plant / "review.html"
    assert _estimate(plant, "history.jsonl", "--review", str(review)) == 0
    entry = LimitsFile.load(plant / "limits.yaml").versions[0]["streams"][KEY]
    assert entry["chart"] == "imr" and entry["estimator"] == "mr"
    assert entry["n"] == 6 and entry["kept"] == 5
    assert entry["excluded"] == [5]
    assert entry["excluded_ts"] == [(T0 + timedelta(minutes=5)).isoformat()]
    assert entry["center"] == pytest.approx(11.2, rel=1e-15)
    assert entry["sigma"] == pytest.approx(SIGMA, rel=1e-15)
    individuals = entry["limits"]["individuals"]
    assert individuals["ucl"] == pytest.approx(11.2 + 3 * SIGMA, rel=1e-15)
    assert individuals["lcl"] == pytest.approx(11.2 - 3 * SIGMA, rel=1e-15)
    assert entry["limits"]["moving_range"]["ucl"] == pytest.approx((1.128 + 3 * 0.853) * SIGMA)
    assert entry["lag1_autocorrelation"] == pytest.approx(-3.64 / 6.8, rel=1e-9)
    assert entry["window"] == {
        "first": T0.isoformat(),
        "last": (T0 + timedelta(minutes=5)).isoformat(),
    }
    assert "L1/s1/porosity" not in LimitsFile.load(plant / "limits.yaml").versions[0]["streams"]
    printed = capsys.readouterr().out
    assert "L1/s1/porosity: no limits, in phase I: 4 of 25 needed" in printed
    page = review.read_text()
    assert "in phase I: 4 of 25 needed" in page
    assert "datum.excluded == true" in page  # the excluded point's layer
    assert '"excluded":true' in page.replace(" ", "")


def test_approve_stamps_once_and_any_later_edit_is_found(
    plant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _estimate(plant) == 0
    assert _approve(plant, "2026-03-01T06:00:00+01:00") == 0
    path = plant / "limits.yaml"
    version = LimitsFile.load(path).versions[0]
    approval = version["approval"]
    assert approval["by"] == "A. Engineer"
    assert approval["effective_from"] == "2026-03-01T06:00:00+01:00"
    assert datetime.fromisoformat(approval["at"]).tzinfo is not None
    assert approval["sha256"] == content_hash(version)
    capsys.readouterr()
    assert _approve(plant, "2026-03-01T00:00:00Z", by="B. Other") == 1
    assert capsys.readouterr().err == (
        f"error: {path}: versions[0].approval: version 1 is already approved (by A. Engineer "
        f"at {approval['at']}); estimate a new version instead\n"
    )
    # Editing a limit, or the approval's time, after approval breaks the seal.
    for edit in ("limit", "effective_from"):
        data = yaml.safe_load(path.read_text())
        stamped = data["versions"][0]
        if edit == "limit":
            stamped["streams"][KEY]["params"]["sigma"] = 0.5
        else:
            stamped["approval"]["effective_from"] = "2020-01-01T00:00:00+00:00"
        (plant / "edited.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        with pytest.raises(
            LimitsFileError, match=r"versions\[0\]\.approval\.sha256: version 1 was changed"
        ):
            LimitsFile.load(plant / "edited.yaml")


def test_replay_with_the_file_fires_from_the_first_record(
    plant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _estimate(plant) == 0
    assert _approve(plant, "2026-03-01T00:00:00Z") == 0
    later = T0 + timedelta(days=1)
    (plant / "live.jsonl").write_text(_records([20.0, 11.0, 12.0], later, lots=2))
    without = _replay(plant, "live.jsonl", "plain")
    assert without == []  # three observations of six: still in phase I
    report = (plant / "plain" / "report.md").read_text()
    assert "| L1/s1 | d | imr | 3 | 0 (in phase I: 3 of 6 needed) |" in report
    seeded = _replay(plant, "live.jsonl", "seeded", "--limits", str(plant / "limits.yaml"))
    first = seeded[0]
    assert first["type"] == "chart_point" and first["chart"] == "individuals"
    assert first["ts"] == later.isoformat().replace("+00:00", "Z")
    assert first["value"] == 20.0 and first["violations"] == ["nelson1"]
    assert first["cl"] == pytest.approx(11.2) and first["limits_version"] == 1
    alerts = [o for o in seeded if o["type"] == "alert"]
    assert [(a["rule"], a["status"]) for a in alerts][:1] == [("nelson1", "firing")]
    report = (plant / "seeded" / "report.md").read_text()
    assert "| L1/s1 | d | imr | 3 | 5 |" in report  # 3 individuals + 2 moving ranges
    assert "| L1/s1 | porosity | p | 2 | 0 (in phase I: 2 of 25 needed) |" in report
    assert (
        "Limits from the limits file v1 (charted from the first record, no phase I): s1/d."
        in report
    )


def test_config_key_and_limits_at_pick_the_version_in_effect(plant: Path) -> None:
    assert _estimate(plant) == 0
    assert _approve(plant, "2026-01-01T00:00:00Z") == 0
    # Re-estimation on a shifted history appends version 2; version 1 stays as approved.
    (plant / "shifted.jsonl").write_text(_records([v + 100.0 for v in HISTORY]))
    before = LimitsFile.load(plant / "limits.yaml").versions[0]
    assert _estimate(plant, "shifted.jsonl") == 0
    assert _approve(plant, "2026-06-01T00:00:00Z") == 0
    versions = LimitsFile.load(plant / "limits.yaml").versions
    assert versions[0] == before and len(versions) == 2
    assert versions[1]["streams"][KEY]["center"] == pytest.approx(111.2)
    config = plant / "plant.yaml"
    config.write_text(CONFIG + "limits: limits.yaml\n")  # relative to the config file
    (plant / "live.jsonl").write_text(_records([11.0]))
    for at, center, number in (
        ("2026-03-01T00:00:00Z", 11.2, 1),
        ("2026-06-01T00:00:00Z", 111.2, 2),
        (None, 111.2, 2),
    ):
        extra = [] if at is None else ["--limits-at", at]
        point = _replay(plant, "live.jsonl", f"at-{number}-{at is None}", *extra)[0]
        assert point["cl"] == pytest.approx(center)
        assert point["limits_version"] == number


def _broken(plant: Path, capsys: pytest.CaptureFixture[str], text: str) -> str:
    (plant / "bad.yaml").write_text(text)
    capsys.readouterr()
    args = [
        "replay",
        "--config",
        str(plant / "plant.yaml"),
        "--input",
        str(plant / "history.jsonl"),
    ]
    code = main(
        [*args, "--out", str(plant / "o"), "--no-progress", "--limits", str(plant / "bad.yaml")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line
    return err


def test_bad_files_give_one_line_errors_naming_file_and_field(
    plant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _estimate(plant) == 0
    good = yaml.safe_load((plant / "limits.yaml").read_text())
    bad = plant / "bad.yaml"
    assert _broken(plant, capsys, yaml.safe_dump(good)) == (
        f"error: {bad}: approval: no version is approved "
        f"(run `linewatch limits approve {bad} --by NAME`)\n"
    )
    entry = good["versions"][0]["streams"][KEY]
    entry["params"]["sigma"] = "wide"
    assert _broken(plant, capsys, yaml.safe_dump(good)) == (
        f"error: {bad}: versions[0].streams['{KEY}'].params.sigma: expected a finite number, "
        "got 'wide'\n"
    )
    entry["params"] = {"centre": 1.0}
    good["versions"][0]["approval"] = None
    (plant / "limits.yaml").write_text(yaml.safe_dump(good))
    assert _approve(plant, "2026-01-01T00:00:00Z") == 0
    assert _broken(plant, capsys, (plant / "limits.yaml").read_text()) == (
        f"error: {bad}: versions[0].streams['{KEY}'].params: do not fit chart 'imr' (missing 'center')\n"
    )
    del entry["window"]
    assert _broken(plant, capsys, yaml.safe_dump(good)) == (
        f"error: {bad}: versions[0].streams['{KEY}'].window: missing\n"
    )
    assert _broken(plant, capsys, "kind: linewatch-limits\nformat: 1\nversions: [1\n").startswith(
        f"error: {bad}: not valid YAML: "
    )
    assert _broken(plant, capsys, "lines: []\n") == (
        f"error: {bad}: kind: expected 'linewatch-limits' (is this a limits file?)\n"
    )
    err = _broken(plant, capsys, "kind: linewatch-limits\nformat: 1\nversions: []\n")
    assert "approval: no version is approved" in err


def test_a_tampered_file_stops_the_replay(plant: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _estimate(plant) == 0
    assert _approve(plant, "2026-01-01T00:00:00Z") == 0
    text = (plant / "limits.yaml").read_text()
    wider = text.replace("kept: 5", "kept: 6")
    assert wider != text
    bad = plant / "bad.yaml"
    assert _broken(plant, capsys, wider) == (
        f"error: {bad}: versions[0].approval.sha256: version 1 was changed after its approval "
        "(its content no longer matches the hash); estimate and approve a new version\n"
    )


def test_review_charts_render_with_the_excluded_point(plant: Path) -> None:
    folder = plant / "charts"
    assert _estimate(plant, "history.jsonl", "--review-charts", str(folder)) == 0
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["01-L1_s1_d.png", "01-L1_s1_d.svg", "review.html"]
    assert (folder / "01-L1_s1_d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (folder / "01-L1_s1_d.svg").read_text()
    # Two labels: the 30 on the individuals chart, and the moving range it completes.
    assert svg.count(">excluded<") == 2
