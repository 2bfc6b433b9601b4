"""``pinnlab study export``: the best trial of a study as a runnable problem script or a config JSON."""

from __future__ import annotations

import json
import pprint
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..runs import atomic_write_bytes
from .storage import load_existing_study


def best_trial(storage_url: str, study_name: str) -> tuple[Any, Any]:
    """``(study, trial)``: the completed trial with the lowest (first) objective."""
    import optuna
    from optuna.trial import TrialState
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_existing_study(storage_url, study_name)
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    if not done:
        raise ConfigError(f"study {study_name!r} has no completed trial yet")
    minimize = study.directions[0] == optuna.study.StudyDirection.MINIMIZE
    best = (min if minimize else max)(done, key=lambda t: t.values[0])
    return study, best


def export_best(storage_url: str, study_name: str, out: str | Path, fmt: str = "py") -> Path:
    """Write the best trial as a problem script (``fmt="py"``) or a config JSON (``"json"``)."""
    study, best = best_trial(storage_url, study_name)
    settings = best.user_attrs.get("settings")
    script = best.user_attrs.get("problem_script") or study.user_attrs.get("problem_script")
    if settings is None or script is None:
        raise ConfigError(f"trial {best.number} records no settings; was it run by pinnlab study?")
    settings = {k: v for k, v in settings.items() if k != "device"}   # a machine's choice: auto again
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {"study": study_name, "trial": best.number, "values": list(best.values),
            "params": dict(best.params), "run_dir": best.user_attrs.get("run_dir"),
            "problem_script": script}
    if fmt == "json":
        atomic_write_bytes(out, (json.dumps({**info, "settings": settings}, indent=2) + "\n").encode())
        return out
    if fmt != "py":
        raise ConfigError(f"--format must be py or json, got {fmt!r}")
    values = ", ".join(f"{v:.6g}" for v in best.values)
    text = f'''"""Best trial #{best.number} of study {study_name!r} (objective {values}).

Exported by ``pinnlab study export``; trial run directory: {info["run_dir"]}
Run: ``python {out.name}`` or ``pinnlab solve {out.name}``.
"""

from pinnlab.cli import load_problem_script, run_script

problem, _ = load_problem_script({script!r})

settings = {pprint.pformat(settings, sort_dicts=False, width=96)}

if __name__ == "__main__":
    raise SystemExit(run_script(problem, settings))
'''
    atomic_write_bytes(out, text.encode())
    return out
