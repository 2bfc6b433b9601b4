"""Accuracy table: each problem script solved with its recorded settings.

    python benchmarks/accuracy.py [--problems burgers1d,wave1d,...] [--scale 1.0] [--out runs/accuracy]

Prints, per problem: pinnlab's L2RE, the target, PINNacle's best published figure and
its plain-PINN figure (from ../shared/reference/pinnacle_published_l2re.csv), wall time
and steps. ``--scale`` multiplies every step budget (e.g. 0.1 for a quick look). The
last line is one JSON object with every row.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "problems"))

#: problem script -> (PINNacle row name or None, target L2RE from the issues)
PROBLEMS = {
    "burgers1d": ("Burgers 1d-C", 1e-3),
    "burgers1d_precise": ("Burgers 1d-C", 1e-4),
    "poisson2d_c": ("Poisson 2d-C", 1e-2),
    "wave1d": ("Wave 1d-C", 1e-2),
    "ns2d_cavity": ("NS 2d-C", 1e-2),
    "pnd": ("High dim PNd", 1e-4),
    "pinv": ("Inverse PInv", None),
    "convection": (None, 1e-2),
    "allen_cahn": (None, 1e-3),
    "helmholtz2d": (None, 1e-4),
}


def published() -> dict:
    from pinnlab.reference import reference_dir
    try:
        path = reference_dir() / "pinnacle_published_l2re.csv"
        rows = list(csv.DictReader(path.open()))
    except Exception as exc:  # reference folder absent: print without published figures
        print(f"(published PINNacle figures unavailable: {exc})", file=sys.stderr)
        return {}
    out = {}
    for row in rows:
        vals = {k: float(v) for k, v in row.items() if k != "problem" and v}
        out[row["problem"]] = {"best": min(vals.values()) if vals else math.nan,
                               "best_method": min(vals, key=vals.get) if vals else "",
                               "pinn": vals.get("PINN", math.nan)}
    return out


def scaled(settings: dict, scale: float) -> dict:
    out = dict(settings)
    opt = out.get("optimizer")
    if isinstance(opt, dict):
        opt = dict(opt)
        for key in ("adam_steps", "lbfgs_steps", "bfgs_steps"):
            if key in opt:
                opt[key] = max(1, int(opt[key] * scale))
        if isinstance(opt.get("steps"), list):
            opt["steps"] = [max(1, int(s * scale)) for s in opt["steps"]]
        if isinstance(opt.get("stages"), list):
            opt["stages"] = [dict(st, steps=max(1, int(st["steps"] * scale))) if "steps" in st else st
                             for st in opt["stages"]]
        out["optimizer"] = opt
    if "steps" in out:
        out["steps"] = max(1, int(out["steps"] * scale))
    return out


def main() -> None:
    from pinnlab import solve
    from pinnlab.cli import load_problem_script
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", default=",".join(PROBLEMS))
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--out", default="runs/accuracy")
    args = p.parse_args()
    pub = published()
    rows = []
    for name in args.problems.split(","):
        script = ROOT / "problems" / f"{name}.py"
        if not script.exists():
            print(f"skip {name}: {script} not found", file=sys.stderr)
            continue
        problem, settings = load_problem_script(script)
        res = solve(problem, out=Path(args.out) / name, progress=False, **scaled(settings, args.scale))
        key, target = PROBLEMS.get(name, (None, None))
        ref = pub.get(key, {})
        rows.append({"problem": name, "l2re": res.metrics.get("l2re"), "target": target,
                     "pinnacle_best": ref.get("best"), "pinnacle_best_method": ref.get("best_method"),
                     "pinnacle_pinn": ref.get("pinn"), "wall_s": res.metrics["wall_seconds"],
                     "steps": res.metrics["steps"], "l2re_fields": res.metrics.get("l2re_fields")})
        r = rows[-1]
        print(f"{name}: L2RE {r['l2re']:.3e} in {r['wall_s']:.0f} s ({r['steps']} steps)", file=sys.stderr)
    fmt = lambda v: "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2e}"  # noqa: E731
    print(f"\n{'problem':<20}{'L2RE':>10}{'target':>10}{'PINNacle best':>15}{'plain PINN':>12}{'wall s':>9}{'steps':>8}")
    for r in rows:
        print(f"{r['problem']:<20}{fmt(r['l2re']):>10}{fmt(r['target']):>10}{fmt(r['pinnacle_best']):>15}"
              f"{fmt(r['pinnacle_pinn']):>12}{r['wall_s']:>9.0f}{r['steps']:>8}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
