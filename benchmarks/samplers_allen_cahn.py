"""Allen-Cahn (u_t = 1e-4 u_xx - 5 u^3 + 5 u, periodic, u0 = x^2 cos(pi x)): causal methods.

Plain, causal loss weighting (Wang, Sankaran, Perdikaris, arXiv 2203.07404; the causal
training algorithm is patented by the University of Pennsylvania and not licensed for
commercial use), R3 and causal R3 (Daw et al., ICML 2023), every method with the same
network, optimizer, points and steps. Reference: ``pinnlab.spectral`` (ETDRK4). The
causal-training paper reports 1.43e-3 for an MLP after 300k GPU steps and about 0.5 for a
plain PINN. Two recipes:

* ``--recipe pinnlab`` (default; the one ``problems/allen_cahn.py`` records): an MLP
  40 x 3 tanh on the exact periodic embedding of x (2 harmonics) plus 32 random Fourier
  features of t (sigma 1), Adam 1000, L-BFGS 3000, then float64 self-scaled Broyden; 4000
  collocation points (Sobol for the fixed-point methods, R3 populations updated every 100
  steps, causal gate eta_g = 0.016).
* ``--recipe paper``: MLP 4 x 50 tanh, Adam 1e-3 (x0.9 every 5000 steps), N_f = 1000,
  every sampler updating every step.

In both, lambda_ic = lambda_bc = 100 (the problem's term weights).

Run: ``python benchmarks/samplers_allen_cahn.py [--recipe pinnlab|paper] [--steps N]
[--methods a,b]``; prints a table (method, L2RE, wall s, steps/s) and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "problems"))

from pinnlab import MLP, solve  # noqa: E402

import allen_cahn  # noqa: E402

PAPER_POINTS = dict(n_interior=1000, n_initial=200, n_periodic=200)
POINTS = dict(n_interior=4000, n_initial=400, n_periodic=400)


def methods(recipe: str) -> dict[str, tuple[dict, str]]:
    if recipe == "paper":
        pts, every, fixed = PAPER_POINTS, {}, dict(name="resample", resample_every=1, **PAPER_POINTS)
        gate = {}
    else:
        pts, every, fixed = POINTS, {"every": 100}, dict(name="fixed", method="sobol", **POINTS)
        gate = {"eta_g": 0.016}
    return {
        "plain": (fixed, "fixed"),
        "causal_weighting": (fixed, "causal"),
        "r3": (dict(name="r3", **every, **pts), "fixed"),
        "causal_r3": (dict(name="causal_r3", **every, **gate, **pts), "fixed"),
    }


def recipe_settings(recipe: str, steps: int) -> dict:
    if recipe == "paper":
        return dict(model=MLP(width=50, depth=4),
                    optimizer=dict(name="adam", lr=1e-3, schedule="step", decay_rate=0.9, decay_steps=5000))
    adam, lbfgs = min(1000, steps // 7), min(3000, 3 * steps // 7)
    return dict(model=allen_cahn.settings["model"],
                optimizer=dict(name="chain", stages=[
                    {"name": "adam", "lr": 1e-3, "steps": adam}, {"name": "lbfgs", "steps": lbfgs},
                    {"name": "bfgs", "update": "ssbroyden", "dtype": "float64", "steps": steps - adam - lbfgs}]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=("pinnlab", "paper"), default="pinnlab")
    parser.add_argument("--steps", type=int, default=7000)
    parser.add_argument("--methods", default="plain,causal_weighting,r3,causal_r3")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    specs, recipe = methods(args.recipe), recipe_settings(args.recipe, args.steps)
    print(f"Allen-Cahn, recipe {args.recipe}, {args.steps} steps, seed {args.seed}, 1 thread", flush=True)
    rows = []
    print(f"{'method':>17} {'L2RE':>10} {'wall s':>8} {'steps/s':>8}  extra", flush=True)
    for name in args.methods.split(","):
        sampler, weighting = specs[name]
        res = solve(allen_cahn.problem, sampler=sampler, weighting=weighting, steps=args.steps, seed=args.seed,
                    device="cpu", progress=False, report=False, log_every=max(args.steps // 10, 1), **recipe)
        last = res.history[-1]
        extra = {k: round(float(v), 4) for k, v in last.items()
                 if k in ("causal_beta", "causal_eps", "causal_min_weight", "r3_retained")}
        row = dict(method=name, recipe=args.recipe, l2re=res.metrics["l2re"], wall_s=res.metrics["wall_seconds"],
                   steps_per_s=res.metrics["steps_per_second"], steps=args.steps, **extra)
        rows.append(row)
        print(f"{name:>17} {row['l2re']:>10.3e} {row['wall_s']:>8.1f} {row['steps_per_s']:>8.1f}  {extra}",
              flush=True)
    print(json.dumps({"benchmark": "samplers_allen_cahn", "rows": rows}))


if __name__ == "__main__":
    main()
