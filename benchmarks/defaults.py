"""What a new user gets from ``solve(problem)`` with no settings: the default optimizer
(``auto``: Adam, then L-BFGS for the last half of the steps) against Adam alone, on classic
PDEs with exact solutions.

    python benchmarks/defaults.py [--problems heat,poisson2d] [--steps 1000] [--optimizers auto,adam]

Every other setting is solve's default (MLP 4 x 50 tanh, 2000 uniform interior points, float32,
1000 steps). Each run is a fresh subprocess on one thread; for each problem the optimizers run
one after the other, so their wall times see about the same machine load. Printed: L2RE against
the exact solution, the relative error of learned constants (inverse problem), wall seconds.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def problems() -> dict:
    """name -> function building the Problem (with its exact solution as reference)."""
    import numpy as np
    import sympy as sp
    from pinnlab import (Data, Dirichlet, Disk, Initial, Interval, Neumann, Periodic, Problem,
                         Rectangle, TimeInterval, Box)
    x, y, z, t = sp.symbols("x y z t")
    pi = sp.pi

    def poisson1d():
        u = sp.Function("u")(x)
        return Problem([sp.Eq(-u.diff(x, 2), pi ** 2 * sp.sin(pi * x))], [Dirichlet(u, 0)],
                       domain=Interval(0, 1), reference=sp.sin(pi * x), name="poisson1d")

    def poisson2d():
        u = sp.Function("u")(x, y)
        ex = sp.sin(pi * x) * sp.sin(pi * y)
        return Problem([sp.Eq(-u.diff(x, 2) - u.diff(y, 2), 2 * pi ** 2 * ex)], [Dirichlet(u, 0)],
                       domain=Rectangle((0, 0), (1, 1)), reference=ex, name="poisson2d")

    def disk_mixed():
        u = sp.Function("u")(x, y)
        ex = 1 - (x ** 2 + y ** 2) / 4
        d = Disk((0, 0), 1)
        return Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2), -1)],
                       [Neumann(u, -sp.Rational(1, 2), on=d.boundary.where(lambda x, y: x > 0)),
                        Dirichlet(u, ex, on=d.boundary.where(lambda x, y: x <= 0))],
                       domain=d, reference=ex, name="disk_mixed")

    def box3d():
        u = sp.Function("u")(x, y, z)
        ex = sp.sin(pi * x) * sp.sin(pi * y) * sp.sin(pi * z)
        return Problem([sp.Eq(-u.diff(x, 2) - u.diff(y, 2) - u.diff(z, 2), 3 * pi ** 2 * ex)],
                       [Dirichlet(u, 0)], domain=Box((0, 0, 0), (1, 1, 1)), reference=ex, name="box3d")

    def heat():
        u = sp.Function("u")(x, t)
        ex = sp.exp(-pi ** 2 * t / 10) * sp.sin(pi * x)
        return Problem([sp.Eq(u.diff(t), u.diff(x, 2) / 10)], [Initial(u, sp.sin(pi * x)), Dirichlet(u, 0)],
                       domain=Interval(0, 1) * TimeInterval(0, 1), reference=ex, name="heat")

    def wave():
        u = sp.Function("u")(x, t)
        return Problem([sp.Eq(u.diff(t, 2), u.diff(x, 2))],
                       [Initial(u, sp.sin(pi * x)), Initial(u.diff(t), 0), Dirichlet(u, 0)],
                       domain=Interval(0, 1) * TimeInterval(0, 1), reference=sp.sin(pi * x) * sp.cos(pi * t),
                       name="wave")

    def advection_periodic():
        u = sp.Function("u")(x, t)
        return Problem([sp.Eq(u.diff(t) + 2 * u.diff(x), 0)], [Initial(u, sp.sin(x)), Periodic(u, x)],
                       domain=Interval(0, 2 * pi) * TimeInterval(0, 1), reference=sp.sin(x - 2 * t),
                       name="advection_periodic")

    def helmholtz():
        u = sp.Function("u")(x, y)
        ex = sp.sin(pi * x) * sp.sin(4 * pi * y)
        return Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2) + u, (1 - 17 * pi ** 2) * ex)], [Dirichlet(u, 0)],
                       domain=Rectangle((-1, -1), (1, 1)), reference=ex, name="helmholtz")

    def kovasznay():
        u, v, p = (sp.Function(n)(x, y) for n in "uvp")
        re = 20
        lam = re / 2 - sp.sqrt(re ** 2 / 4 + 4 * pi ** 2)
        ue = 1 - sp.exp(lam * x) * sp.cos(2 * pi * y)
        ve = lam / (2 * pi) * sp.exp(lam * x) * sp.sin(2 * pi * y)
        pe = (1 - sp.exp(2 * lam * x)) / 2
        lap = lambda f: f.diff(x, 2) + f.diff(y, 2)  # noqa: E731
        eqs = [u * u.diff(x) + v * u.diff(y) + p.diff(x) - lap(u) / re,
               u * v.diff(x) + v * v.diff(y) + p.diff(y) - lap(v) / re,
               u.diff(x) + v.diff(y)]
        dom = Rectangle((-0.5, -0.5), (1, 1.5))
        outlet = dom.boundary.where(lambda x, y: abs(x - 1) < 1e-9)
        return Problem(eqs, [Dirichlet(u, ue), Dirichlet(v, ve), Dirichlet(p, pe, on=outlet)], domain=dom,
                       fields=[u, v, p], reference={u: ue, v: ve, p: pe}, name="kovasznay")

    def elasticity():
        u, v = sp.Function("u")(x, y), sp.Function("v")(x, y)
        lam_, mu = 1.0, 0.5
        ue, ve = sp.sin(pi * x) * sp.sin(pi * y), x * y * (1 - x) * (1 - y)

        def navier(a, b):
            div = a.diff(x) + b.diff(y)
            return (mu * (a.diff(x, 2) + a.diff(y, 2)) + (lam_ + mu) * div.diff(x),
                    mu * (b.diff(x, 2) + b.diff(y, 2)) + (lam_ + mu) * div.diff(y))
        fx, fy = (sp.simplify(-e) for e in navier(ue, ve))
        e1, e2 = navier(u, v)
        return Problem([sp.Eq(e1 + fx, 0), sp.Eq(e2 + fy, 0)], [Dirichlet(u, 0), Dirichlet(v, 0)],
                       domain=Rectangle((0, 0), (1, 1)), fields=[u, v], reference={u: ue, v: ve},
                       name="elasticity")

    def inverse_heat():
        u = sp.Function("u")(x, t)
        k = sp.Symbol("k")
        ex = sp.exp(-pi ** 2 * t / 10) * sp.sin(pi * x)
        pts = np.random.default_rng(0).uniform([0, 0], [1, 1], (200, 2))
        vals = np.exp(-np.pi ** 2 * pts[:, 1] / 10) * np.sin(np.pi * pts[:, 0])
        return Problem([sp.Eq(u.diff(t), k * u.diff(x, 2))],
                       [Initial(u, sp.sin(pi * x)), Dirichlet(u, 0), Data(u, pts, vals)],
                       domain=Interval(0, 1) * TimeInterval(0, 1), parameters={k: 1.0},
                       parameter_reference={k: 0.1}, reference=ex, name="inverse_heat")

    return {f.__name__: f for f in (poisson1d, poisson2d, disk_mixed, box3d, heat, wave, advection_periodic,
                                     helmholtz, kovasznay, elasticity, inverse_heat)}


def worker(name: str, optimizer: str, steps: int) -> None:
    import torch
    torch.set_num_threads(1)
    from pinnlab import solve
    problem = problems()[name]()
    t0 = time.perf_counter()
    res = solve(problem, optimizer=optimizer, steps=steps, device="cpu", progress=False, report=False)
    wall = time.perf_counter() - t0
    errs = res.metrics.get("parameter_errors") or {}
    print(json.dumps({"problem": name, "optimizer": optimizer, "l2re": res.metrics.get("l2re"),
                      "parameter_error": max(errs.values()) if errs else None, "wall_s": wall,
                      "stop": res.metrics.get("optimizer_stop_reason")}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", default="all")
    p.add_argument("--optimizers", default="auto,adam")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.worker[0], args.worker[1], args.steps)
    names = list(problems()) if args.problems == "all" else args.problems.split(",")
    unknown = [n for n in names if n not in problems()]
    if unknown:
        p.error(f"unknown problem(s) {unknown}; choose from {', '.join(problems())}")
    opts = args.optimizers.split(",")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    print(f"{'problem':<20}" + "".join(f"{o + ' L2RE':>14}{o + ' s':>10}" for o in opts), flush=True)
    for name in names:
        line = f"{name:<20}"
        for opt in opts:
            cmd = [sys.executable, __file__, "--steps", str(args.steps), "--worker", name, opt]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                  cwd=Path(__file__).resolve().parents[1])
            if proc.returncode != 0:
                err = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
                rows.append({"problem": name, "optimizer": opt, "error": err})
                line += f"{'failed':>14}{'':>10}"
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            line += f"{row['l2re']:>14.3g}{row['wall_s']:>10.1f}"
        print(line, flush=True)
    print(json.dumps({"steps": args.steps, "runs": rows}))


if __name__ == "__main__":
    main()
