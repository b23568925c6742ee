"""qcc and Minitab conventions: each item against qcc's documented formulas, by numpy.

The expected numbers are computed here independently (numpy, scipy's gamma and quantiles,
qcc's own tables typed in from qcc 2.7's ``.qcc.options``), on Montgomery's piston rings
(Table 6.3, as qcc ships them) and on unequal subgroup sizes made from them.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from linewatch.detectors.spc import XbarRChart, XbarSChart
from linewatch.detectors.spc.analyze import analyze
from linewatch.detectors.spc.capability import capability
from linewatch.detectors.spc.constants import d2, d3
from linewatch.detectors.spc.estimators import SUBGROUP_METHODS, subgroup_sigma

DATA = json.loads((Path(__file__).parent / "published_data.json").read_text())
RINGS: list[list[float]] = DATA["pistonrings"][:25]  # Table 6.3, phase I
REL = 1e-9

# qcc 2.7: exp.R.unscaled (d2, n = 2..25) and se.R.unscaled (d3, n = 2..10) as printed there.
QCC_D2 = dict(
    zip(
        range(2, 26),
        [
            *(1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078, 3.173, 3.258),
            *(3.336, 3.407, 3.472, 3.532, 3.588, 3.640, 3.689, 3.735, 3.778, 3.819, 3.858),
            *(3.895, 3.931),
        ],
        strict=True,
    )
)
QCC_D3 = dict(
    zip(
        range(2, 11),
        [
            *(0.8525033, 0.8883697, 0.8798108, 0.8640855, 0.8480442, 0.8332108),
            *(0.8198378, 0.8078413, 0.7970584),
        ],
        strict=True,
    )
)


def c4_np(n: np.ndarray) -> np.ndarray:
    """c4 from scipy's gamma function (not the module's lgamma)."""
    return np.sqrt(2.0 / (n - 1)) * special.gamma(n / 2) / special.gamma((n - 1) / 2)


def unequal() -> list[list[float]]:
    """The piston rings cut to sizes 5, 4, 3, 2, 5, 4, ... (values dropped from the end)."""
    sizes = [5, 4, 3, 2]
    return [g[: sizes[i % 4]] for i, g in enumerate(RINGS)]


def arrays(groups: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = np.array([len(g) for g in groups], dtype=float)
    r = np.array([np.ptp(g) for g in groups])
    s = np.array([np.std(g, ddof=1) for g in groups])
    return n, r, s


def close(got: float | None, want: float) -> None:
    assert got is not None and got == pytest.approx(float(want), rel=REL)


# -- constants -------------------------------------------------------------------------------


def test_qcc_constants_table() -> None:
    for n, want in QCC_D2.items():
        assert d2(n, "qcc") == want
    for n, want in QCC_D3.items():
        assert d3(n, "qcc") == want
    assert d3(50, "qcc") == 0.6521506 and d3(25, "qcc") == 0.7084528
    # the default table is unchanged: three decimals for both
    assert (d2(5), d3(5), d3(2)) == (2.326, 0.864, 0.853)
    with pytest.raises(ValueError, match=r"'table' or 'exact' \(or 'qcc'"):
        d2(5, "minitab")


# -- sigma estimators, unequal sizes ---------------------------------------------------------


def test_estimators_match_qcc_formulas_for_unequal_sizes() -> None:
    groups = unequal()
    n, r, s = arrays(groups)
    d2q = np.array([QCC_D2[int(k)] for k in n])
    d3q = np.array([QCC_D3[int(k)] for k in n])
    c4 = c4_np(n)
    w_r = (d2q / d3q) ** 2
    w_s = c4**2 / (1 - c4**2)
    df = np.sum(n - 1)
    want = {
        "uwave-r": np.sum(r / d2q) / len(n),
        "uwave-sd": np.sum(s / c4) / len(n),
        "mvlue-r": np.sum(r / d2q * w_r) / np.sum(w_r),
        "mvlue-sd": np.sum(s / c4 * w_s) / np.sum(w_s),
        "rmsdf": np.sqrt(np.sum(s**2 * (n - 1)) / df) / c4_np(np.array(df + 1.0)),
        "overall": np.std(np.concatenate(groups), ddof=1),
    }
    for method, value in want.items():
        close(subgroup_sigma(method, groups, "qcc"), value)
    # the estimators really differ here (a test that could not tell them apart is no test)
    assert len({round(float(v), 12) for v in want.values()}) == len(want)


def test_old_names_are_aliases() -> None:
    groups = unequal()
    for old, new in (("rbar", "mvlue-r"), ("sbar", "mvlue-sd"), ("pooled", "rmsdf")):
        assert subgroup_sigma(old, groups) == subgroup_sigma(new, groups)
    assert set(SUBGROUP_METHODS) >= {"uwave-r", "uwave-sd", "mvlue-r", "mvlue-sd", "rmsdf"}
    with pytest.raises(ValueError, match="unknown sigma method 'uwave'"):
        subgroup_sigma("uwave", groups)


def test_equal_sizes_uwave_and_mvlue_agree_with_qccs_piston_rings() -> None:
    # qcc(pistonrings[1:25], type="xbar"): StdDev = 0.009785039 (R-bar/2.326)
    r = np.array([np.ptp(g) for g in RINGS])
    for method in ("uwave-r", "mvlue-r"):
        close(subgroup_sigma(method, RINGS, "qcc"), r.mean() / 2.326)
    assert round(subgroup_sigma("uwave-r", RINGS, "qcc"), 9) == 0.009785039


# -- the charts ------------------------------------------------------------------------------


def test_xbar_r_qcc_unequal_sizes() -> None:
    groups = unequal()
    n, r, _ = arrays(groups)
    sigma = np.sum(r / np.array([QCC_D2[int(k)] for k in n])) / len(n)
    center = np.concatenate(groups).mean()
    r_center = np.sum(n * r) / np.sum(n)  # qcc's stats.R: one size-weighted mean
    d3q = np.array([QCC_D3[int(k)] for k in n])
    result = analyze("xbar-r", groups, convention="qcc")
    close(result.sigma, sigma)
    close(result.params["center"], center)
    close(result.params["dispersion_center"], r_center)
    xbar, rng = result.charts["xbar"], result.charts["range"]
    for i, k in enumerate(n):
        close(xbar.ucl[i], center + 3 * sigma / math.sqrt(k))
        close(xbar.sigma[i], sigma / math.sqrt(k))
        close(rng.center[i], r_center)
        close(rng.ucl[i], r_center + 3 * d3q[i] * sigma)
        assert rng.lcl[i] == max(0.0, r_center - 3 * d3q[i] * sigma)
        close(rng.sigma[i], d3q[i] * sigma)
    assert result.to_dict()["convention"] == "qcc"


def test_xbar_r_minitab_unequal_sizes_center_per_point() -> None:
    groups = unequal()
    n, r, _ = arrays(groups)
    d2t = np.array([round(d2(int(k), "exact"), 3) for k in n])  # the 3-decimal table
    d3t = np.array([round(d3(int(k), "exact"), 3) for k in n])
    w = (d2t / d3t) ** 2
    sigma = np.sum(r / d2t * w) / np.sum(w)
    result = analyze("xbar-r", groups)  # minitab: R-bar (Burr-weighted), d2(n_i) sigma
    close(result.sigma, sigma)
    assert "dispersion_center" not in result.params
    rng = result.charts["range"]
    for i in range(len(n)):
        close(rng.center[i], d2t[i] * sigma)
        close(rng.ucl[i], (d2t[i] + 3 * d3t[i]) * sigma)
    assert len(set(rng.center)) == 4  # one center per subgroup size


def test_xbar_s_qcc_unequal_sizes() -> None:
    groups = unequal()
    n, _, s = arrays(groups)
    c4 = c4_np(n)
    sigma = np.sum(s / c4) / len(n)
    s_center = np.sum(n * s) / np.sum(n)  # qcc's stats.S
    chart = XbarSChart(phase1=len(groups), convention="qcc")
    result = analyze("xbar-s", groups, convention="qcc")
    close(result.sigma, sigma)
    sd = result.charts["stdev"]
    for i in range(len(n)):
        spread = math.sqrt(1 - c4[i] ** 2) * sigma
        close(sd.center[i], s_center)
        close(sd.ucl[i], s_center + 3 * spread)
        assert sd.lcl[i] == pytest.approx(max(0.0, s_center - 3 * spread), rel=REL, abs=0)
    assert chart.convention == "qcc"
    # an explicit sigma method wins over the convention's default
    pooled = analyze("xbar-s", groups, sigma="pooled", convention="qcc")
    close(pooled.sigma, subgroup_sigma("rmsdf", groups))


def test_equal_sizes_conventions_agree() -> None:
    minitab = analyze("xbar-r", RINGS)
    qcc = analyze("xbar-r", RINGS, convention="qcc")
    close(qcc.sigma, minitab.sigma or 0.0)
    rbar = float(np.mean([np.ptp(g) for g in RINGS]))
    close(qcc.charts["range"].center[0], rbar)
    close(minitab.charts["range"].center[0], rbar)
    # the R UCL differs only by d3: qcc's 0.8640855 against the table's 0.864
    close(qcc.charts["range"].ucl[0], rbar + 3 * 0.8640855 * rbar / 2.326)
    close(minitab.charts["range"].ucl[0], rbar + 3 * 0.864 * rbar / 2.326)


def test_xbar_chart_refuses_unknown_convention() -> None:
    with pytest.raises(ValueError, match="convention must be 'minitab' or 'qcc', got 'r'"):
        XbarRChart(convention="r")
    with pytest.raises(ValueError, match="convention must be"):
        analyze("imr", [1.0, 2.0, 3.0], convention="jmp")


def test_individuals_sd_sigma() -> None:
    x = np.array([v for g in RINGS for v in g][:30])
    result = analyze("imr", list(x), sigma="sd")
    close(result.sigma, np.std(x, ddof=1) / c4_np(np.array(30.0)))
    overall = analyze("imr", list(x), sigma="overall")
    close(overall.sigma, np.std(x, ddof=1))  # today's uncorrected overall, unchanged
    mr = analyze("imr", list(x), convention="qcc")
    close(mr.sigma, np.mean(np.abs(np.diff(x))) / 1.128)
    # the MR chart under qcc uses qcc's d3(2) = 0.8525033
    close(mr.charts["moving_range"].ucl[0], (1.128 + 3 * 0.8525033) * mr.sigma)


# -- attribute charts: sigma reported --------------------------------------------------------


def test_attribute_sigmas_as_qcc_reports_them() -> None:
    d = DATA["orangejuice_D"][:30]
    sizes = [DATA["orangejuice_n"]] * 30  # n = 50 cans each
    counts = [{"count": c, "size": n} for c, n in zip(d, sizes, strict=True)]
    pbar = sum(d) / sum(sizes)
    # qcc(D[trial], sizes=size[trial], type="p"): Center = 0.2313333
    assert round(pbar, 7) == 0.2313333
    p = analyze("p", counts)
    close(p.sigma, math.sqrt(pbar * (1 - pbar)))
    close(p.charts["p"].sigma[0], math.sqrt(pbar * (1 - pbar) / 50))
    np_chart = analyze("np", counts)
    close(np_chart.sigma, math.sqrt(50 * pbar * (1 - pbar)))
    circuit = DATA["circuit"][:26]
    c = analyze("c", [{"count": x} for x in circuit])
    # qcc(circuit$x[trial], type="c"): Center = 19.84615, StdDev = 4.454902
    assert round(c.sigma or 0.0, 6) == 4.454902
    close(c.sigma, math.sqrt(np.mean(circuit)))
    u_sizes = [1.0, 2.0, 1.5, 1.0] * 6 + [2.0, 1.0]
    u = analyze("u", [{"count": x, "size": n} for x, n in zip(circuit, u_sizes, strict=True)])
    ubar = sum(circuit) / sum(u_sizes)
    close(u.sigma, math.sqrt(ubar))
    close(u.charts["u"].sigma[1], math.sqrt(ubar / 2.0))
    # np with unequal sizes has one sigma per point: none for the whole chart
    mixed = analyze("np", [{"count": 3, "size": 50}, {"count": 5, "size": 40}] * 5)
    assert mixed.sigma is None
    pm = 40 / 450
    close(mixed.charts["np"].sigma[1], math.sqrt(40 * pm * (1 - pm)))


def test_every_chart_reports_sigma_in_json() -> None:
    result = analyze("xbar-s", RINGS).to_dict()
    assert result["sigma"] is not None
    for series in result["charts"].values():
        assert len(series["sigma"]) == len(series["index"]) and None not in series["sigma"]
    imr = analyze("imr", [1.0, 3.0, 2.0, 5.0]).to_dict()["charts"]
    assert len(imr["moving_range"]["sigma"]) == 3  # the MR chart starts at index 1


# -- capability intervals --------------------------------------------------------------------


def _capability_numbers(convention: str) -> dict[str, tuple[float, float, float]]:
    x = np.concatenate(RINGS)
    n, mu = len(x), x.mean()
    sigma = np.mean([np.ptp(g) for g in RINGS]) / 2.326
    lsl, usl, target, alpha = 73.95, 74.05, 74.0, 0.05
    cp = (usl - lsl) / (6 * sigma)
    cpu, cpl = (usl - mu) / (3 * sigma), (mu - lsl) / (3 * sigma)
    z_side = stats.norm.ppf(1 - alpha) if convention == "qcc" else stats.norm.ppf(1 - alpha / 2)
    z2 = stats.norm.ppf(1 - alpha / 2)

    def wald(c: float, z: float) -> tuple[float, float, float]:
        half = z * math.sqrt(1 / (9 * n * c**2) + 1 / (2 * (n - 1)))
        return c, c * (1 - half), c * (1 + half)  # qcc's C (1 -/+ z sqrt(...))

    def chi(c: float, dof: float) -> tuple[float, float, float]:
        lo, hi = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], dof)
        return c, c * math.sqrt(lo / dof), c * math.sqrt(hi / dof)

    a = (mu - target) / sigma
    dof = n * (1 + a**2) / (1 + 2 * a**2)  # qcc
    if convention != "qcc":
        dof = n * (1 + a**2) ** 2 / (1 + 2 * a**2)  # Boyles
    return {
        "cp": chi(cp, n - 1),
        "cpu": wald(cpu, z_side),
        "cpl": wald(cpl, z_side),
        "cpk": wald(min(cpu, cpl), z2),
        "cpm": chi(cp / math.sqrt(1 + a**2), dof),
    }


@pytest.mark.parametrize("convention", ["minitab", "qcc"])
def test_capability_intervals(convention: str) -> None:
    sigma = "rbar" if convention == "minitab" else None  # qcc's default: uwave-r (equal here)
    got = capability(
        RINGS, lsl=73.95, usl=74.05, target=74.0, sigma_method=sigma, convention=convention
    )
    for name, (value, lower, upper) in _capability_numbers(convention).items():
        index = got.indices[name]
        close(index.value, value)
        close(index.lower, lower)
        close(index.upper, upper)
    # the intervals the conventions differ in really differ
    other = capability(RINGS, lsl=73.95, usl=74.05, target=74.0)
    if convention == "qcc":
        assert got.indices["cpu"].lower > other.indices["cpu"].lower
        assert got.indices["cpm"].lower != other.indices["cpm"].lower
    for same in ("cp", "cpk"):  # equal sizes: the same sigma up to rounding, the same CI
        close(got.indices[same].lower, other.indices[same].lower)


def test_capability_qcc_cpm_dof_has_no_overflow() -> None:
    far = capability([[0.0, 1e-300], [2e-300, 1e-300]], lsl=-1.0, usl=1.0, convention="qcc")
    assert math.isfinite(far.indices["cpm"].lower)
