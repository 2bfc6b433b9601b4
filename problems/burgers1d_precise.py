"""Burgers 1d to L2RE <= 1e-4: Adam -> L-BFGS -> float64 self-scaled Broyden on a small network.

The problem is exactly ``problems/burgers1d.py`` (PINNacle Burgers 1d-C):
u_t + u u_x = (0.01/pi) u_xx on [-1, 1] x [0, 1], u(x, 0) = -sin(pi x),
u(+-1, t) = 0, scored against the exact (Cole-Hopf) solution.

The recipe (after Urbán, Stefanou & Pons, J. Comput. Phys. 523 (2025) 113656):
a short Adam phase to leave the initial plateau, L-BFGS in float32, then the
dense quasi-Newton finishing stage (``optimizer bfgs``, ``update=ssbroyden``) in
float64, where the loss keeps falling by orders of magnitude, on one fixed set of
8000 + 400 + 800 points (fewer fixed points overfit: with 2540 interior points
the loss reached 9e-10 at L2RE 1.2e-1; redrawing 8000 points every 250 steps
kept the finishing stage from converging: L2RE 1.3e-3 to 3e-3 after 4000 steps).

The collocation points are a scrambled Sobol set: with the same number of
uniform random points the finishing stage over-fits them (loss 3e-9 while the
error rose from a best of 1.13e-4 at step 4250 to 1.9e-4 at step 5000); the
low-discrepancy set keeps the error falling with the loss.

Recorded run (``python problems/burgers1d_precise.py``, seed 0, 1 thread, on the
shared 2-core CPU with two other training processes running):

    step   stage             loss      L2RE      wall s
    1000   end of Adam       1.1e-01   4.8e-01     33
    2000   end of L-BFGS     1.2e-03   5.4e-02     80
    2500   ssbroyden f64     7.4e-06   6.3e-04    142
    3000                     6.1e-07   1.2e-04    205
    3250                     2.4e-07   9.9e-05    239   (target 1e-4 reached)
    4000                     5.2e-08   4.3e-05    336
    5000                     9.2e-09   1.55e-05   462   (final)

Exact boundary and initial values (``hard=True``) did not help here: 4.0e-4 after
the same 5000 steps.
"""

from pinnlab import MLP, Problem
from pinnlab.cli import run_script

import burgers1d  # the same declaration (this script's folder is on the import path)

base = burgers1d.problem
problem = Problem(base.equations, base.conditions, domain=base.domain, reference=base.reference,
                  name="burgers1d_precise")

STAGES = [
    {"name": "adam", "lr": 1e-3, "steps": 1000},
    {"name": "lbfgs", "steps": 1000},
    {"name": "bfgs", "update": "ssbroyden", "dtype": "float64", "steps": 3000},
]

settings = dict(
    model=MLP(width=20, depth=3),
    sampler=dict(name="uniform", n_interior=8000, n_boundary=400, n_initial=800, method="sobol"),
    optimizer=dict(name="chain", stages=STAGES),
    log_every=250,
    eval_every=250,
)

if __name__ == "__main__":
    import torch
    torch.set_num_threads(1)
    raise SystemExit(run_script(problem, settings))
