"""Tests of pinnlab.reference (data loading, L2RE, exact solutions) and pinnlab.spectral."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import pinnlab
from pinnlab.errors import ConfigError, DataError
from pinnlab.reference import (
    BURGERS_NU,
    ReferenceData,
    burgers_exact,
    l2re,
    l2re_fields,
    load_pinnacle,
    load_points,
    pinnacle_file,
    reference_dir,
    wave1d_exact,
)
from pinnlab.spectral import (
    allen_cahn_exact_interp,
    allen_cahn_reference,
    etdrk4_periodic,
    periodic_grid,
    trig_interp,
    wavenumbers,
)

# cheap Allen-Cahn settings for tests (the defaults take a few seconds more)
AC_CHEAP = dict(n_modes=1024, dt=1e-3, startup_modes=16384)


@pytest.fixture(scope="module")
def pinnacle() -> Path:
    """Folder of the PINNacle files; skips the test when the shared data is absent."""
    try:
        folder = reference_dir() / "pinnacle"
    except DataError as exc:
        pytest.skip(f"shared reference data not available: {exc}")
    if not folder.is_dir():
        pytest.skip(f"shared reference data not available: {folder} missing")
    return folder


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- locating data


def test_reference_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINNLAB_REFERENCE_DIR", str(tmp_path))
    assert reference_dir() == tmp_path
    missing = tmp_path / "nope"
    monkeypatch.setenv("PINNLAB_REFERENCE_DIR", str(missing))
    with pytest.raises(DataError, match="PINNLAB_REFERENCE_DIR") as info:
        reference_dir()
    assert str(missing) in str(info.value)


def test_reference_dir_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PINNLAB_REFERENCE_DIR", raising=False)
    expected = Path(pinnlab.__file__).resolve().parent.parent.parent / "shared" / "reference"
    if expected.is_dir():
        assert reference_dir() == expected
    else:
        with pytest.raises(DataError, match="not found"):
            reference_dir()


def test_pinnacle_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pinnacle").mkdir()
    _write(tmp_path / "pinnacle" / "a.dat", "1 2\n")
    monkeypatch.setenv("PINNLAB_REFERENCE_DIR", str(tmp_path))
    assert pinnacle_file("a.dat") == tmp_path / "pinnacle" / "a.dat"
    with pytest.raises(DataError, match="b.dat"):
        pinnacle_file("b.dat")


# --------------------------------------------------------------------------- real files


def test_load_burgers_snapshots(pinnacle: Path) -> None:
    times = np.linspace(0.0, 1.0, 11)
    data = load_pinnacle(pinnacle / "burgers1d.dat", "time_snapshots", n_coords=1, times=times)
    assert isinstance(data, ReferenceData)
    assert data.points.shape == (1111, 2) and data.values.shape == (1111, 1)
    # time-major: the first 101 rows are t = 0, the initial condition -sin(pi x)
    assert np.all(data.points[:101, 1] == 0.0) and np.all(data.points[-101:, 1] == 1.0)
    x0 = data.points[:101, 0]
    np.testing.assert_allclose(data.values[:101, 0], -np.sin(np.pi * x0), atol=1e-5)
    # times read from the COMSOL header give the same result
    same = load_pinnacle(pinnacle / "burgers1d.dat", "time_snapshots", n_coords=1)
    np.testing.assert_allclose(same.points, data.points, rtol=0, atol=1e-15)


def test_load_heat_longtime(pinnacle: Path) -> None:
    times = np.linspace(0.0, 100.0, 501)
    data = load_pinnacle(pinnacle / "heat_longtime.dat", "time_snapshots", n_coords=2, times=times)
    assert data.points.shape == (192 * 501, 3) and data.values.shape == (192 * 501, 1)
    assert data.points[:, 2].min() == 0.0 and data.points[:, 2].max() == 100.0
    first = data.points[:192]  # t = 0: u = sin(4 pi x) sin(3 pi y)
    exact = np.sin(4 * np.pi * first[:, 0]) * np.sin(3 * np.pi * first[:, 1])
    np.testing.assert_allclose(data.values[:192, 0], exact, atol=1e-3)
    with pytest.raises(DataError, match="header"):
        load_pinnacle(pinnacle / "heat_longtime.dat", "time_snapshots", n_coords=2, times=times * 2)


def test_load_columns_files(pinnacle: Path) -> None:
    ns = load_pinnacle(pinnacle / "lid_driven_a4.dat", n_coords=2, n_fields=3)
    assert ns.points.shape == (10201, 2) and ns.values.shape == (10201, 3)
    poisson = load_pinnacle(pinnacle / "poisson1_cg_data.dat", "columns", n_coords=2)
    assert poisson.values.shape == (1246, 1)
    assert np.all(np.abs(poisson.points) <= 0.5 + 1e-12)
    with pytest.raises(DataError, match=r"expects 4 columns, found 5") as info:
        load_pinnacle(pinnacle / "lid_driven_a4.dat", n_coords=2, n_fields=2)
    assert "lid_driven_a4.dat" in str(info.value)


def test_load_points_heatinv(pinnacle: Path) -> None:
    pts = load_points(pinnacle / "heatinv_points.dat", n_coords=3)
    assert pts.shape == (2500, 3)
    assert np.all(np.abs(pts[:, :2]) <= 1.0) and pts[:, 2].min() >= 0.0 and pts[:, 2].max() <= 1.0


# --------------------------------------------------------------------------- validation


def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.dat"
    with pytest.raises(DataError, match="missing.dat"):
        load_pinnacle(path, n_coords=1)
    with pytest.raises(DataError, match="missing.dat"):
        load_points(path)


def test_load_wrong_column_count(tmp_path: Path) -> None:
    path = _write(tmp_path / "snap.dat", "% X  u @ t=0  u @ t=1\n0 1 2\n1 3 4\n")
    with pytest.raises(DataError, match=r"snap\.dat.*expects 4 columns, found 3"):
        load_pinnacle(path, "time_snapshots", n_coords=1, times=[0.0, 1.0, 2.0])
    with pytest.raises(DataError, match="disagree with the header"):
        load_pinnacle(path, "time_snapshots", n_coords=1, times=[0.0, 0.5])
    one_col = _write(tmp_path / "one.dat", "1\n2\n")
    with pytest.raises(DataError, match=r"one\.dat.*more than 1 columns, found 1"):
        load_pinnacle(one_col, n_coords=1)
    with pytest.raises(DataError, match="expected 3 columns, found 1"):
        load_points(one_col, n_coords=3)


def test_parse_errors_name_the_line_as_editors_count(tmp_path: Path) -> None:
    text = _write(tmp_path / "text.dat", "% x u\n0 1\n0.5 2\n1 3\n0.2 4\n0.1 abc\n")
    with pytest.raises(DataError, match=r"text\.dat: line 6: 'abc' is not a number"):
        load_points(text, n_coords=1)
    ragged = _write(tmp_path / "ragged.dat", "0 1\n0.5 2\n1 3 4\n")
    with pytest.raises(DataError, match=r"ragged\.dat: line 3 has 3 columns, the first data row 2"):
        load_points(ragged, n_coords=1)


def test_load_nonfinite_rows_dropped(tmp_path: Path) -> None:
    path = _write(tmp_path / "nan.dat", "% x y u\n0 0 1\n0 1 NaN\n1 1 inf\n1 0 2\n")
    with pytest.warns(UserWarning, match=r"nan\.dat: dropped 2 of 4 rows"):
        data = load_pinnacle(path, n_coords=2)
    np.testing.assert_array_equal(data.values[:, 0], [1.0, 2.0])
    snap = _write(tmp_path / "snap.dat", "0 1 nan\n1 3 4\n")  # NaN only at the second time
    with pytest.warns(UserWarning, match="dropped 1 of 4"):
        data = load_pinnacle(snap, "time_snapshots", n_coords=1, times=[0.0, 1.0])
    assert data.points.shape == (3, 2)
    bad = _write(tmp_path / "allnan.dat", "0 nan\n1 nan\n")
    with pytest.raises(DataError, match="every row"):
        load_pinnacle(bad, n_coords=1)


def test_load_empty_and_garbage(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.dat", "% header only\n% x u\n")
    with pytest.raises(DataError, match=r"empty\.dat contains no data"):
        load_pinnacle(empty, n_coords=1)
    with pytest.raises(DataError, match="no data"):
        load_points(empty)
    garbage = _write(tmp_path / "garbage.dat", "0 1\n1 abc\n")
    with pytest.raises(DataError, match="garbage.dat"):
        load_pinnacle(garbage, n_coords=1)
    ok = _write(tmp_path / "ok.dat", "0 1\n")
    with pytest.raises(ConfigError, match="layout"):
        load_pinnacle(ok, "rows", n_coords=1)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="times="):
        load_pinnacle(ok, "time_snapshots", n_coords=1)


# --------------------------------------------------------------------------- metric


def test_l2re_values() -> None:
    ref = np.array([[1.0, 2.0], [3.0, -4.0], [0.5, 1.5]])
    assert l2re(ref, ref) == 0.0
    assert l2re(1.1 * ref, ref) == pytest.approx(0.1, rel=1e-12)
    pred = ref + np.array([[0.1, 0.0], [0.0, -0.2], [0.3, 0.0]])
    expected = np.sqrt(np.mean((pred - ref) ** 2)) / np.sqrt(np.mean(ref**2))
    assert l2re(pred, ref) == pytest.approx(expected, rel=1e-14)
    as_torch = torch.tensor(pred, requires_grad=True)
    assert l2re(as_torch, torch.tensor(ref)) == pytest.approx(expected)
    assert l2re(pred[:, 0], ref[:, 0]) == pytest.approx(
        np.linalg.norm(pred[:, 0] - ref[:, 0]) / np.linalg.norm(ref[:, 0])
    )


def test_l2re_nan_rows_and_errors() -> None:
    ref = np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 4.0]])
    pred = np.array([[1.0, 2.0], [100.0, 100.0], [3.0, 5.0]])
    kept = [0, 2]
    expected = np.sqrt(np.mean((pred[kept] - ref[kept]) ** 2)) / np.sqrt(np.mean(ref[kept] ** 2))
    assert l2re(pred, ref) == pytest.approx(expected)
    fields = l2re_fields(pred, ref, ["u", "v"])
    assert set(fields) == {"u", "v"} and fields["u"] == 0.0
    assert fields["v"] == pytest.approx(np.sqrt(np.mean([0, 99**2, 1]) / np.mean([4, 1, 16])))
    with pytest.raises(DataError, match="shape"):
        l2re(pred[:, :1], ref)
    with pytest.raises(DataError, match="zero"):
        l2re(pred, np.zeros_like(pred))
    with pytest.raises(DataError, match="names"):
        l2re_fields(pred, ref, ["u"])


# --------------------------------------------------------------------------- Burgers


def test_burgers_against_comsol_file(pinnacle: Path) -> None:
    data = load_pinnacle(pinnacle / "burgers1d.dat", "time_snapshots", n_coords=1)
    exact = burgers_exact(data.points[:, 0], data.points[:, 1])
    err = l2re(exact, data.values[:, 0])
    assert 1.30e-2 < err < 1.36e-2  # README: the file differs from the exact solution by 1.33e-2
    assert np.abs(exact - data.values[:, 0]).max() == pytest.approx(0.088, abs=0.005)


def test_burgers_initial_boundary_symmetry() -> None:
    x = np.linspace(-1.0, 1.0, 41)
    np.testing.assert_array_equal(burgers_exact(x, 0.0), -np.sin(np.pi * x))
    t = np.linspace(0.05, 3.0, 30)
    assert np.abs(burgers_exact(-1.0, t)).max() < 1e-13
    assert np.abs(burgers_exact(1.0, t)).max() < 1e-13
    xx, tt = np.meshgrid(x, [0.2, 0.4, 0.9])
    u = burgers_exact(xx, tt)
    assert u.shape == xx.shape
    np.testing.assert_allclose(u, -burgers_exact(-xx, tt), atol=1e-13)  # odd in x
    assert burgers_exact(0.5, 0.3).shape == ()


def test_burgers_quadrature_convergence() -> None:
    x = np.concatenate([np.linspace(-1, 1, 201), np.linspace(-0.02, 0.02, 101)])  # dense at shock
    for t in (0.3, 0.4, 0.5, 1.0):
        base = burgers_exact(x, t)
        for n in (300, 1000):
            assert np.abs(burgers_exact(x, t, n_quad=n) - base).max() < 1e-12
        # an independent quadrature (stabilized Gauss-Hermite) agrees
        assert np.abs(burgers_exact(x, t, method="hermite") - base).max() < 1e-12
    late = burgers_exact(x, 20.0)  # auto node count grows with t
    assert np.abs(burgers_exact(x, 20.0, n_quad=3000) - late).max() < 1e-12
    # the shock at x = 0 is steep: u jumps by almost 2 across a few times nu
    u = burgers_exact(np.array([-0.01, 0.01]), 0.5)
    assert u[0] > 0.6 and u[1] < -0.6


def test_burgers_satisfies_pde() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-0.9, -0.2, 200), rng.uniform(0.2, 0.9, 200)])
    t = rng.uniform(0.1, 0.9, 400)
    residuals = []
    for h in (1e-3, 3e-4):
        u = burgers_exact(x, t)
        u_t = (burgers_exact(x, t + h) - burgers_exact(x, t - h)) / (2 * h)
        up, um = burgers_exact(x + h, t), burgers_exact(x - h, t)
        res = u_t + u * (up - um) / (2 * h) - BURGERS_NU * (up - 2 * u + um) / h**2
        residuals.append(np.abs(res).max())
    assert residuals[1] < 1e-5
    assert residuals[0] / residuals[1] > 8  # second-order FD truncation, not a model error


def test_burgers_errors() -> None:
    with pytest.raises(DataError, match="t must be >= 0"):
        burgers_exact(0.0, -0.1)
    with pytest.raises(ConfigError, match="method"):
        burgers_exact(0.0, 0.1, method="simpson")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="360"):
        burgers_exact(0.0, 0.1, n_quad=500, method="hermite")
    with pytest.raises(ConfigError, match="nu"):
        burgers_exact(0.0, 0.1, nu=0.0)


# --------------------------------------------------------------------------- wave


def test_wave1d_exact() -> None:
    assert wave1d_exact(0.5, 0.0) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    x, t = rng.uniform(0.05, 0.95, 200), rng.uniform(0.05, 0.95, 200)
    h = 1e-4
    u_tt = (wave1d_exact(x, t + h) - 2 * wave1d_exact(x, t) + wave1d_exact(x, t - h)) / h**2
    u_xx = (wave1d_exact(x + h, t) - 2 * wave1d_exact(x, t) + wave1d_exact(x - h, t)) / h**2
    assert np.abs(u_tt - 4 * u_xx).max() < 1e-3 * np.abs(u_tt).max()
    assert np.abs(wave1d_exact(np.array([0.0, 1.0]), 0.37)).max() < 1e-14


# --------------------------------------------------------------------------- spectral solver


def test_etdrk4_linear_and_logistic_exact() -> None:
    eps, r = 0.01, 5.0
    x, t, u = etdrk4_periodic(
        lambda x: np.sin(3 * np.pi * x), (-1.0, 1.0), 64, lambda k: -eps * k**2,
        lambda u: 0.0 * u, 1.0, 0.1, [0.0, 0.5, 1.0],
    )
    exact = np.exp(-eps * (3 * np.pi) ** 2 * t)[:, None] * np.sin(3 * np.pi * x)[None, :]
    np.testing.assert_allclose(u, exact, atol=1e-13)
    # spatially constant data: u' = r (u - u^3), exact u = c e^{rt} / sqrt(1 + c^2 (e^{2rt} - 1))
    c = 0.1
    _, t, u = etdrk4_periodic(
        np.full(16, c), (0.0, 1.0), 16, lambda k: r - eps * k**2, lambda u: -r * u**3,
        0.8, 1e-3, np.linspace(0.1, 0.8, 8),
    )
    exact = c * np.exp(r * t) / np.sqrt(1 + c**2 * (np.exp(2 * r * t) - 1))
    np.testing.assert_allclose(u, np.repeat(exact[:, None], 16, axis=1), atol=1e-10)


def test_etdrk4_fourth_order() -> None:
    def solve(dt: float) -> np.ndarray:
        return etdrk4_periodic(
            lambda x: x**2 * np.cos(np.pi * x) + 0.3 * np.sin(np.pi * x) ** 2,
            (-1.0, 1.0), 64, lambda k: -0.01 * k**2 + 5, lambda u: -5 * u**3, 0.5, dt,
        )[2]

    ref = solve(1e-3 / 4)
    errors = [np.abs(solve(dt) - ref).max() for dt in (0.04, 0.02)]
    assert 12 < errors[0] / errors[1] < 20  # 2^4 = 16


def test_etdrk4_burgers_matches_cole_hopf() -> None:
    nu, n = 0.05 / np.pi, 256
    k = wavenumbers((-1.0, 1.0), n)

    def advection(u: np.ndarray) -> np.ndarray:  # -(u^2/2)_x, spectrally
        return -np.fft.irfft(1j * k * np.fft.rfft(0.5 * u**2), n)

    x, t, u = etdrk4_periodic(
        lambda x: -np.sin(np.pi * x), (-1.0, 1.0), n, lambda k: -nu * k**2, advection, 0.6, 1e-3,
        [0.2, 0.4, 0.6],
    )
    exact = burgers_exact(x[None, :], t[:, None], nu=nu)
    assert np.abs(u - exact).max() < 1e-8


def test_etdrk4_save_times_and_errors() -> None:
    sym, nl = (lambda k: -(k**2)), (lambda u: 0 * u)
    x, t, u = etdrk4_periodic(np.cos, (0.0, 2 * np.pi), 32, sym, nl, 1.0, 0.3, [0.0, 0.25, 1.0])
    np.testing.assert_allclose(u[:, 1], np.exp(-t) * np.cos(x[1]), atol=1e-13)  # uneven steps
    assert x.shape == (32,) and x[0] == 0.0 and x[-1] < 2 * np.pi
    with pytest.raises(ConfigError, match="save_times"):
        etdrk4_periodic(np.cos, (0.0, 1.0), 32, sym, nl, 1.0, 0.1, [0.5, 0.2])
    with pytest.raises(ConfigError, match="save_times"):
        etdrk4_periodic(np.cos, (0.0, 1.0), 32, sym, nl, 1.0, 0.1, [2.0])
    with pytest.raises(ConfigError, match="dt"):
        etdrk4_periodic(np.cos, (0.0, 1.0), 32, sym, nl, 1.0, 0.0)
    with pytest.raises(ConfigError, match="x_range"):
        etdrk4_periodic(np.cos, (1.0, 0.0), 32, sym, nl, 1.0, 0.1)


def test_trig_interp_exact_for_trig_polynomials() -> None:
    x = periodic_grid((-1.0, 1.0), 16)

    def f(x: np.ndarray) -> np.ndarray:
        return 1 + np.cos(np.pi * x) - 0.5 * np.sin(7 * np.pi * x) + 0.2 * np.cos(8 * np.pi * x)

    x_new = np.linspace(-1.0, 1.0, 37)
    # the Nyquist mode cos(8 pi x) is represented by its cosine part, exact at any point
    np.testing.assert_allclose(trig_interp(f(x), (-1.0, 1.0), x_new), f(x_new), atol=1e-13)


# --------------------------------------------------------------------------- Allen-Cahn


def test_allen_cahn_reference_shape_and_convergence() -> None:
    x, t, u = allen_cahn_reference(nx=256, nt=21, **AC_CHEAP)
    assert x.shape == (256,) and t.shape == (21,) and u.shape == (21, 256)
    np.testing.assert_array_equal(u[0], x**2 * np.cos(np.pi * x))
    assert np.abs(u).max() <= 1.0 + 1e-6
    assert u[-1].min() < -0.99 and u[-1].max() > 0.99  # phases separated by t = 1
    # halving dt / doubling the modes (main and start-up) changes little
    _, _, u_dt = allen_cahn_reference(nx=256, nt=21, n_modes=1024, dt=5e-4, startup_modes=16384)
    _, _, u_fine = allen_cahn_reference(nx=256, nt=21, n_modes=2048, dt=1e-3, startup_modes=32768)
    assert np.abs(u_dt - u).max() < 1e-9
    assert np.abs(u_fine - u).max() < 1e-6  # start-up resolution; the default reaches 5e-8
    assert np.abs(u_fine - u)[t >= 0.1].max() < 5e-7
    # without the start-up stage 512 modes are 1e-3 off near the seam at early times
    _, _, u_plain = allen_cahn_reference(nx=256, nt=21, n_modes=512, dt=1e-3, startup_modes=None)
    assert np.abs(u_plain - u_fine).max() > 1e-4


def test_allen_cahn_interp() -> None:
    x, t, u = allen_cahn_reference(nx=128, nt=21, **AC_CHEAP)
    xx, tt = np.meshgrid(x, t)
    on_grid = allen_cahn_exact_interp(np.column_stack([xx.ravel(), tt.ravel()]), nt=21, **AC_CHEAP)
    np.testing.assert_allclose(on_grid.reshape(u.shape), u, atol=1e-12)
    # off-grid times: compare with solves that save at the midpoints (odd rows)
    errors = []
    for nt in (21, 41):
        _, t2, u2 = allen_cahn_reference(nx=128, nt=2 * nt - 1, **AC_CHEAP)
        mid_t = t2[1::2]
        xx, tt = np.meshgrid(x, mid_t)
        pts = np.column_stack([xx.ravel(), tt.ravel()])
        err = np.abs(allen_cahn_exact_interp(pts, nt=nt, **AC_CHEAP).reshape(xx.shape) - u2[1::2])
        errors.append(err[mid_t >= 0.1].max())
        assert err[0].max() < 1e-1  # first interval: sqrt(t) layer at x = +-1, documented
    assert errors[0] < 3e-5  # save spacing 0.05 (the default spacing is 0.005)
    assert errors[0] / errors[1] > 10  # fourth order in the save spacing
    # periodic in x; t outside [0, 1] rejected
    a = allen_cahn_exact_interp([[0.3, 0.42], [2.3, 0.42]], nt=21, **AC_CHEAP)
    assert a[0] == pytest.approx(a[1], abs=1e-12)
    with pytest.raises(DataError, match="t must lie"):
        allen_cahn_exact_interp([[0.0, 1.5]], nt=21, **AC_CHEAP)
    with pytest.raises(DataError, match="shape"):
        allen_cahn_exact_interp(np.zeros((3, 3)), nt=21, **AC_CHEAP)


def test_reference_data_takes_lists_and_column_vectors() -> None:
    ref = ReferenceData([[0.0, 0.5], [1.0, 0.5]], [1, 2])          # lists, integer values
    assert ref.points.dtype == np.float64 and ref.points.shape == (2, 2)
    assert ref.values.shape == (2, 1) and ref.values[:, 0].tolist() == [1.0, 2.0]
    with pytest.raises(DataError, match="points must be a numeric array"):
        ReferenceData("abc", [1.0])
    with pytest.raises(DataError, match=r"2-D points and values, got shapes \(2, 2, 1\)"):
        ReferenceData(np.zeros((2, 2, 1)), np.zeros((2, 1)))


def test_load_pinnacle_refuses_bad_counts_and_directories(tmp_path) -> None:
    path = tmp_path / "u.dat"
    path.write_text("0 0 1\n0.5 0 2\n")
    for kwargs, name in ((dict(n_coords=2.5), "n_coords"), (dict(n_coords="2"), "n_coords"),
                         (dict(n_coords=True), "n_coords"), (dict(n_coords=1, n_fields=0), "n_fields"),
                         (dict(n_coords=1, n_fields=-1), "n_fields")):
        with pytest.raises(ConfigError, match=f"{name} must be a whole number >= 1"):
            load_pinnacle(path, **kwargs)
    with pytest.raises(ConfigError, match="n_coords must be a whole number"):
        load_points(path, n_coords=1.5)
    assert load_pinnacle(path, n_coords=np.int64(2)).values.shape == (2, 1)
    (tmp_path / "folder.dat").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        load_pinnacle(tmp_path / "folder.dat", n_coords=1)
