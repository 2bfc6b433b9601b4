"""Samplers on convection (u_t + 50 u_x = 0, periodic, u0 = sin x): the R3 paper's benchmark.

Fixed points, uniform resampling, RAD, R3 and causal R3 (Daw et al., ICML 2023), every
method with the same network, optimizer, points and step budget. A plain PINN is known to
fail here (relative L2 error near 1). Two recipes:

* ``--recipe pinnlab`` (default; the recipe ``problems/convection.py`` records): an MLP
  4 x 50 tanh on the exact periodic embedding of x plus 32 random Fourier features of t
  (sigma 4 on t normalised to [-1, 1]; the solution oscillates 8 times in t), Adam 1000
  steps then L-BFGS 4000, 4000 collocation points; adaptive samplers update every 100
  steps (every L-BFGS step would discard its curvature pairs); the causal gate advances
  with eta_g = 0.016 (open over [0, 1] after about 3000 steps). ``--finish N`` makes the
  last N steps a float64 self-scaled Broyden stage.
* ``--recipe paper``: the R3 paper's MLP 4 x 50 tanh, Adam 1e-3 x0.9 every 5000 steps,
  N_f = 1000 and lambda_ic = lambda_bc = 100, every sampler updating every step. The
  paper trains 300k steps; causal R3's gate advances at most eta_g * clip = 1e-4 per
  step with the paper's eta_g, so with a short budget it cannot sweep [0, 1]:
  ``causal_r3_fast`` scales eta_g to 20 / steps.

``causal_weighting`` (not run by default) is uniform resampling with the causal loss
weighting of Wang, Sankaran and Perdikaris (patented by the University of Pennsylvania;
not licensed for commercial use).

Run: ``python benchmarks/samplers_convection.py [--recipe pinnlab|paper] [--steps N]
[--methods a,b,...]``; prints a table (method, L2RE, wall s, steps/s) and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "problems"))

from pinnlab import MLP, solve  # noqa: E402

import convection  # noqa: E402

PAPER_POINTS = dict(n_interior=1000, n_initial=200, n_periodic=200)
POINTS = dict(n_interior=4000, n_initial=400, n_periodic=400)


def method_specs(recipe: str, steps: int) -> dict[str, dict]:
    if recipe == "paper":
        every, pts, fast = max(steps // 20, 1), PAPER_POINTS, 20.0 / steps
        adaptive = {}
    else:
        every, pts, fast = 100, POINTS, 0.016
        adaptive = {"every": every}
    return {
        "fixed": dict(name="fixed", method="sobol" if recipe == "pinnlab" else "uniform", **pts),
        "resample": dict(name="resample", resample_every=adaptive.get("every", 1), **pts),
        "rad": dict(name="rad", every=every, n_candidates=10000, **pts),
        "r3": dict(name="r3", **adaptive, **pts),
        "causal_r3": dict(name="causal_r3", **adaptive, **({"eta_g": fast} if recipe == "pinnlab" else {}),
                          **pts),
        "causal_r3_fast": dict(name="causal_r3", eta_g=fast, **adaptive, **pts),
        "causal_weighting": dict(name="resample", resample_every=adaptive.get("every", 1), **pts),
    }


def recipe_settings(recipe: str, steps: int, finish: int = 0) -> dict:
    if recipe == "paper":
        return dict(model=MLP(width=50, depth=4),
                    optimizer=dict(name="adam", lr=1e-3, schedule="step", decay_rate=0.9, decay_steps=5000))
    adam = min(1000, steps // 5)
    stages = [{"name": "adam", "lr": 1e-3, "steps": adam}, {"name": "lbfgs", "steps": steps - finish - adam}]
    if finish:
        stages.append({"name": "bfgs", "update": "ssbroyden", "dtype": "float64", "steps": finish})
    return dict(model=convection.settings["model"], optimizer=dict(name="chain", stages=stages))


WEIGHTING = {"causal_weighting": dict(name="causal", max_steps_per_eps=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=("pinnlab", "paper"), default="pinnlab")
    parser.add_argument("--steps", type=int, default=5000, help="steps per method (default 5000)")
    parser.add_argument("--methods", default=None,
                        help="comma-separated (default fixed,resample,rad,r3,causal_r3, plus causal_r3_fast "
                             "for the paper recipe); also causal_weighting")
    parser.add_argument("--finish", type=int, default=0,
                        help="pinnlab recipe: the last N steps are a float64 self-scaled Broyden stage")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    specs = method_specs(args.recipe, args.steps)
    recipe = recipe_settings(args.recipe, args.steps, args.finish)
    methods = args.methods or ("fixed,resample,rad,r3,causal_r3" + (",causal_r3_fast" if args.recipe == "paper"
                                                                     else ""))
    print(f"convection, recipe {args.recipe}, {args.steps} steps, seed {args.seed}, 1 thread", flush=True)
    rows = []
    print(f"{'method':>15} {'L2RE':>10} {'wall s':>8} {'steps/s':>8}  extra", flush=True)
    for name in methods.split(","):
        res = solve(convection.problem, sampler=specs[name], weighting=WEIGHTING.get(name, "fixed"),
                    steps=args.steps, seed=args.seed, device="cpu", progress=False, report=False,
                    log_every=max(args.steps // 10, 1), **recipe)
        last = res.history[-1]
        extra = {k: round(float(v), 4) for k, v in last.items() if k in ("causal_beta", "r3_retained", "causal_eps")}
        row = dict(method=name, recipe=args.recipe, l2re=res.metrics["l2re"], wall_s=res.metrics["wall_seconds"],
                   steps_per_s=res.metrics["steps_per_second"], steps=args.steps, **extra)
        rows.append(row)
        print(f"{name:>15} {row['l2re']:>10.3e} {row['wall_s']:>8.1f} {row['steps_per_s']:>8.1f}  {extra}",
              flush=True)
    print(json.dumps({"benchmark": "samplers_convection", "rows": rows}))


if __name__ == "__main__":
    main()
