"""Burgers 1d training speed: pinnlab (jet and autograd engines) against DeepXDE 1.15.

    python benchmarks/speed.py --case small|pinnacle [--steps N] [--repeats R]

Each measurement runs in a fresh subprocess (so peak memory is per run), and the
libraries alternate: pinnlab, DeepXDE, pinnlab, ... Same network (tanh MLP),
point counts, dtype (float32), optimizer (Adam, lr 1e-3). Printed: median
steps/s of each, their ratio, peak resident memory (whole process, and above the
post-import baseline), and the jet engine's achieved GFLOP/s against this
machine's float32 matmul rate (measured in each pinnlab run right after its timed steps,
so that both figures see the same load on this shared machine). pinnlab's rate is its steady rate (the steps after
the first, which pays compilation); the first step's seconds are printed too, as
DeepXDE's warm-up iterations are left out of its timing. The last line is one
JSON object.

Variants (``--variants``): ``jet`` (eager), ``jet+compile`` (the one-graph compiled step),
each with pinnlab's fused MLP jet kernel where it applies (tanh, float32, width <= 64: the
small case), ``jet+compile+tensorops`` (kernel off, to show its share), ``autograd`` (the
general engine) and ``deepxde``. The FLOP count is the tensor-operation path's (the kernel
does the same products).

DeepXDE is an optional extra: ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "small": dict(width=20, depth=3, n_interior=2540, n_boundary=80, n_initial=160, steps=1000),
    "pinnacle": dict(width=100, depth=5, n_interior=8192, n_boundary=2048, n_initial=2048, steps=30),
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def burgers_problem():
    import sympy as sp
    from pinnlab import Dirichlet, Initial, Interval, Problem, TimeInterval
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    domain = Interval(-1, 1) * TimeInterval(0, 1)
    return Problem([sp.Eq(u.diff(t) + u * u.diff(x), 0.01 / sp.pi * u.diff(x, 2))],
                   [Initial(u, -sp.sin(sp.pi * x)), Dirichlet(u, 0)], domain=domain, name="burgers1d")


def run_pinnlab(case: dict, steps: int, engine: str, compile_: bool, kernel: bool = True) -> dict:
    from pinnlab import MLP, solve
    problem = burgers_problem()
    base = rss_mb()
    sampler = dict(name="uniform", n_interior=case["n_interior"], n_boundary=case["n_boundary"],
                   n_initial=case["n_initial"])
    warm = 3 if not compile_ else 5
    kw = dict(model=MLP(width=case["width"], depth=case["depth"], kernel=kernel), sampler=sampler, engine=engine,
              optimizer=dict(name="adam", lr=1e-3), progress=False, report=False, log_every=10 ** 9,
              compile=compile_, device="cpu")
    solve(problem, steps=warm, **kw)  # warm-up (and compilation)
    res = solve(problem, steps=steps, **kw)
    # steady rate: the steps after the first, which pays compilation (DeepXDE's
    # warm-up iterations are likewise left out of its timing)
    from pinnlab.models import mlp_kernel
    return {"steps_per_s": res.metrics["steady_steps_per_second"], "peak_rss_mb": rss_mb(),
            "base_rss_mb": base, "first_step_s": res.metrics["first_step_seconds"],
            "compiled": res.metrics["compiled"], "matmul_gflops": matmul_gflops(),
            "kernel": kernel and engine == "jet" and mlp_kernel.library() is not None}


def run_deepxde(case: dict, steps: int) -> dict:
    os.environ["DDE_BACKEND"] = "pytorch"
    import numpy as np
    import deepxde as dde
    import torch
    base = rss_mb()
    geom = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 1))

    def pde(x, y):
        dy_x = dde.grad.jacobian(y, x, i=0, j=0)
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        return dy_t + y * dy_x - 0.01 / np.pi * dy_xx

    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geom, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(geom, pde, [bc, ic], num_domain=case["n_interior"],
                            num_boundary=case["n_boundary"], num_initial=case["n_initial"])
    net = dde.nn.FNN([2] + [case["width"]] * case["depth"] + [1], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3)
    model.train(iterations=3, display_every=10 ** 9, verbose=0)
    t0 = time.perf_counter()
    model.train(iterations=steps, display_every=10 ** 9, verbose=0)
    rate = steps / (time.perf_counter() - t0)
    del torch
    return {"steps_per_s": rate, "peak_rss_mb": rss_mb(), "base_rss_mb": base}


def matmul_gflops() -> float:
    import torch
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * 2048 ** 3 / statistics.median(times) / 1e9


def jet_flops_per_step(case: dict) -> float:
    """FLOPs of one training step (forward + backward) of the jet engine.

    Counted on the tensor-operation path (``kernel=False``): the fused kernel does the same
    matrix products, which torch's counter cannot see inside it."""
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from pinnlab.engines import make_engine
    from pinnlab.loss import ParameterSet, evaluate_losses
    from pinnlab.models import MLP, ModelContext
    from pinnlab.samplers import Sampler
    from pinnlab.weighting import FixedWeights
    cp = burgers_problem().compile()
    net = MLP(case["width"], case["depth"], kernel=False).build(ModelContext(2, 1, np.array([-1.0, 0]), np.array([1.0, 1])))
    smp = Sampler(n_interior=case["n_interior"], n_boundary=case["n_boundary"], n_initial=case["n_initial"])
    smp.setup(cp, np.random.default_rng(0))
    wgt = FixedWeights()
    wgt.setup(cp)
    params = ParameterSet({}, "cpu", torch.float32)
    with FlopCounterMode(display=False) as counter:
        ev = evaluate_losses(cp, net, make_engine("jet", net), smp.batches(0), params, wgt, 0)
        ev.total.backward()
    return float(counter.get_total_flops())


