"""Studies as a new user runs them: mistakes in study files and storage URLs, a lost worker's
reason on a native-heartbeat storage, a study started again once done, export's output name,
inverse problems' learned parameters and two-objective summaries."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState  # noqa: E402

from pinnlab.errors import ConfigError  # noqa: E402
from pinnlab.study import StudyOptions, fail_stale_trials, load_study_file, run_study, worker_loop  # noqa: E402
from pinnlab.study.runner import setup_study  # noqa: E402
from pinnlab.study.storage import WORKER_ATTR, open_storage  # noqa: E402

# a tiny inverse problem: -k u'' = (pi^2 / 2) sin(pi x) on [0, 1], u = sin(pi x), k = 0.5
INVERSE = '''
import numpy as np
import sympy as sp
from pinnlab import Data, Dirichlet, Interval, Problem

x, k = sp.symbols("x k")
u = sp.Function("u")(x)
xs = np.linspace(0, 1, 16)[:, None]
problem = Problem(equations=[sp.Eq(-k * u.diff(x, 2), 0.5 * sp.pi**2 * sp.sin(sp.pi * x))],
                  conditions=[Dirichlet(u, 0), Data(u, xs, np.sin(np.pi * xs[:, 0]))],
                  domain=Interval(0, 1), parameters={k: 1.0}, parameter_reference={k: 0.5},
                  reference={u: sp.sin(sp.pi * x)}, name="inverse_tiny")
settings = {"model": {"name": "mlp", "width": 6, "depth": 2},
            "sampler": {"name": "uniform", "n_interior": 32}, "steps": 10, "checkpoint_every": 0}
'''

SPACE = '''
def space(trial):
    return {"optimizer": {"name": "adam", "lr": trial.suggest_float("lr", 1e-3, 1e-2, log=True)}}
'''


def write_study(tmp_path: Path, body: str, name: str = "tiny") -> Path:
    """``problem.py`` (the inverse problem) and ``NAME.py``: a study file of it with ``body``."""
    (tmp_path / "problem.py").write_text(INVERSE)
    path = tmp_path / f"{name}.py"
    path.write_text('problem_script = "problem.py"\npruner = "none"\nreport_every = 5\n' + body)
    return path


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# ------------------------------------------------------------------ study files

def test_mistakes_in_a_study_file_name_the_file_and_line(tmp_path):
    path = write_study(tmp_path, "x = 1\ny = x / 0\n" + SPACE)
    with pytest.raises(ConfigError, match=rf"study file {path}, line 5: ZeroDivisionError: division by zero"):
        load_study_file(path)
    path = write_study(tmp_path, "def space(trial)\n    return {}\n")
    with pytest.raises(ConfigError, match=rf"study file {path}, line 4: syntax error"):
        load_study_file(path)


def test_near_misses_and_bad_values_of_study_settings_are_refused(tmp_path):
    # 'objective' (a custom objective, or the singular) was ignored: the study ran on the error
    path = write_study(tmp_path, 'objective = "time"\n' + SPACE)
    with pytest.raises(ConfigError, match="'objective' is not a study setting .*did you mean 'objectives'"):
        load_study_file(path)
    path = write_study(tmp_path, 'prunner = "hyperband"\n' + SPACE)
    with pytest.raises(ConfigError, match="'prunner' is not a study setting .*did you mean 'pruner'"):
        load_study_file(path)
    # one objective as a string was split into letters ('e', 'r', 'r', 'o', 'r')
    assert load_study_file(write_study(tmp_path, 'objectives = "error"\n' + SPACE)).objectives == ("error",)
    for body, message in [("report_every = 0\n", "report_every must be >= 1, got 0"),
                          ("report_every = 2.5\n", "report_every must be an integer, got 2.5"),
                          ("validation_points = -3\n", "validation_points must be >= 1, got -3"),
                          ('base = [("steps", 5)]\n', "base must be a dict of solve settings, got list")]:
        path = write_study(tmp_path, body + SPACE)
        with pytest.raises(ConfigError, match=rf"study file {path}: {message}"):
            load_study_file(path)
    assert load_study_file(write_study(tmp_path, "report_every = 1e1\nhelper = 3\n" + SPACE)).report_every == 10


def test_a_strategy_mistake_in_space_names_the_study_file(tmp_path):
    path = write_study(tmp_path, '''
def space(trial):
    return {"sampler": {"name": trial.suggest_categorical("s", ["unifrom"])}}
''')
    opts = StudyOptions(study_file=str(path), trials=1, out=str(tmp_path / "out"), quiet=True)
    with pytest.raises(ConfigError, match=rf"unknown sampler 'unifrom' .*\(in the study file {path}\)"):
        setup_study(opts)


# ------------------------------------------------------------------ storages

def test_unusable_storages_get_a_config_error_naming_them(tmp_path):
    with pytest.raises(ConfigError, match="storage journal:: a journal storage needs the path of a file"):
        open_storage("journal:")
    with pytest.raises(ConfigError, match="a journal storage needs the path of a file"):
        open_storage(f"journal:{tmp_path}")         # a folder
    pytest.importorskip("psycopg2")
    url = "postgresql://me:secret@127.0.0.1:1/db"    # nothing listens on port 1
    with pytest.raises(ConfigError, match=r"storage postgresql://me:\*\*\*@127.0.0.1:1/db: cannot open "
                                          r"the database \(.*refused.*\); is the server running") as info:
        open_storage(url)
    assert "secret" not in str(info.value)


def test_a_missing_study_name_lists_the_studies_there(tmp_path):
    from pinnlab.study.cli import main
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="poisson", storage=open_storage(url, None))
    with pytest.raises(ConfigError, match=r"no study named 'poison' in .*; the studies there: poisson "
                                          r"\(did you mean 'poisson'\?\)"):
        from pinnlab.study import best_trial
        best_trial(url, "poison")
    # export: a name whose suffix is neither .py nor .json is refused before anything is read
    assert main(["export", "--storage", url, "--study-name", "poisson", "--out", str(tmp_path / "best.txt")]) == 2
    assert not (tmp_path / "best.txt").exists()


# ------------------------------------------------------------------ a lost worker, a finished study

@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_failed_by_the_native_heartbeat_keeps_its_reason(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    opts = StudyOptions(study_file=str(write_study(tmp_path, SPACE)), trials=1, storage=url,
                        study_name="hb", out=str(tmp_path / "out"), heartbeat_interval=1,
                        grace_period=1, quiet=True)
    spec, opts, study = setup_study(opts)
    ghost = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)})
    study._storage.set_trial_system_attr(ghost._trial_id, WORKER_ATTR, "elsewhere:7")
    study._storage.record_heartbeat(ghost._trial_id)
    time.sleep(2.2)
    worker_loop(opts, "cpu", spec=spec)                  # fails the ghost, re-runs it
    trials = {t.number: t for t in optuna.load_study(study_name="hb", storage=open_storage(url, None)).trials}
    assert trials[ghost.number].state == TrialState.FAIL
    assert trials[ghost.number].user_attrs["fail_reason"] == (
        "lost: no heartbeat from worker elsewhere:7 for over 1 s (killed, or its machine was lost)")
    retry = [t for t in trials.values() if t.user_attrs.get("retry_of") == ghost.number]
    assert retry and retry[0].state == TrialState.COMPLETE and "fail_reason" not in retry[0].user_attrs
    assert fail_stale_trials(study, 1) == []             # nothing left to fail


def test_a_study_started_again_once_done_starts_no_worker(tmp_path, monkeypatch, capsys):
    from pinnlab.study import runner
    path = write_study(tmp_path, SPACE)
    opts = StudyOptions(study_file=str(path), trials=1, study_name="again", out=str(tmp_path / "out"))
    spec, resolved, study = setup_study(opts)
    worker_loop(resolved, "cpu", spec=spec)
    monkeypatch.setattr(runner, "_spawn", lambda *a, **k: pytest.fail("a worker was started"))
    summary = run_study(opts)
    assert summary["counts"] == {"complete": 1} and summary["best_trial"] == 0
    assert "already has 1 complete or pruned trials" in capsys.readouterr().out


# ------------------------------------------------------------------ what a trial records

def test_inverse_trials_record_learned_parameters_and_two_objectives_a_pareto_front(tmp_path):
    import json

    from pinnlab.study.runner import format_summary, summarize
    path = write_study(tmp_path, 'objectives = ("error", "time")\n' + SPACE)
    opts = StudyOptions(study_file=str(path), trials=2, study_name="inv", out=str(tmp_path / "out"),
                        quiet=True, seed=0)
    spec, opts, study = setup_study(opts)
    worker_loop(opts, "cpu", spec=spec)
    for t in study.get_trials(deepcopy=False):
        k = t.user_attrs["parameters"]["k"]
        assert t.user_attrs["parameter_errors"]["k"] == pytest.approx(abs(k - 0.5) / 0.5, rel=1e-5)
        meta = json.loads((Path(t.user_attrs["run_dir"]) / "trial.json").read_text())
        assert meta["parameters"] == t.user_attrs["parameters"]
        # a trial's run records the problem script, so `pinnlab report TRIAL_DIR` needs no --problem
        recorded = (Path(t.user_attrs["run_dir"]) / "problem_script.txt").read_text().strip()
        assert recorded == str((tmp_path / "problem.py").resolve())
    summary = summarize(study, opts, 1.0)
    values = {t.number: t.values for t in study.trials}
    front = [n for n, v in values.items()
             if not any(all(a <= b for a, b in zip(w, v)) and w != v for w in values.values())]
    assert [n for n, _ in summary["pareto"]] == sorted(front, key=lambda n: values[n])
    assert "Pareto front" in format_summary(summary)
    # the study report shows both objectives and the front, and links trial run directories
    import re

    from pinnlab.report import study_report
    page = study_report(opts.storage, "inv", tmp_path / "report").read_text()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", page, flags=re.S)))
    assert "objectives error, time" in text and f"Pareto front ({len(front)} trials" in text
    assert "(missing)" not in text and "run directory (no report: pinnlab report RUN_DIR)" in text


def test_custom_objectives_and_the_learned_parameters_objective(tmp_path):
    """An inverse study can minimize the learned parameters' error, or any function of the
    Result; such studies are not pruned on the L2RE (it is not their objective)."""
    body = ('def k_gap(result):\n    return abs(result.parameters["k"] - 0.5)\n\n'
            'objectives = ("parameter_error", k_gap)\n' + SPACE)
    path = write_study(tmp_path, body)
    opts = StudyOptions(study_file=str(path), trials=2, study_name="obj", out=str(tmp_path / "out"),
                        quiet=True, seed=0)
    spec, opts, study = setup_study(opts)
    assert spec.objective_names == ["parameter_error", "k_gap"] and not spec.prunes
    worker_loop(opts, "cpu", spec=spec)
    assert study.user_attrs["objectives"] == ["parameter_error", "k_gap"]
    for t in study.get_trials(deepcopy=False):
        k = t.user_attrs["parameters"]["k"]
        assert t.values == pytest.approx([abs(k - 0.5) / 0.5, abs(k - 0.5)], rel=1e-6)
    # 'parameter_error' needs the true values; an objective must return a number
    (tmp_path / "problem.py").write_text(INVERSE.replace("parameter_reference={k: 0.5},", ""))
    with pytest.raises(ConfigError, match="'parameter_error' needs the problem's parameter_reference"):
        load_study_file(path)
    (tmp_path / "problem.py").write_text(INVERSE)
    path.write_text(path.read_text().replace('abs(result.parameters["k"] - 0.5)', '"small"'))
    opts = StudyOptions(study_file=str(path), trials=1, study_name="bad", out=str(tmp_path / "bad"),
                        quiet=True, seed=0, max_failures=1)
    spec, opts, study = setup_study(opts)
    from pinnlab.study.runner import StudyStopped
    with pytest.raises(StudyStopped):
        worker_loop(opts, "cpu", spec=spec)
    (failed,) = study.get_trials(deepcopy=False)
    assert failed.state == TrialState.FAIL and "objective k_gap" in failed.user_attrs["fail_reason"] \
        and "returned 'small', not a number" in failed.user_attrs["fail_reason"]
