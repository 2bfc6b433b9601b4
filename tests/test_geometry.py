"""Tests of pinnlab.geometry: primitives, CSG, products, regions, distance functions."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from pinnlab.errors import GeometryError
from pinnlab.geometry import (
    Ball,
    BoundaryRegion,
    Box,
    Difference,
    Disk,
    Geometry,
    Hypercube,
    Hypersphere,
    Intersection,
    Interval,
    Polygon,
    Product,
    Rectangle,
    Region,
    RegionSample,
    TimeInterval,
    Triangle,
    Union,
)
from pinnlab.geometry.region import describe

METHODS = ["uniform", "sobol", "halton", "lhs"]
LENS = 2 * math.acos(0.5) - 0.5 * math.sqrt(3)  # overlap of unit disks at distance 1


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def pinnacle_2d_c() -> tuple[Geometry, list[Disk]]:
    """PINNacle Poisson 2d-C: [-0.5, 0.5]^2 minus four disks of radius 0.1."""
    disks = [Disk((sx * 0.3, sy * 0.3), 0.1) for sx in (-1, 1) for sy in (-1, 1)]
    geom: Geometry = Rectangle((-0.5, -0.5), (0.5, 0.5))
    for d in disks:
        geom = geom - d
    return geom, disks


def l_shape() -> Geometry:
    return Rectangle((-1, -1), (1, 1)) - Rectangle((0, 0), (1, 1))


GEOMETRIES = {
    "interval": lambda: Interval(-1.0, 2.0),
    "rectangle": lambda: Rectangle((0, 0), (2, 1)),
    "box": lambda: Box((0, 0, 0), (1, 2, 3)),
    "hypercube5": lambda: Hypercube([0] * 5, [1, 2, 1, 1, 3]),
    "disk": lambda: Disk((0.5, -0.2), 0.7),
    "ball": lambda: Ball((0, 0, 1), 2.0),
    "hypersphere5": lambda: Hypersphere([0.0] * 5, 1.5),
    "polygon": lambda: Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]),
    "polygon_cw": lambda: Polygon([(0, 0), (0, 1), (1, 1), (1, 0)]),
    "triangle": lambda: Triangle((0, 0), (1, 0), (0, 1)),
    "union": lambda: Disk((0, 0), 1) | Disk((1, 0), 1),
    "intersection": lambda: Disk((0, 0), 1) & Disk((1, 0), 1),
    "difference": lambda: Disk((0, 0), 1) - Disk((1, 0), 1),
    "pinnacle": lambda: pinnacle_2d_c()[0],
    "l_shape": l_shape,
    "union_rects": lambda: Rectangle((0, 0), (1, 1)) | Rectangle((0.5, 0), (1.5, 1)),
    "nested": lambda: (Disk((0, 0), 1) | Rectangle((0, -0.5), (2, 0.5))) - Disk((1.5, 0), 0.2),
    "interval_x_interval": lambda: Interval(0, 1) * Interval(0, 2),
    "disk_x_time": lambda: Disk((0, 0), 1) * TimeInterval(0, 2),
    "csg_x_time": lambda: pinnacle_2d_c()[0] * TimeInterval(0, 1),
    "interval_x_time": lambda: Interval(-1, 1) * TimeInterval(0, 1),
    "triangle_x_interval": lambda: Triangle((0, 0), (1, 0), (0, 1)) * Interval(0, 2),
}
EXACT_MEASURES = {
    "interval": (3.0, 2.0),
    "rectangle": (2.0, 6.0),
    "box": (6.0, 22.0),
    "hypercube5": (6.0, 2 * (6 + 3 + 6 + 6 + 2)),
    "disk": (math.pi * 0.49, 2 * math.pi * 0.7),
    "ball": (4 / 3 * math.pi * 8, 4 * math.pi * 4),
    "hypersphere5": (8 * math.pi**2 / 15 * 1.5**5, 8 * math.pi**2 / 3 * 1.5**4),
    "polygon": (3.0, 8.0),
    "polygon_cw": (1.0, 4.0),
    "triangle": (0.5, 2 + math.sqrt(2)),
    "interval_x_interval": (2.0, 6.0),
    "disk_x_time": (2 * math.pi, 4 * math.pi),
    "interval_x_time": (2.0, 2.0),
    "triangle_x_interval": (1.0, 2 * (2 + math.sqrt(2)) + 1.0),
}
MC_MEASURES = {
    "union": (2 * math.pi - LENS, 8 * math.pi / 3),
    "intersection": (LENS, 4 * math.pi / 3),
    "difference": (math.pi - LENS, 2 * math.pi),
    "pinnacle": (1 - 4 * math.pi * 0.01, 4 + 0.8 * math.pi),
    "l_shape": (3.0, 8.0),
    "union_rects": (1.5, 5.0),
    "csg_x_time": (1 - 4 * math.pi * 0.01, 4 + 0.8 * math.pi),
}


def far_from_corners(geom: Geometry, pts: np.ndarray, nrm: np.ndarray, eps: float) -> np.ndarray:
    """Points whose eps-neighbourhood along the normal stays on one smooth piece."""
    return (np.abs(geom._sd(pts - eps * nrm) - eps) < 0.5 * eps)


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
def test_boundary_normals_and_distance(name: str) -> None:
    geom = GEOMETRIES[name]()
    pts, nrm = geom.sample_boundary(1500, rng(1))
    assert pts.shape == nrm.shape == (1500, geom.dim) and pts.dtype == np.float64
    assert np.allclose(np.linalg.norm(nrm, axis=1), 1.0)
    assert geom.on_boundary(pts).all() and geom.contains(pts).all()
    assert np.abs(geom.distance(pts)).max() < 1e-10
    if geom.time_axis is not None:
        assert np.all(nrm[:, geom.time_axis] == 0.0)
        t = pts[:, geom.time_axis]
        assert t.min() >= geom.t0 and t.max() <= geom.t1
    eps = 1e-4
    outside = geom.contains(pts + eps * nrm)
    inside = geom.contains(pts - eps * nrm)
    # crescents have sharp tips where an inward step of eps can leave the domain
    ok = far_from_corners(geom, pts, nrm, eps) if name == "difference" else np.ones(len(pts), bool)
    assert not outside.any()
    assert inside[ok].all() and ok.mean() > 0.99


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
@pytest.mark.parametrize("method", METHODS)
def test_interior_all_methods(name: str, method: str) -> None:
    geom = GEOMETRIES[name]()
    x = geom.sample_interior(257, rng(2), method)
    assert x.shape == (257, geom.dim) and x.dtype == np.float64
    assert geom.contains(x).all()
    lo, hi = geom.bounds
    assert np.all(x >= lo - 1e-12) and np.all(x <= hi + 1e-12)
    assert np.all(geom.distance(x) > 0)
    pts, nrm = geom.sample_boundary(129, rng(3), method)
    assert geom.on_boundary(pts).all() and np.allclose(np.linalg.norm(nrm, axis=1), 1)


@pytest.mark.parametrize("method", METHODS)
def test_determinism(method: str) -> None:
    geom = pinnacle_2d_c()[0] * TimeInterval(0, 1)
    a = geom.sample_interior(100, rng(7), method)
    b = geom.sample_interior(100, rng(7), method)
    c = geom.sample_interior(100, rng(8), method)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    (p1, n1), (p2, n2) = geom.sample_boundary(50, rng(7), method), geom.sample_boundary(50, rng(7), method)
    assert np.array_equal(p1, p2) and np.array_equal(n1, n2)


@pytest.mark.parametrize("name", sorted(EXACT_MEASURES))
def test_closed_form_measures(name: str) -> None:
    geom = GEOMETRIES[name]()
    vol, surf = EXACT_MEASURES[name]
    assert geom.measure == pytest.approx(vol, rel=1e-12)
    assert geom.boundary_measure == pytest.approx(surf, rel=1e-12)


@pytest.mark.parametrize("name", sorted(MC_MEASURES))
def test_csg_measures(name: str) -> None:
    geom = GEOMETRIES[name]()
    vol, surf = MC_MEASURES[name]
    assert geom.measure == pytest.approx(vol, rel=2e-3)
    assert geom.boundary_measure == pytest.approx(surf, rel=2e-3)
    assert geom.measure == geom.measure  # cached and deterministic


# --------------------------------------------------------------------- CSG


def test_union_interior_uniform_by_area() -> None:
    a, b = Disk((0, 0), 1), Disk((1, 0), 1)
    x = (a | b).sample_interior(20000, rng(4))
    ina, inb = a.contains(x), b.contains(x)
    counts = [np.sum(ina & ~inb), np.sum(ina & inb), np.sum(~ina & inb)]
    only = math.pi - LENS
    expected = np.array([only, LENS, only]) / (2 * math.pi - LENS) * len(x)
    assert chisquare(counts, expected).pvalue > 1e-3


def _arc_uniform(pts: np.ndarray, center: tuple[float, float], lo: float, hi: float) -> float:
    ang = np.arctan2(pts[:, 1] - center[1], pts[:, 0] - center[0]) % (2 * np.pi)
    ang = (ang - lo) % (2 * np.pi)
    assert np.all(ang <= (hi - lo) + 1e-9)
    counts, _ = np.histogram(ang, bins=8, range=(0, hi - lo))
    return chisquare(counts).pvalue


def test_union_boundary_excludes_buried_arcs_and_is_uniform() -> None:
    a, b = Disk((0, 0), 1), Disk((1, 0), 1)
    pts, nrm = (a | b).sample_boundary(12000, rng(5))
    on_a = np.abs(np.linalg.norm(pts, axis=1) - 1) < 1e-9
    on_b = np.abs(np.linalg.norm(pts - [1, 0], axis=1) - 1) < 1e-9
    assert np.all(on_a ^ on_b)
    assert np.all(np.linalg.norm(pts[on_a] - [1, 0], axis=1) >= 1 - 1e-9)  # not inside b
    assert np.all(np.linalg.norm(pts[on_b], axis=1) >= 1 - 1e-9)
    assert abs(on_a.mean() - 0.5) < 0.02
    assert not (a | b).contains(pts + 1e-4 * nrm).any()


def test_union_boundary_arc_density_per_length() -> None:
    a, b = Disk((0, 0), 1), Disk((1, 0), 1)
    pts, _ = (a | b).sample_boundary(12000, rng(6))
    on_b = np.abs(np.linalg.norm(pts - [1, 0], axis=1) - 1) < 1e-9
    # arc of a outside b: angles in [pi/3, 5pi/3]; arc of b outside a: [4pi/3, 8pi/3]
    assert _arc_uniform(pts[~on_b], (0, 0), np.pi / 3, 5 * np.pi / 3) > 1e-3
    assert _arc_uniform(pts[on_b], (1, 0), 4 * np.pi / 3, 8 * np.pi / 3) > 1e-3


def test_intersection_boundary_uniform() -> None:
    a, b = Disk((0, 0), 1), Disk((1, 0), 1)
    geom = a & b
    pts, nrm = geom.sample_boundary(8000, rng(7))
    on_a = np.abs(np.linalg.norm(pts, axis=1) - 1) < 1e-9
    assert abs(on_a.mean() - 0.5) < 0.025
    assert _arc_uniform(pts[on_a], (0, 0), -np.pi / 3, np.pi / 3) > 1e-3
    x = geom.sample_interior(5000, rng(8))
    assert a.contains(x).all() and b.contains(x).all()
    assert abs(np.mean(x[:, 0] < 0.5) - 0.5) < 0.03


def test_pinnacle_difference_uniform() -> None:
    geom, disks = pinnacle_2d_c()
    pts, nrm = geom.sample_boundary(20000, rng(9))
    on_holes = [np.abs(np.linalg.norm(pts - d.center, axis=1) - 0.1) < 1e-9 for d in disks]
    hole_frac = 0.8 * math.pi / (4 + 0.8 * math.pi)
    assert np.sum(on_holes) / len(pts) == pytest.approx(hole_frac, abs=0.015)
    assert chisquare([h.sum() for h in on_holes]).pvalue > 1e-3
    for d, on in zip(disks, on_holes):  # hole normals point into the hole (out of the domain)
        assert np.allclose(nrm[on], -(pts[on] - d.center) / 0.1)
    x = geom.sample_interior(20000, rng(10))
    quads = [np.sum((np.sign(x[:, 0]) == sx) & (np.sign(x[:, 1]) == sy)) for sx in (-1, 1) for sy in (-1, 1)]
    assert chisquare(quads).pvalue > 1e-3
    assert all((np.linalg.norm(x - d.center, axis=1) >= 0.1 - 1e-12).all() for d in disks)


def test_boundary_of_hole() -> None:
    geom, disks = pinnacle_2d_c()
    part = geom.boundary_of(disks[0])
    assert isinstance(part, BoundaryRegion) and part.kind == "boundary"
    assert part.measure == pytest.approx(0.2 * math.pi, rel=1e-9)
    s = part.sample(500, rng(11))
    assert np.allclose(np.linalg.norm(s.points - disks[0].center, axis=1), 0.1)
    assert part.contains(s.points).all()
    assert not part.contains(geom.boundary_of(disks[1]).sample(50, rng(0)).points).any()
    with pytest.raises(GeometryError, match="contributes no boundary"):
        geom.boundary_of(Disk((0, 0), 0.1))


def test_seams_and_coincident_edges() -> None:
    touching = Rectangle((0, 0), (1, 1)) | Rectangle((1, 0), (2, 1))
    pts, _ = touching.sample_boundary(4000, rng(12))
    assert not np.any((np.abs(pts[:, 0] - 1) < 1e-9) & (pts[:, 1] > 1e-9) & (pts[:, 1] < 1 - 1e-9))
    assert touching.boundary_measure == pytest.approx(6.0, rel=2e-3)
    overlap = GEOMETRIES["union_rects"]()
    pts, _ = overlap.sample_boundary(20000, rng(13))
    bottom = pts[pts[:, 1] == 0.0, 0]
    assert len(bottom) / len(pts) == pytest.approx(1.5 / 5.0, abs=0.015)
    counts, _ = np.histogram(bottom, bins=6, range=(0, 1.5))
    assert chisquare(counts).pvalue > 1e-3  # no double density on the shared part
    pts, nrm = l_shape().sample_boundary(8000, rng(14))
    assert not np.any((pts[:, 0] > 1e-9) & (pts[:, 1] > 1e-9) & ~((pts[:, 0] == 0) | (pts[:, 1] == 0)))


def test_empty_csg_raises() -> None:
    empty = Disk((0, 0), 1) & Disk((5, 0), 1)
    with pytest.raises(GeometryError, match="empty"):
        empty.sample_interior(10, rng())
    with pytest.raises(GeometryError, match="empty"):
        empty.sample_boundary(10, rng())
    with pytest.raises(GeometryError, match="dimension mismatch"):
        Disk((0, 0), 1) | Ball((0, 0, 0), 1)


# ----------------------------------------------------------------- products


def test_product_boundary_proportions() -> None:
    geom = Interval(0, 1) * Interval(0, 2)
    pts, nrm = geom.sample_boundary(9000, rng(15))
    vertical = (pts[:, 0] == 0) | (pts[:, 0] == 1)
    assert vertical.mean() == pytest.approx(2 / 3, abs=0.02)
    assert np.all(nrm[vertical, 1] == 0) and np.all(nrm[~vertical, 0] == 0)
    assert geom.time_axis is None and geom.spatial is geom


def test_space_time_regions() -> None:
    disk = Disk((0, 0), 1)
    dom = disk * TimeInterval(0.5, 2.0)
    assert (dom.time_axis, dom.t0, dom.t1, dom.spatial, dom.dim) == (2, 0.5, 2.0, disk, 3)
    for region, t in ((dom.initial, 0.5), (dom.final, 2.0)):
        s = region.sample(300, rng(16))
        assert isinstance(s, RegionSample) and s.normals is None
        assert np.all(s.points[:, 2] == t) and disk.contains(s.points[:, :2]).all()
        assert region.contains(s.points).all() and region.measure == pytest.approx(math.pi)
    assert dom.initial.kind == "initial" and dom.final.kind == "final"
    assert dom.boundary.measure == pytest.approx(2 * math.pi * 1.5)
    assert dom.interior.kind == "interior" and dom.interior.measure == pytest.approx(1.5 * math.pi)
    with pytest.raises(GeometryError, match="no TimeInterval"):
        (disk * Interval(0, 1)).initial
    with pytest.raises(GeometryError, match="last"):
        TimeInterval(0, 1) * disk
    with pytest.raises(GeometryError, match="at most one"):
        dom * TimeInterval(0, 1)
    with pytest.raises(GeometryError, match="time axis"):
        dom | dom


def test_where_filters() -> None:
    dom = Interval(-1, 1) * TimeInterval(0, 1)
    left = dom.boundary.where(lambda x, t: x < 0)
    assert isinstance(left, BoundaryRegion)
    s = left.sample(200, rng(17), "sobol")
    assert np.all(s.points[:, 0] == -1) and np.all(s.normals[:, 0] == -1)
    assert left.contains(s.points).all() and not left.contains(-s.points * [1, 0] + [0, 0.5]).all()
    assert left.measure == pytest.approx(1.0, rel=1e-9)
    early = dom.interior.where(lambda x, t: t < 0.25)
    assert np.all(early.sample(100, rng(18)).points[:, 1] < 0.25)
    assert early.measure == pytest.approx(0.5, rel=1e-2)
    crescent = GEOMETRIES["difference"]()
    assert crescent.interior.where(lambda x, y: y > 0).measure == pytest.approx(
        (math.pi - LENS) / 2, rel=2e-3
    )
    assert crescent.boundary.where(lambda x, y: y > 0).measure == pytest.approx(math.pi, rel=2e-3)
    with pytest.raises(GeometryError, match=r"boundary part selected by .*x > 5.* is empty"):
        dom.boundary.where(lambda x, t: x > 5).sample(10, rng())


def test_where_predicate_errors_name_the_predicate() -> None:
    from pinnlab.geometry.region import describe
    dom = Rectangle((0, 0), (1, 1))
    # several lambdas on one line: each is named by its own text
    a, b = (lambda x, y: x > 0.5), (lambda x, y: np.ones(3))
    assert describe(a) == "lambda x, y: x > 0.5" and describe(b) == "lambda x, y: np.ones(3)"
    multi = (lambda x, y:
             (x > 0.5)
             & (y < 0.2))
    assert describe(multi) == "lambda x, y: (x > 0.5) & (y < 0.2)"
    with pytest.raises(GeometryError, match=r"lambda x, y: np.ones\(3\) .* one boolean per point .*"
                       r"returned shape \(3,\)"):
        dom.boundary.where(b).sample(10, rng())
    with pytest.raises(GeometryError, match=r"lambda x: x > 0 .* failed: TypeError.* 2 coordinate"):
        dom.boundary.where(lambda x: x > 0).sample(10, rng())
    with pytest.raises(GeometryError, match=r"x > 0 and y > 0 .* failed: ValueError.*elementwise"):
        dom.interior.where(lambda x, y: x > 0 and y > 0).sample(10, rng())


def test_periodic_pairs() -> None:
    dom = Interval(-1, 1) * TimeInterval(0, 1)
    left, right = dom.periodic_pairs(0, 64, rng(19), "sobol")
    assert np.all(left[:, 0] == -1) and np.all(right[:, 0] == 1)
    assert np.array_equal(left[:, 1], right[:, 1]) and np.all((left[:, 1] >= 0) & (left[:, 1] <= 1))
    rect = Rectangle((0, 0), (2, 3))
    left, right = rect.periodic_pairs(1, 50, rng(20))
    assert np.all(left[:, 1] == 0) and np.all(right[:, 1] == 3) and np.array_equal(left[:, 0], right[:, 0])
    with pytest.raises(GeometryError, match="time"):
        dom.periodic_pairs(1, 10, rng())
    with pytest.raises(GeometryError, match="hyper-rectangle"):
        Disk((0, 0), 1).periodic_pairs(0, 10, rng())
    with pytest.raises(GeometryError, match="axis=5"):
        rect.periodic_pairs(5, 10, rng())


# ----------------------------------------------------------------- distance


GRAD_CASES = ["disk", "rectangle", "polygon", "pinnacle", "union", "hypersphere5", "disk_x_time", "interval_x_interval"]


@pytest.mark.parametrize("name", GRAD_CASES)
def test_distance_torch_gradcheck(name: str) -> None:
    geom = GEOMETRIES[name]()
    x = geom.sample_interior(12, rng(21))
    x = x[geom._sd(x) > 0.05][:6]
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(geom.distance, (xt,))
    assert np.allclose(geom.distance(xt).detach().numpy(), geom.distance(x), atol=1e-14)
    assert geom.distance(xt.float().detach()).dtype == torch.float32


@pytest.mark.parametrize("name", ["disk", "polygon", "pinnacle", "union"])
def test_distance_fourth_derivative(name: str) -> None:
    geom = GEOMETRIES[name]()
    x = geom.sample_interior(20, rng(22))
    x = torch.tensor(x[geom._sd(x) > 0.05], requires_grad=True)
    g = geom.distance(x).sum()
    for _ in range(4):  # a derivative that became constant has no graph left
        if not g.requires_grad:
            break
        (g,) = torch.autograd.grad(g, x, create_graph=True)
        g = g[:, 0].sum()
    assert torch.isfinite(g)


def test_distance_sign_and_normalization() -> None:
    disk = Disk((0, 0), 2.0)
    assert disk.distance(np.array([[0.0, 0.0]]))[0] == pytest.approx(1.0)
    outside = np.array([[3.0, 0.0], [0.0, -5.0]])
    for geom in (disk, pinnacle_2d_c()[0], GEOMETRIES["polygon"](), Interval(0, 1) * Interval(0, 1)):
        assert np.all(geom.distance(outside) < 0)
    interval = Interval(1, 3)
    assert interval.distance(np.array([[2.0]]))[0] == pytest.approx(0.5)
    with pytest.raises(GeometryError, match=r"\(n, 2\)"):
        disk.distance(torch.zeros(3, 3))


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("factory", "pattern"),
    [
        (lambda: Interval(1, 0), "a=1.*b=0"),
        (lambda: Interval(0, float("nan")), "nan"),
        (lambda: Rectangle((0, 0), (1, -1)), "-1"),
        (lambda: Rectangle((0, 0, 0), (1, 1, 1)), "Rectangle"),
        (lambda: Hypercube([0, 0], [1, float("inf")]), "inf"),
        (lambda: Disk((0, 0), 0), "radius=0"),
        (lambda: Disk((0, 0), -1), "radius=-1"),
        (lambda: Ball((0, 0), 1), "Ball"),
        (lambda: Hypersphere([float("nan"), 0], 1), "nan"),
        (lambda: Polygon([(0, 0), (1, 1)]), "at least 3 vertices"),
        (lambda: Polygon([(0, 0), (1, 1), (2, 2)]), "collinear"),
        (lambda: Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), "simple"),
        (lambda: Union(Disk((0, 0), 1), Interval(0, 1)), "dimension mismatch"),
        (lambda: Disk((0, 0), 1).sample_interior(5, rng(), "grid"), "grid"),
        (lambda: Disk((0, 0), 1).sample_interior(-1, rng()), "-1"),
        (lambda: Disk((0, 0), 1).sample_interior(5, 0), "Generator"),
        (lambda: Disk((0, 0), 1).contains(np.zeros((2, 3))), r"\(2, 3\)"),
    ],
)
def test_errors(factory, pattern: str) -> None:
    with pytest.raises(GeometryError, match=pattern):
        factory()
    assert issubclass(GeometryError, ValueError)


def test_reprs_and_regions() -> None:
    geom, disks = pinnacle_2d_c()
    assert "Difference" in repr(geom) and "Disk(center=(0.3, 0.3), radius=0.1)" in repr(geom)
    assert repr(Interval(0, 1) * TimeInterval(0, 1)) == "Product(Interval(0, 1), TimeInterval(0, 1))"
    assert isinstance(geom.interior, Region) and "where(" in repr(geom.boundary.where(lambda x, y: x > 0))
    assert isinstance(Difference(disks[0], disks[1]), Difference)
    assert isinstance(Intersection(disks[0], disks[0]), Intersection) and isinstance(disks[0] * disks[1], Product)
    assert geom.interior.sample(0, rng()).points.shape == (0, 2)


@settings(max_examples=25, deadline=None)
@given(
    lo=st.lists(st.floats(-5, 5), min_size=1, max_size=4),
    widths=st.lists(st.floats(0.1, 3), min_size=4, max_size=4),
    seed=st.integers(0, 2**31),
)
def test_hypercube_property(lo: list[float], widths: list[float], seed: int) -> None:
    hi = [a + w for a, w in zip(lo, widths)]
    cube = Hypercube(lo, hi)
    x = cube.sample_interior(64, rng(seed), "halton")
    assert cube.contains(x).all()
    p, n = cube.sample_boundary(64, rng(seed))
    assert cube.on_boundary(p).all() and not cube.contains(p + 1e-4 * n).any()
    assert cube.contains(p - 1e-4 * n).all()


def test_uniform_boundary_sampling_gives_every_face_its_share():
    """Random face choice could leave an end of an interval without a point (a lost condition)."""
    for seed in range(20):
        pts = Interval(0, 1).boundary.sample(2, np.random.default_rng(seed)).points.ravel()
        assert sorted(pts.tolist()) == [0.0, 1.0]
        b = Rectangle((0, 0), (2, 1)).boundary.sample(13, np.random.default_rng(seed))
        faces, counts = np.unique(b.normals, axis=0, return_counts=True)
        share = {(-1.0, 0.0): 13 / 6, (1.0, 0.0): 13 / 6, (0.0, -1.0): 13 / 3, (0.0, 1.0): 13 / 3}
        assert len(faces) == 4
        for f, c in zip(map(tuple, faces), counts):
            assert abs(c - share[f]) < 2  # one stratum may straddle each end of a face


# ------------------------------------------------- products as CSG operands


def test_csg_with_a_product_operand_measures_its_faces() -> None:
    """A product's faces are pieces like a primitive's: the part of an end face buried in the
    other operand leaves the measure, and boundary_of accepts the product and its factors."""
    disk, height = Disk((0, 0), 1), Interval(0, 1)
    cyl, ball = disk * height, Ball((0, 0, 1), 0.5)
    geom = cyl - ball
    # the cylinder's 4 pi, less the disk of radius 0.5 cut from the top, plus the lower half-sphere
    assert geom.boundary.measure == pytest.approx(4 * math.pi - math.pi / 4 + math.pi / 2, rel=2e-3)
    # z > 0.99: the top ring, a band of the wall (2 pi 0.01) and a zone of the sphere (2 pi 0.5 0.01)
    top = geom.boundary.where(lambda x, y, z: z > 0.99)
    assert top.measure == pytest.approx(0.75 * math.pi + 0.02 * math.pi + 0.01 * math.pi, rel=1e-2)
    # the disk of radius 0.5 on the top face and the lower half-sphere
    assert (cyl & ball).boundary.measure == pytest.approx(math.pi / 4 + math.pi / 2, rel=1e-2)
    prism = Box((-0.2, -0.2, 0.5), (0.2, 0.2, 1.5))  # a 0.4 x 0.4 square hole, 0.5 deep, from the top
    assert (cyl - prism).boundary.measure == pytest.approx(4 * math.pi + 4 * 0.4 * 0.5, rel=2e-3)
    part = geom.boundary_of(cyl)
    assert part.measure == pytest.approx(4 * math.pi - math.pi / 4, rel=2e-3)
    assert geom.boundary_of(ball).measure == pytest.approx(math.pi / 2, rel=2e-3)
    pts = part.sample(500, rng(30)).points
    assert cyl.on_boundary(pts).all() and part.contains(pts).all()
    assert np.all(np.linalg.norm(pts - ball.center, axis=1) >= 0.5 - 1e-9)
    assert not part.contains(geom.boundary_of(ball).sample(50, rng(31)).points).any()
    # a factor names its own faces: the wall (untouched by the ball), the two ends
    assert geom.boundary_of(disk).measure == pytest.approx(2 * math.pi, rel=1e-12)
    assert geom.boundary_of(height).measure == pytest.approx(2 * math.pi - math.pi / 4, rel=2e-3)


@pytest.mark.parametrize("method", METHODS)
def test_product_points_uniform_with_every_method(method: str) -> None:
    """Separately drawn low-discrepancy sets are paired at random: row by row, two Sobol sets
    put every point of the top face of a cylinder in the outer ring of the disk."""
    cyl = Disk((0, 0), 1) * Interval(0, 1)
    s = cyl.boundary.sample(4096, rng(32), method)
    top = s.points[s.normals[:, 2] > 0]
    assert np.mean(np.linalg.norm(top[:, :2], axis=1) < 0.5) == pytest.approx(0.25, abs=0.06)
    geom = (Disk((0, 0), 1) - Disk((5, 5), 1)) * Interval(0, 1)  # a factor sampled by rejection
    x = geom.sample_interior(4096, rng(33), method)
    high, inner = x[:, 2] > 0.5, np.linalg.norm(x[:, :2], axis=1) < math.sqrt(0.5)
    assert np.mean(high & inner) == pytest.approx(0.25, abs=0.03)


# ------------------------------------------------------- tolerances at scale


@pytest.mark.parametrize("size", [1e-8, 1.0, 1e8])
def test_membership_tolerance_is_relative_to_the_size(size: float) -> None:
    """A shape of radius 1e8 contains its own boundary points (rounding errors of about 1e-8),
    and a shape of radius 1e-8 does not contain points 1e-12 outside."""
    s = size
    shapes = [
        Disk((0, 0), s), Ball((0, 0, 0), s), Hypersphere([0.0] * 4, s),
        Box((0, 0, 0), (s, 2 * s, 3 * s)), Interval(-s, 2 * s),
        Polygon([(0, 0), (2 * s, 0), (2 * s, s), (s, s), (s, 2 * s), (0, 2 * s)]),
        Triangle((0, 0), (s, 0.3 * s), (0.1 * s, s)), Disk((3 * s, -s), s),
        Disk((0, 0), s) - Disk((s, 0), s), Disk((0, 0), s) * Interval(0, s),
    ]
    for geom in shapes:
        pts, nrm = geom.sample_boundary(4000, rng(34))
        assert geom.contains(pts).all() and geom.on_boundary(pts).all(), geom
        assert geom.contains(geom.sample_interior(1000, rng(35))).all(), geom
        assert not geom.contains(pts + 1e-4 * s * nrm).any(), geom


def test_membership_tolerance_covers_rounding_of_far_coordinates() -> None:
    """A unit disk centred at 1e8: its boundary points are rounded to about 1e-8."""
    far = Disk((1e8, -1e8), 1.0)
    pts, nrm = far.sample_boundary(4000, rng(36))
    assert far.contains(pts).all() and not far.contains(pts + 1e-4 * nrm).any()


# ---------------------------------------------------- where() returns booleans


def test_where_predicates_must_return_booleans() -> None:
    sq = Rectangle((0, 0), (1, 1))
    wrong = [
        (lambda x, y: x - 0.5, "float64"),
        (lambda x, y: np.where(x < 0.5, "yes", "no"), str(np.dtype("<U3"))),
        (lambda x, y: 1 * (x < 0.5), str(np.dtype(int))),
    ]
    for pred, dtype in wrong:
        part = sq.boundary.where(pred)
        pattern = (re.escape(describe(pred)) + r" on the boundary of Rectangle.* returned "
                   + re.escape(dtype) + r" values .*must return booleans.*x < 0\.5")
        with pytest.raises(GeometryError, match=pattern):
            part.sample(10, rng())
        with pytest.raises(GeometryError, match=pattern):
            part.measure
    # booleans: arrays, and Python or NumPy scalars (broadcast)
    assert sq.boundary.where(lambda x, y: x < 0.5).measure == pytest.approx(2.0, rel=1e-12)
    assert sq.boundary.where(lambda x, y: True).measure == pytest.approx(4.0, rel=1e-12)
    assert sq.interior.where(lambda x, y: np.bool_(False)).contains([[0.5, 0.5]]).tolist() == [False]


# ------------------------------------------------------ distance sign convention


SIGN_CASES = sorted(GEOMETRIES) + ["time_interval", "polygon_x_time"]


@pytest.mark.parametrize("name", SIGN_CASES)
def test_distance_sign_matches_membership(name: str) -> None:
    """distance() is > 0 inside and < 0 outside for every geometry (space-time included)."""
    extra = {"time_interval": lambda: TimeInterval(0, 2),
             "polygon_x_time": lambda: GEOMETRIES["polygon"]() * TimeInterval(0.5, 2)}
    geom = extra[name]() if name in extra else GEOMETRIES[name]()
    lo, hi = geom.bounds
    x = rng(37).uniform(lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo), size=(4000, geom.dim))
    sd, phi = geom._sd(x), geom.distance(x)
    away = np.abs(sd) > 1e-9
    assert np.array_equal(np.sign(phi[away]), np.sign(sd[away]))


def test_space_time_distance_outside_the_time_interval() -> None:
    disk = Disk((0, 0), 1)
    dom = disk * TimeInterval(0, 1)
    assert np.all(dom.distance(np.array([[0, 0, -0.5], [0, 0, 1.5], [2, 0, -0.5]])) < 0)
    # on [t0, t1], the initial and final slices included, it is the spatial distance
    pts = np.array([[0.0, 0.0, 0.0], [0.5, 0.2, 1.0], [0.1, -0.3, 0.4], [1.0, 0.0, 0.7]])
    assert np.array_equal(dom.distance(pts), disk.distance(pts[:, :2]))
    # with its derivatives (hard constraints differentiate it at t = t0): none in t
    xt = torch.tensor(pts, requires_grad=True)
    (g,) = torch.autograd.grad(dom.distance(xt).sum(), xt)
    assert np.all(g[:, 2].numpy() == 0) and np.allclose(g[:, :2].numpy(), -pts[:, :2])


# ------------------------------------------------------- a lone TimeInterval


def test_lone_time_interval_is_a_time_domain() -> None:
    dom = TimeInterval(0.5, 2.0)
    assert (dom.time_axis, dom.t0, dom.t1, dom.spatial, dom.dim) == (0, 0.5, 2.0, None, 1)
    for region, t in ((dom.initial, 0.5), (dom.final, 2.0)):
        s = region.sample(64, rng(38), "sobol")
        assert s.normals is None and s.points.shape == (64, 1) and np.all(s.points == t)
        assert region.contains(s.points).all() and not region.contains([[t + 1e-3]]).any()
        assert region.measure == 1.0  # a point, counted as the ends of an Interval are
    assert dom.initial.kind == "initial" and dom.final.kind == "final"
    # no spatial boundary, so no boundary: t0 belongs to the initial region only
    assert dom.boundary_measure == 0.0 and not dom.on_boundary([[0.5], [2.0], [1.0]]).any()
    with pytest.raises(GeometryError, match=r"has no boundary.*Initial.*Interval\(0.5, 2\)"):
        dom.boundary
    assert dom.interior.measure == 1.5 and dom.contains(dom.sample_interior(50, rng(39))).all()
    # as the time factor of a product it is what it was
    prod = Interval(0, 1) * dom
    assert prod.boundary.measure == pytest.approx(2 * 1.5) and prod.time_axis == 1


def test_ode_system_on_a_lone_time_interval_solves() -> None:
    """u' = v, v' = -u, u(0) = 1, v(0) = 0 on [0, 2]: u = cos t, v = -sin t."""
    import sympy as sp

    from pinnlab import MLP, Initial, Problem, solve

    t = sp.Symbol("t")
    u, v = sp.Function("u")(t), sp.Function("v")(t)
    problem = Problem([sp.Eq(u.diff(t), v), sp.Eq(v.diff(t), -u)], [Initial(u, 1), Initial(v, 0)],
                      domain=TimeInterval(0, 2), fields=[u, v])
    assert set(problem.compile().blocks) == {"interior", "initial"}
    res = solve(problem, steps=500, model=MLP(width=16, depth=2), optimizer=dict(name="adam", lr=1e-2),
                sampler=dict(name="uniform", n_interior=64, n_initial=8), progress=False, report=False)
    ts = np.linspace(0, 2, 41)
    pred = res.predict(ts[:, None])
    assert np.max(np.abs(pred[:, 0] - np.cos(ts))) < 0.05
    assert np.max(np.abs(pred[:, 1] + np.sin(ts))) < 0.05
