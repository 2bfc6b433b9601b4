"""Every problem script loads and trains a few steps with its recorded settings (shrunk)."""

from pathlib import Path

import numpy as np
import pytest

from pinnlab import solve
from pinnlab.cli import load_problem_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "problems").glob("*.py") if not p.name.startswith("_"))


def shrunk(settings: dict) -> dict:
    """The recorded settings with tiny point counts and two steps per optimizer stage."""
    out = dict(settings)
    smp = out.get("sampler")
    if isinstance(smp, dict):
        out["sampler"] = {k: (min(v, 64) if k.startswith("n_") and isinstance(v, int) else v)
                          for k, v in smp.items()}
    opt = out.get("optimizer")
    if isinstance(opt, dict):
        opt = dict(opt)
        for key in ("adam_steps", "lbfgs_steps", "bfgs_steps"):
            if key in opt:
                opt[key] = 2
        if isinstance(opt.get("stages"), list):
            opt["stages"] = [dict(st, steps=2) for st in opt["stages"]]
        out["optimizer"] = opt
    out["steps"] = None if isinstance(opt, dict) and ("stages" in opt or "adam_steps" in opt) else 3
    for key in ("log_every", "eval_every"):
        out.pop(key, None)
    return out


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_problem_script_runs_with_its_recorded_settings(script, tmp_path):
    problem, settings = load_problem_script(script)
    res = solve(problem, progress=False, report=False, device="cpu", **shrunk(settings))
    assert np.isfinite(res.metrics["final_loss"])
    if problem.reference is not None or "l2re" in res.metrics:
        assert np.isfinite(res.metrics["l2re"])
