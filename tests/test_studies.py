"""Studies: multi-process sweeps on SQLite and journal storages, kill -9, heartbeat, pruning, export."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState  # noqa: E402

from pinnlab.cli import load_problem_script  # noqa: E402
from pinnlab.study import StudyOptions, export_best, load_study_file, run_study, worker_loop  # noqa: E402
from pinnlab.study.runner import setup_study  # noqa: E402
from pinnlab.study.storage import WORKER_ATTR, open_storage  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BURGERS = ROOT / "problems" / "burgers1d.py"

STUDY = '''
problem_script = {script!r}
base = {{"steps": {steps}, "checkpoint_every": 0, "log_every": 10,
        "model": {{"name": "mlp", "width": 6, "depth": 2}},
        "sampler": {{"name": "uniform", "n_interior": 96, "n_boundary": 16, "n_initial": 16}}}}
pruner = {pruner}
report_every = {every}
objectives = {objectives!r}

def space(trial):
    return {{"optimizer": {{"name": "adam", "lr": trial.suggest_float("lr", 1e-3, 1e-2, log=True)}},
            "model": {{"width": trial.suggest_int("width", 4, 8, step=2)}}}}
'''


def study_file(tmp_path: Path, steps=20, pruner='"none"', every=10, objectives=("error",),
               script=BURGERS) -> Path:
    path = tmp_path / "tiny_study.py"
    path.write_text(STUDY.format(script=str(script), steps=steps, pruner=pruner, every=every,
                                 objectives=tuple(objectives)))
    return path


def storage_url(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}" if kind == "sqlite" else f"journal:{tmp_path / 'study.journal'}"


def load(url: str, name: str):
    return optuna.load_study(study_name=name, storage=open_storage(url, None))


def by_state(study) -> dict:
    out: dict = {}
    for t in study.get_trials(deepcopy=False):
        out.setdefault(t.state, []).append(t)
    return out


# ------------------------------------------------------------------ real processes, kill -9

@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_worker_study_survives_kill9(tmp_path, kind):
    url = storage_url(kind, tmp_path)
    # trials long enough (about 2-4 s) that the poll below catches the third one running on a loaded
    # machine (at 200 steps one CI run saw it start and finish between polls; at 400, once the fused
    # MLP jet kernel made steps twice as fast, another)
    opts = StudyOptions(study_file=str(study_file(tmp_path, steps=1000, every=100)), trials=3, workers=2,
                        storage=url, study_name="kill", out=str(tmp_path / "out"), threads=1,
                        heartbeat_interval=1, grace_period=3, seed=0, quiet=True)
    summary: dict = {}
    runner = threading.Thread(target=lambda: summary.update(run_study(opts)))
    runner.start()
    killed = None
    deadline = time.time() + 90
    while killed is None and time.time() < deadline and runner.is_alive():
        try:
            study = load(url, "kill")
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if not done:
                running = []    # kill once a trial is finished: it must not be lost
            else:               # and only a trial that started after it (it cannot finish first)
                first = min(t.datetime_complete for t in done)
                running = [t for t in running if t.datetime_start is not None and t.datetime_start > first]
        except Exception:       # storage not created yet
            running = []
        for t in running:
            worker = t.system_attrs.get(WORKER_ATTR)
            run_dir = t.user_attrs.get("run_dir")
            history = Path(run_dir) / "history.jsonl" if run_dir else None
            # in its first half (50 of 100 rows): a trial about to finish could complete before the
            # signal lands, and then rightly stay complete
            if worker and history is not None and history.exists() and \
                    len(history.read_text().splitlines()) < 50:
                host, pid = worker.rsplit(":", 1)
                assert host == socket.gethostname()
                os.kill(int(pid), signal.SIGKILL)         # mid-trial
                killed = t.number
                break
        time.sleep(0.05)
    runner.join(timeout=150)
    assert not runner.is_alive(), "the study did not finish after a worker was killed"
    assert killed is not None, "no trial was caught running"
    study = load(url, "kill")
    states = by_state(study)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert trials[killed].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed]
    assert retries and retries[0].params == trials[killed].params      # re-queued with its parameters
    complete = states.get(TrialState.COMPLETE, [])
    assert len(complete) >= 3 and summary["counts"]["complete"] == len(complete)
    for t in complete:                                                 # every finished trial kept
        run_dir = Path(t.user_attrs["run_dir"])
        assert run_dir.parent == tmp_path / "out" / "trials"
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["l2re"] == pytest.approx(t.value)
        assert (run_dir / "config.json").exists() and (run_dir / "checkpoint.pt").exists()
    workers = {t.system_attrs.get(WORKER_ATTR) for t in study.get_trials(deepcopy=False)}
    assert len(workers - {None}) >= 2                                  # two processes took trials


# ------------------------------------------------------------------ heartbeat (a dead worker elsewhere)

@pytest.mark.filterwarnings("ignore:Heartbeat of storage")     # study.ask on a heartbeat storage
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_stale_trial_failed_by_heartbeat_and_retried(tmp_path, kind):
    url = storage_url(kind, tmp_path)
    opts = StudyOptions(study_file=str(study_file(tmp_path)), trials=1, storage=url, study_name="hb",
                        out=str(tmp_path / "out"), heartbeat_interval=1, grace_period=1, quiet=True)
    spec, opts, study = setup_study(opts)
    # a worker on another machine took a trial, beat once, and vanished
    ghost = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)})
    storage = study._storage
    storage.set_trial_system_attr(ghost._trial_id, WORKER_ATTR, "elsewhere:1")
    if kind == "sqlite":
        storage.record_heartbeat(ghost._trial_id)
    else:
        storage.set_trial_system_attr(ghost._trial_id, "pinnlab:heartbeat", time.time())
    time.sleep(2.2)
    worker_loop(opts, "cpu", spec=spec)
    study = load(url, "hb")
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert trials[ghost.number].state == TrialState.FAIL
    retry = [t for t in trials.values() if t.system_attrs.get("failed_trial") == ghost.number]
    assert retry and retry[0].state == TrialState.COMPLETE
    assert retry[0].params["lr"] == pytest.approx(ghost.params["lr"])
    assert retry[0].user_attrs["retry_of"] == ghost.number
    assert [t.state for t in trials.values()].count(TrialState.COMPLETE) == 1   # the retry was the trial

    # export: a runnable problem script whose settings load, and a config JSON
    best = study.best_trial
    script = export_best(url, "hb", tmp_path / "best.py")
    problem, settings = load_problem_script(script)
    assert problem.name == "burgers1d"
    assert settings == {k: v for k, v in best.user_attrs["settings"].items() if k != "device"}
    assert settings["optimizer"]["lr"] == pytest.approx(best.params["lr"])
    conf = json.loads(export_best(url, "hb", tmp_path / "best.json", "json").read_text())
    assert conf["trial"] == best.number and conf["settings"] == settings


# ------------------------------------------------------------------ pruning, --set, objectives

def test_pruned_trials_keep_their_run_directories(tmp_path):
    path = study_file(tmp_path, steps=30, every=10,
                      pruner="__import__('optuna').pruners.ThresholdPruner(upper=1e-9)")
    opts = StudyOptions(study_file=str(path), trials=2, study_name="prune", out=str(tmp_path / "out"),
                        quiet=True)
    spec, opts, study = setup_study(opts)
    worker_loop(opts, "cpu", spec=spec)
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    for t in trials:
        assert list(t.intermediate_values) == [10]           # reported at step 10, pruned there
        run_dir = Path(t.user_attrs["run_dir"])
        assert (run_dir / "pruned.pt").exists() and (run_dir / "history.jsonl").exists()
        assert json.loads((run_dir / "trial.json").read_text())["state"] == "pruned"


def test_set_fixes_a_setting_for_every_trial(tmp_path):
    opts = StudyOptions(study_file=str(study_file(tmp_path)), trials=1, study_name="fixed",
                        out=str(tmp_path / "out"), overrides=["steps=7", "model.width=5"], quiet=True)
    spec, opts, study = setup_study(opts)
    worker_loop(opts, "cpu", spec=spec)
    for t in study.get_trials(deepcopy=False):
        assert t.state == TrialState.COMPLETE
        assert t.user_attrs["settings"]["steps"] == 7
        assert t.user_attrs["settings"]["model"]["width"] == 5            # over the search space
        assert json.loads((Path(t.user_attrs["run_dir"]) / "metrics.json").read_text())["steps"] == 7


def test_settings_merge_and_bad_set(tmp_path):
    spec = load_study_file(ROOT / "studies" / "burgers_sweep.py")
    trial = optuna.create_study().ask()
    s = spec.settings_for(trial, ["steps=50"])
    assert s["steps"] == 50 and s["model"]["name"] == "mlp"
    from pinnlab.cli import load_problem_script
    _, script_settings = load_problem_script(ROOT / "problems" / "burgers1d.py")
    # the problem script's own setting survives the search
    assert s["sampler"]["n_boundary"] == script_settings["sampler"]["n_boundary"]
    if s["optimizer"]["name"] == "adam+lbfgs":
        assert s["optimizer"]["adam_steps"] + s["optimizer"]["lbfgs_steps"] == 50
    from pinnlab.study.cli import main
    assert main([str(ROOT / "studies" / "burgers_sweep.py"), "--set", "stpes=3",
                 "--out", str(tmp_path / "o")]) == 2


def test_two_objectives_and_residual_objective_without_reference(tmp_path):
    script = tmp_path / "noref.py"
    script.write_text(f"from pinnlab.cli import load_problem_script\n"
                      f"import dataclasses\n"
                      f"p, settings = load_problem_script({str(BURGERS)!r})\n"
                      f"problem = dataclasses.replace(p, reference=None) if dataclasses.is_dataclass(p) "
                      f"else p\n"
                      f"problem.reference = None\n")
    opts = StudyOptions(study_file=str(study_file(tmp_path, steps=10, objectives=("error", "time"),
                                                  script=script)),
                        trials=1, study_name="two", out=str(tmp_path / "out"), quiet=True)
    spec, opts, study = setup_study(opts)
    assert spec.problem.reference is None
    worker_loop(opts, "cpu", spec=spec)
    (t,) = study.get_trials(deepcopy=False)
    assert t.state == TrialState.COMPLETE and len(t.values) == 2
    assert 0 < t.values[0] < float("inf") and t.values[1] > 0          # mean squared residual, seconds


# ------------------------------------------------------------------ PostgreSQL (CI: .ci/postgres.sh)

def test_postgres_study(tmp_path):
    url = os.environ.get("PINNLAB_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PINNLAB_TEST_POSTGRES_URL is not set (CI starts a server with .ci/postgres.sh)")
    try:
        import sqlalchemy
        from pinnlab.study.storage import driver_url
        with sqlalchemy.create_engine(driver_url(url)).connect():
            pass
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no PostgreSQL server reachable at PINNLAB_TEST_POSTGRES_URL ({str(exc)[:120]})")
    name = f"pinnlab-test-{os.getpid()}-{int(time.time())}"
    opts = StudyOptions(study_file=str(study_file(tmp_path, steps=50, every=50)), trials=2, workers=2,
                        storage=url, study_name=name, out=str(tmp_path / "out"), threads=1,
                        heartbeat_interval=1, grace_period=3, quiet=True)
    summary = run_study(opts)
    study = load(url, name)
    assert summary["counts"].get("complete", 0) >= 2
    assert all(Path(t.user_attrs["run_dir"]).is_dir() for t in study.get_trials(deepcopy=False))
    optuna.delete_study(study_name=name, storage=open_storage(url, None))


def test_plan_workers_threads(monkeypatch):
    from pinnlab.study.runner import plan_workers
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert plan_workers(2, "cpu") == [("cpu", 2), ("cpu", 2)]
    assert plan_workers(None, "cpu") == [("cpu", 2), ("cpu", 2)]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")   # the user's per-process thread count is kept
    assert plan_workers(2, "cpu") == [("cpu", 1), ("cpu", 1)]
    assert plan_workers(2, "cpu", threads=3) == [("cpu", 3), ("cpu", 3)]  # --threads wins
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert plan_workers(4, "cpu") == [("cpu", 1)] * 4


def test_study_mistakes_fail_up_front(tmp_path, capsys):
    from pinnlab.errors import ConfigError
    from pinnlab.study.cli import main
    path = study_file(tmp_path)
    url = storage_url("sqlite", tmp_path)
    base = dict(study_file=str(path), trials=2, storage=url, study_name="s", out=str(tmp_path / "o"),
                quiet=True)
    with pytest.raises(ConfigError, match="--workers must be >= 1, got -1"):
        setup_study(StudyOptions(**base, workers=-1))
    # a misspelt key in space() fails once, before any trial runs
    path.write_text(path.read_text().replace('"optimizer": {"name"', '"optimizr": {"name"'))
    with pytest.raises(ConfigError, match="unknown setting 'optimizr' .*did you mean 'optimizer'"):
        setup_study(StudyOptions(**base))
    path.write_text(path.read_text().replace('"optimizr": {"name": "adam", "lr"', '"optimizer": {"name": "adam", "lrr"'))
    with pytest.raises(ConfigError, match="unknown setting 'optimizer.lrr'"):
        setup_study(StudyOptions(**base))
    with pytest.raises(ConfigError, match="storage bogus://x: not a usable database URL"):
        open_storage("bogus://x")
    missing = tmp_path / "nowhere" / "x.db"
    assert main(["export", "--storage", f"sqlite:///{missing}", "--study-name", "s",
                 "--out", str(tmp_path / "best.py")]) == 2
    assert "does not exist" in capsys.readouterr().err and not missing.parent.exists()


# ------------------------------------------------------------------ failures, divergence, Ctrl-C, reports

def custom_study(tmp_path: Path, name: str, space: str, steps=20, every=10) -> Path:
    """A tiny study file ``name.py`` whose ``space(trial)`` is the given source."""
    head = STUDY.split("def space", 1)[0].format(script=str(BURGERS), steps=steps, pruner='"none"',
                                                  every=every, objectives=("error",))
    path = tmp_path / f"{name}.py"
    path.write_text(head + "import os\n\n" + space.strip() + "\n")
    return path


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_exceptions_in_a_trial_are_stored_with_their_reason(tmp_path, capsys):
    path = custom_study(tmp_path, "boom_study", '''
def space(trial):
    lr = trial.suggest_float("lr", 1e-3, 1e-2, log=True)
    if trial.number == 1:
        raise RuntimeError("boom in trial 1")
    width = 0 if trial.number == 2 else 6
    return {"optimizer": {"name": "adam", "lr": lr}, "model": {"width": width}}
''')
    opts = StudyOptions(study_file=str(path), trials=2, study_name="boom", out=str(tmp_path / "out"))
    spec, opts, study = setup_study(opts)
    worker_loop(opts, "cpu", spec=spec)
    trials = study.get_trials(deepcopy=False)
    line = line_of(path, "raise RuntimeError")
    boom = f"space() in boom_study.py, line {line}: RuntimeError: boom in trial 1"
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL,
                                         TrialState.COMPLETE]      # failures do not count as trials
    assert trials[1].user_attrs["fail_reason"] == boom                 # in the storage: every machine sees it
    assert trials[2].user_attrs["fail_reason"].startswith("ConfigError: ")     # a bad setting: its type too
    meta = json.loads((tmp_path / "out" / "trials" / "trial_0001" / "trial.json").read_text())
    assert meta["state"] == "fail" and meta["error"] == boom and "boom in trial 1" in meta["traceback"]
    assert meta["params"]["lr"] == pytest.approx(trials[1].params["lr"])
    out = capsys.readouterr().out
    assert f"trial 1: fail ({boom}) in" in out and "trial 2: fail (ConfigError: " in out
    assert "no reason" not in out


def test_divergence_is_pruned_with_its_reason_and_stops_nothing(tmp_path):
    path = custom_study(tmp_path, "diverge", '''
def space(trial):
    return {"optimizer": {"name": "adam", "lr": trial.suggest_float("lr", 1e29, 1e30, log=True)}}
''', steps=40, every=5)
    opts = StudyOptions(study_file=str(path), trials=2, study_name="div", out=str(tmp_path / "out"),
                        max_failures=1, quiet=True)
    spec, opts, study = setup_study(opts)
    worker_loop(opts, "cpu", spec=spec)                   # two divergences: not a broken study
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    for t in trials:
        assert t.user_attrs["diverged"] is True
        assert t.user_attrs["prune_reason"].startswith("diverged: TrainingError: training stopped at step")
        last = max(t.intermediate_values)                 # the worst value, for the sampler and the pruner
        assert t.intermediate_values[last] == float("inf") and t.value == float("inf")
        meta = json.loads((Path(t.user_attrs["run_dir"]) / "trial.json").read_text())
        assert meta["state"] == "pruned" and meta["diverged"] and "non-finite" in meta["error"]


def test_failure_limit_counts_this_run_only_and_exits_with_an_error(tmp_path, monkeypatch, capsys):
    import signal as signal_module

    from pinnlab.study import runner
    from pinnlab.study.cli import main

    class InProcessWorker:
        """A worker 'process' that runs worker_main here and now (no seconds of torch imports)."""

        def __init__(self, args, env=None):
            assert args[1:3] == ["-c", runner.WORKER_COMMAND]
            self.pid = os.getpid()
            self.returncode = runner.worker_main([args[3]])

        def poll(self):
            return self.returncode

        wait = poll

    monkeypatch.setattr(runner.subprocess, "Popen", InProcessWorker)
    path = custom_study(tmp_path, "flaky", '''
def space(trial):
    lr = trial.suggest_float("lr", 1e-3, 1e-2, log=True)
    if trial.number >= 1:
        raise ValueError("no good")
    return {"optimizer": {"name": "adam", "lr": lr}}
''')
    argv = [str(path), "--trials", "3", "--workers", "1", "--threads", "1", "--max-failures", "2",
            "--device", "cpu", "--out", str(tmp_path / "out"), "--quiet"]
    handler = signal_module.getsignal(signal_module.SIGTERM)
    try:
        for run in range(2):          # the second run does not count the first run's failures
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.startswith("pinnlab study: error: 2 trials failed in this run, the limit "
                                  "(--max-failures 2): 1 of 3 trials are complete or pruned; the most "
                                  "frequent reason (2 trials): space() in flaky.py, line ")
            assert ": ValueError: no good." in err and "'fail_reason'" in err and "pinnlab report" in err
    finally:
        signal_module.signal(signal_module.SIGTERM, handler)
    study = load(f"sqlite:///{tmp_path / 'out' / 'study.db'}", "flaky")
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.COMPLETE] + [TrialState.FAIL] * 4


def test_ctrl_c_requeues_the_running_trial(tmp_path):
    import signal as signal_module
    path = study_file(tmp_path, steps=100000, every=50)
    opts = StudyOptions(study_file=str(path), trials=1, study_name="ctrlc", out=str(tmp_path / "out"),
                        max_failures=1, quiet=True)
    spec, opts, study = setup_study(opts)
    history = tmp_path / "out" / "trials" / "trial_0000" / "history.jsonl"

    finished = threading.Event()

    def press_ctrl_c():               # once the trial trains: a real SIGINT to this process
        deadline = time.time() + 60
        while not history.exists() and time.time() < deadline and not finished.is_set():
            time.sleep(0.02)
        if not finished.is_set():     # never into pytest itself
            os.kill(os.getpid(), signal_module.SIGINT)
    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            worker_loop(opts, "cpu", spec=spec)
    finally:
        finished.set()
        presser.join()
    first, queued = study.get_trials(deepcopy=False)
    assert first.state == TrialState.FAIL and first.user_attrs["interrupted"] is True
    assert queued.state == TrialState.WAITING and queued.params == first.params
    assert queued.system_attrs["failed_trial"] == 0 and queued.system_attrs["retry_history"] == []
    assert "fail_reason" not in queued.user_attrs          # the copy does not inherit the failure
    # resumed, with every stored failure counted (since=0): the interruption is no failure
    opts.overrides = ["steps=10"]
    worker_loop(opts, "cpu", spec=spec, since=0)
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].params == first.params and trials[1].user_attrs["retry_of"] == 0


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")     # study.ask on a heartbeat storage
def test_parent_requeues_what_stopped_workers_left(tmp_path):
    from pinnlab.study.runner import _requeue_interrupted, failures_since
    opts = StudyOptions(study_file=str(study_file(tmp_path)), trials=3, study_name="left",
                        out=str(tmp_path / "out"), quiet=True)
    spec, opts, study = setup_study(opts)
    dist = {"lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)}
    start = time.time()
    running = study.ask(dist)                  # its worker was killed before it could re-queue it
    cut = study.ask(dist)                      # a second signal cut its worker's bookkeeping short
    for t in (running, cut):
        study._storage.set_trial_system_attr(t._trial_id, WORKER_ATTR, f"{socket.gethostname()}:4242")
    study.tell(cut, state=TrialState.FAIL)
    assert _requeue_interrupted(study, [4242], start) == [0, 1]
    trials = study.get_trials(deepcopy=False)
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs["interrupted"] is True
    assert sorted(t.params["lr"] for t in trials[2:]) == sorted([running.params["lr"], cut.params["lr"]])
    assert {t.state for t in trials[2:]} == {TrialState.WAITING}
    assert [t.number for t in failures_since(study, start)] == [1]     # no reason: counted
    assert _requeue_interrupted(study, [4242], start) == []           # once only


def test_worker_exits_quietly_when_stopped_during_start_up(tmp_path):
    import signal as signal_module
    import subprocess
    import sys

    from pinnlab.study.runner import WORKER_COMMAND
    opts = StudyOptions(study_file=str(study_file(tmp_path)), trials=1, study_name="quiet",
                        out=str(tmp_path / "out"), quiet=True)
    conf = json.dumps({**vars(opts), "_device": "cpu", "_threads": 1})
    p = subprocess.Popen([sys.executable, "-c", WORKER_COMMAND, conf], stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    p.send_signal(signal_module.SIGINT)        # Ctrl-C at a terminal: the parent handles it, not the worker
    time.sleep(0.5)
    assert p.poll() is None
    p.send_signal(signal_module.SIGTERM)       # how the parent stops it, while it still imports torch
    _, err = p.communicate(timeout=60)
    assert p.returncode in (-signal_module.SIGTERM, 130) and err == ""


def test_report_names_a_missing_study_and_lists_failed_trials(tmp_path, capsys):
    from optuna.distributions import FloatDistribution

    from pinnlab.cli import main
    from pinnlab.study.storage import REQUEUED_FROM_ATTR
    url = storage_url("sqlite", tmp_path)
    study = optuna.create_study(storage=open_storage(url, None), study_name="small")
    dist = {"lr": FloatDistribution(1e-3, 1e-2, log=True)}
    old_run = tmp_path / "old_trial"
    old_run.mkdir()
    (old_run / "trial.json").write_text(json.dumps({"state": "fail", "error": "from an older pinnlab"}))
    for state, attrs, value in [
            (TrialState.COMPLETE, {}, 0.5),
            (TrialState.FAIL, {"fail_reason": "space() in s.py, line 4: RuntimeError: boom"}, None),
            (TrialState.PRUNED, {"diverged": True, "prune_reason": "diverged: TrainingError: nan"}, None),
            (TrialState.FAIL, {"interrupted": True, "fail_reason": "interrupted and re-queued"}, None),
            (TrialState.FAIL, {"run_dir": str(old_run)}, None),
            (TrialState.FAIL, {}, None)]:
        study.add_trial(optuna.create_trial(state=state, value=value, params={"lr": 3e-3},
                                            distributions=dist, user_attrs=attrs))
    study.add_trial(optuna.create_trial(state=TrialState.COMPLETE, value=0.4, params={"lr": 3e-3},
                                        distributions=dist, system_attrs={REQUEUED_FROM_ATTR: 3}))
    out = tmp_path / "report"
    assert main(["report", str(out), "--study", url, "--study-name", "smal"]) == 2
    assert capsys.readouterr().err.strip() == (f"pinnlab: error: no study named 'smal' in {url}; "
                                               "the studies there: small (did you mean 'small'?)")
    assert not out.exists()
    assert main(["report", str(out), "--study", url, "--study-name", "small"]) == 0
    page = (out / "study_report.html").read_text()
    assert "Failed and diverged trials" in page
    for text in ("space() in s.py, line 4: RuntimeError: boom", "diverged: TrainingError: nan",
                 "interrupted and re-queued", "#6", "from an older pinnlab", "no reason recorded"):
        assert text in page, text


def test_space_mistakes_name_the_study_file_and_line(tmp_path, capsys):
    from pinnlab.errors import ConfigError
    from pinnlab.study.cli import main
    bad_range = custom_study(tmp_path, "bad_range", '''
def space(trial):
    return {"optimizer": {"lr": trial.suggest_float("lr", 1e-2, 1e-4, log=True)}}
''')
    line = line_of(bad_range, "suggest_float")
    base = dict(trials=1, out=str(tmp_path / "o"), quiet=True)
    with pytest.raises(ConfigError) as info:
        setup_study(StudyOptions(study_file=str(bad_range), **base))
    assert str(info.value) == (f"space() in bad_range.py, line {line}: ValueError: `low <= high` must hold, "
                               "but got (low=0.01, high=0.0001).")
    assert main([str(bad_range), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pinnlab study: error: space() in bad_range.py, line {line}: ValueError")
    assert "Traceback" not in err
    typo = custom_study(tmp_path, "typo", '''
def helper(trial):
    return {"model": {"width": widht}}

def space(trial):
    return helper(trial)
''')
    with pytest.raises(ConfigError, match=rf"^helper\(\) in typo.py, line {line_of(typo, 'widht')}: "
                                          r"NameError: name 'widht' is not defined"):
        setup_study(StudyOptions(study_file=str(typo), **base))