def worker(args) -> None:
    case = CASES[args.case]
    if args.worker == "deepxde":
        out = run_deepxde(case, args.steps)
    else:
        engine, *flags = args.worker.split("+")
        out = run_pinnlab(case, args.steps, engine, "compile" in flags, kernel="tensorops" not in flags)
    print(json.dumps(out))


def measure(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--case", args.case, "--steps", str(args.steps), "--worker", name]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=sorted(CASES), default="small")
    p.add_argument("--steps", type=int)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--variants", default="jet,jet+compile,jet+compile+tensorops,autograd,deepxde",
                   help="comma-separated: ENGINE[+compile][+tensorops] or deepxde; +tensorops turns "
                        "the fused MLP jet kernel off (MLP(kernel=False))")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.steps = args.steps or CASES[args.case]["steps"]
    if args.worker:
        return worker(args)
    variants = args.variants.split(",")
    runs: dict[str, list] = {v: [] for v in variants}
    for r in range(args.repeats):
        for v in variants:
            runs[v].append(measure(v, args))
            print(f"repeat {r + 1}/{args.repeats} {v}: {runs[v][-1]}", file=sys.stderr)
    summary = {}
    print(f"\nBurgers 1d, case {args.case}: {CASES[args.case]}, {args.steps} Adam steps x {args.repeats} runs")
    print(f"{'variant':<24}{'median it/s':>12}{'peak RSS MB':>13}{'above imports MB':>18}{'first step s':>14}")
    for v, rows in runs.items():
        good = [r for r in rows if "error" not in r]
        if not good:
            print(f"{v:<24}  unavailable: {rows[0]['error']}")
            continue
        med = statistics.median(r["steps_per_s"] for r in good)
        peak = statistics.median(r["peak_rss_mb"] for r in good)
        extra = statistics.median(r["peak_rss_mb"] - r["base_rss_mb"] for r in good)
        first = statistics.median(r.get("first_step_s", float("nan")) for r in good)
        summary[v] = {"steps_per_s": med, "peak_rss_mb": peak, "train_rss_mb": extra}
        rates = sorted(r["steps_per_s"] for r in good)
        print(f"{v:<24}{med:>12.2f}{peak:>13.0f}{extra:>18.0f}{first:>14.2f}   "
              f"(runs {rates[0]:.2f}-{rates[-1]:.2f})")
    best = max((k for k in summary if k != "deepxde"), key=lambda k: summary[k]["steps_per_s"], default=None)
    flops = jet_flops_per_step(CASES[args.case])
    peak_rate = matmul_gflops()
    out = {"case": args.case, "steps": args.steps, "repeats": args.repeats, "best_variant": best,
           "pinnlab_steps_per_s": summary.get(best, {}).get("steps_per_s"),
           "deepxde_steps_per_s": summary.get("deepxde", {}).get("steps_per_s"),
           "general_engine_steps_per_s": summary.get("autograd", {}).get("steps_per_s"),
           "jet_gflop_per_step": flops / 1e9, "matmul_gflops": peak_rate}
    if out["pinnlab_steps_per_s"] and out["deepxde_steps_per_s"]:
        out["ratio"] = out["pinnlab_steps_per_s"] / out["deepxde_steps_per_s"]
        # each repeat's pinnlab and DeepXDE runs are neighbours in time: their ratio is less
        # exposed to this shared machine's drift (20-40% within minutes) than the medians' ratio
        pairs = [a["steps_per_s"] / b["steps_per_s"] for a, b in zip(runs[best], runs["deepxde"])
                 if "error" not in a and "error" not in b]
        out["paired_ratios"] = [round(r, 3) for r in pairs]
        out["paired_ratio_median"] = statistics.median(pairs)
        print(f"ratio {best} / deepxde: {out['ratio']:.2f} (medians); per repeat "
              f"{', '.join(f'{r:.2f}' for r in pairs)}, median {out['paired_ratio_median']:.2f}")
    jets = [k for k in summary if k.startswith("jet")]
    if jets:
        fastest_jet = max(jets, key=lambda k: summary[k]["steps_per_s"])
        out["jet_gflops_achieved"] = flops / 1e9 * summary[fastest_jet]["steps_per_s"]
        out["fraction_of_matmul_rate"] = out["jet_gflops_achieved"] / peak_rate
        # the same fraction per run, against the matmul rate measured in that run's process
        # just after its steps: the machine's load drifts by up to 2x within minutes
        per_run = [flops / 1e9 * r["steps_per_s"] / r["matmul_gflops"] for r in runs[fastest_jet]
                   if "error" not in r and r.get("matmul_gflops")]
        if per_run:
            out["fraction_of_matmul_rate_paired"] = statistics.median(per_run)
            out["matmul_gflops_in_runs"] = [round(r["matmul_gflops"], 1) for r in runs[fastest_jet]
                                            if "error" not in r]
    if best:
        out["pinnlab_train_rss_mb"] = summary[best]["train_rss_mb"]
    if "deepxde" in summary:
        out["deepxde_train_rss_mb"] = summary["deepxde"]["train_rss_mb"]
    print(f"jet engine: {flops / 1e9:.3f} GFLOP/step; machine float32 matmul: {peak_rate:.1f} GFLOP/s")
    if "jet_gflops_achieved" in out:
        paired = out.get("fraction_of_matmul_rate_paired")
        print(f"jet engine achieves {out['jet_gflops_achieved']:.1f} GFLOP/s = "
              f"{100 * out['fraction_of_matmul_rate']:.0f}% of the rate above"
              + (f"; {100 * paired:.0f}% (median per run) of the rate measured in each run "
                 f"({', '.join(map(str, out['matmul_gflops_in_runs']))} GFLOP/s)" if paired else ""))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
