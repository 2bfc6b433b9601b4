"""PI-HC-MoE against soft constraints on nonlinear problems, and its cost against points and K.

Chalapathi, Du & Krishnapriyan (ICLR 2024) claim that (1) hard constraints, the
final-layer coefficients solved per expert by least squares on the PDE and condition
residuals, beat soft ones on error, and (2) K experts train faster than one hard
constraint as the number of constraint points grows (1.6x-3.2x on diffusion-sorption,
1e2-1e5 points). This script checks both on this CPU, float64, one thread:

* ``burgers``: a nonlinear, time-dependent problem with an exact solution, the viscous
  Burgers travelling wave u_t + u u_x = nu u_xx, nu = 0.05,
  u = 1/2 - tanh((x - t/2) / (4 nu)) / 2 on [-1, 1] x [0, 1] (initial and boundary
  values from it);
* ``ns``: the steady lid-driven cavity of ``problems/ns2d_cavity.py`` (u, v, p; PINNacle's
  reference solution; needs ``../shared/reference``).

Methods, all trained by Adam (lr 1e-3) for the same number of steps on the same loss
points: ``soft`` (MLP, every term in the loss), ``hard`` (PI-HC-MoE, one expert) and
``moeK`` (K experts on a grid; ``moeK_overlap`` shares constraint points with the
neighbours over a quarter of an expert's width, the remedy for interface jumps), and
``soft_equal_time``: the soft constraint trained for as long as the single hard expert took. The
experts' constraint points total the same number for every K. ``--scaling`` prints the median time of one training step against the
total number of constraint points and K instead.

Run: ``python benchmarks/models_moe.py [--case burgers|ns] [--steps N] [--scaling]``;
prints a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import sympy as sp
import torch

from pinnlab import Dirichlet, Initial, Interval, Problem, TimeInterval, solve

NU = 0.05


def burgers_problem() -> Problem:
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    exact = sp.Rational(1, 2) - sp.tanh((x - t / 2) / (4 * NU)) / 2
    domain = Interval(-1, 1) * TimeInterval(0, 1)
    return Problem([sp.Eq(u.diff(t) + u * u.diff(x), NU * u.diff(x, 2))],
                   [Initial(u, exact.subs(t, 0)), Dirichlet(u, exact, on=domain.boundary)], domain=domain,
                   reference=lambda p: 0.5 - 0.5 * np.tanh((p[:, 0] - p[:, 1] / 2) / (4 * NU)),
                   name="burgers_travelling_wave")


def ns_problem() -> Problem:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "problems"))
    from ns2d_cavity import problem
    return problem


CASES = {
    # name: (problem, loss points, expert grid for K, basis functions per field, points per K)
    "burgers": (burgers_problem, dict(n_interior=2048, n_boundary=256, n_initial=256),
                {2: (2, 1), 4: (4, 1)}, 32, 1024),
    "ns": (ns_problem, dict(n_interior=1024, n_boundary=256), {4: (2, 2)}, 16, 1024),
}


def moe_spec(basis: int, grid: tuple, total: int) -> dict:
    K = int(np.prod(grid))
    return {"name": "hc_moe", "basis": basis, "width": 32, "depth": 3, "experts": grid,
            "points": max(total // K, 8), "boundary_points": max(total // (4 * K), 8)}


def run(problem, model, sampler, steps: int) -> dict:
    torch.manual_seed(0)
    res = solve(problem, model=model, sampler=sampler, steps=steps, dtype="float64", progress=False,
                report=False, optimizer={"name": "adam", "lr": 1e-3}, log_every=1,
                eval_every=max(steps // 4, 1))
    times = [r["time"] for r in res.history if "time" in r]
    per_step = statistics.median(np.diff(times)[1:]) if len(times) > 2 else float("nan")
    jump = res.model.interface_jump()["max"] if hasattr(res.model, "interface_jump") else float("nan")
    rep = getattr(res.model, "lm_report", None)
    return {"l2re": res.metrics.get("l2re", float("nan")), "wall_s": res.metrics["wall_seconds"],
            "s_per_step": per_step, "jump": jump, "lm_iters": rep.iterations if rep else None}


def compare(case: str, steps: int) -> list[dict]:
    make, sampler, grids, basis, total = CASES[case]
    problem = make()
    methods = {"soft": {"name": "mlp", "width": 32, "depth": 3}, "hard": moe_spec(basis, (1,), total)}
    methods.update({f"moe{K}": moe_spec(basis, grid, total) for K, grid in grids.items()})
    K, grid = max(grids.items())
    methods[f"moe{K}_overlap"] = {**moe_spec(basis, grid, total), "overlap": 0.25}
    rows = []
    print(f"{case}: Adam 1e-3, {steps} steps, float64, 1 thread")
    print(f"{'method':15s} {'steps':>6s} {'L2RE':>10s} {'wall s':>8s} {'s/step':>8s} {'jump':>8s} {'LM it':>6s}")
    for name, spec in methods.items():
        r = {"case": case, "method": name, "steps": steps, **run(problem, spec, sampler, steps)}
        rows.append(r)
        _print_row(r)
    # the soft constraint at the wall time of the single hard-constraint expert
    soft, hard = rows[0], rows[1]
    long = int(round(steps * hard["wall_s"] / max(soft["wall_s"], 1e-9)))
    r = {"case": case, "method": "soft_equal_time", "steps": long,
         **run(problem, methods["soft"], sampler, long)}
    rows.append(r)
    _print_row(r)
    return rows


def _print_row(r: dict) -> None:
    print(f"{r['method']:15s} {r['steps']:6d} {r['l2re']:10.3e} {r['wall_s']:8.1f} {r['s_per_step']:8.3f} "
          f"{r['jump']:8.2e} {r['lm_iters'] if r['lm_iters'] is not None else '-':>6}", flush=True)


def scaling(case: str, totals, Ks) -> list[dict]:
    make, sampler, _, basis, _ = CASES[case]
    problem = make()
    rows = []
    print(f"{case}: median s per training step (forward + expert solves + backward), float64, 1 thread")
    print("points " + " ".join(f"{'K=' + str(K):>9s}" for K in Ks))
    for total in totals:
        line = []
        for K in Ks:
            grid = (K,) + (1,) * (len(problem.coordinates) - 1)
            r = run(problem, moe_spec(basis, grid, total), sampler, 6)
            rows.append({"case": case, "points": total, "K": K, "s_per_step": r["s_per_step"]})
            line.append(r["s_per_step"])
        print(f"{total:6d} " + " ".join(f"{v:9.3f}" for v in line), flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", choices=sorted(CASES), default="burgers")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--points", default="256,1024,4096", help="total constraint points (with --scaling)")
    ap.add_argument("--experts", default="1,2,4,8", help="expert counts K (with --scaling)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.scaling:
        rows = scaling(args.case, [int(v) for v in args.points.split(",")],
                       [int(v) for v in args.experts.split(",")])
    else:
        rows = compare(args.case, args.steps)
    clean = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
             for r in rows]
    print(json.dumps({"case": args.case, "rows": clean}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
