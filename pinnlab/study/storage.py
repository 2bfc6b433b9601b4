"""Optuna storages for studies, with crash safety.

URLs:

``sqlite:///PATH``, ``postgresql://USER:PASS@HOST/DB``, ``mysql+pymysql://...``
    an :class:`optuna.storages.RDBStorage` with Optuna's heartbeat: a trial whose
    worker stops sending heartbeats for ``grace_period`` seconds (kill -9, a lost
    machine) is marked FAIL by the next worker that starts a trial, and re-queued
    once or more (``RetryHeartbeatStaleTrialCallback``).
``journal:PATH`` (or a path ending in ``.journal`` / ``.log``)
    an Optuna journal file (``JournalStorage(JournalFileBackend(PATH))``): usable
    on a shared disk by several machines. The journal storage has no heartbeat
    of its own in Optuna, so pinnlab runs the same scheme through a trial system
    attribute (``pinnlab:heartbeat``, refreshed by a thread): see
    :func:`fail_stale_trials`.
``redis://HOST:PORT/DB``
    an Optuna journal on Redis (``JournalRedisBackend``), with the same heartbeat.

The default storage of ``pinnlab study`` is ``sqlite:///OUT/study.db``: nothing
to install or start, and it opens as is in ``optuna-dashboard`` and in
``pinnlab report --study``.
"""

from __future__ import annotations

import copy
import os
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Any

HEARTBEAT_ATTR = "pinnlab:heartbeat"
WORKER_ATTR = "pinnlab:worker"
REQUEUED_FROM_ATTR = "pinnlab:requeued_from"
# user attributes that describe how one attempt ended: a re-queued copy must not inherit them
FAILURE_ATTRS = ("fail_reason", "interrupted", "prune_reason", "diverged")
DEFAULT_HEARTBEAT = 10
DEFAULT_GRACE = 30


def is_rdb(url: str) -> bool:
    return "://" in url and not url.startswith(("redis://", "rediss://", "journal:"))


def journal_path(url: str) -> str | None:
    if url.startswith("journal:"):
        return url[len("journal:"):].removeprefix("//")
    if "://" not in url and url.endswith((".journal", ".log", ".jsonl")):
        return url
    return None


def driver_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.1 defaults to psycopg 3,
    the ``postgres`` extra installs psycopg2-binary."""
    if url.startswith(("postgresql://", "postgres://")):
        import importlib.util
        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
            return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def requeue_trial(study: Any, trial: Any, max_retry: int | None = None, counted: bool = True) -> bool:
    """Enqueue a WAITING copy of ``trial`` (its parameters) to be run again; False when it has been
    retried ``max_retry`` times already.

    As Optuna's ``RetryHeartbeatStaleTrialCallback`` (the same ``failed_trial`` and
    ``retry_history`` system attributes), except that the copy does not inherit the user
    attributes that describe how this attempt ended (:data:`FAILURE_ATTRS`: a retry that
    completes must not carry a ``fail_reason``), it records the trial it copies
    (``pinnlab:requeued_from``, for reports), and an interruption (``counted=False``: Ctrl-C, not
    the trial's fault) uses up no retry.
    """
    import optuna
    history = list(trial.system_attrs.get("retry_history", []))
    if counted:
        history.append(trial.number)
        if max_retry is not None and len(history) > max_retry:
            return False
    system_attrs = {"failed_trial": trial.number, **trial.system_attrs,
                    "retry_history": history, REQUEUED_FROM_ATTR: trial.number}
    user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in FAILURE_ATTRS}
    study.add_trial(optuna.create_trial(state=optuna.trial.TrialState.WAITING, params=trial.params,
                                        distributions=trial.distributions, user_attrs=user_attrs,
                                        system_attrs=system_attrs))
    return True


class RetryCallback:
    """Re-queues a trial failed for a lost heartbeat or a dead worker (:func:`requeue_trial`);
    also Optuna's ``heartbeat_stale_trial_callback`` of RDB storages."""

    def __init__(self, max_retry: int | None = 2):
        self.max_retry = max_retry

    def __call__(self, study: Any, trial: Any) -> None:
        requeue_trial(study, trial, self.max_retry)


def retry_callback(max_retry: int | None = 2) -> RetryCallback:
    return RetryCallback(max_retry)


def open_storage(url: str, heartbeat_interval: int | None = DEFAULT_HEARTBEAT,
                 grace_period: int | None = DEFAULT_GRACE, max_retry: int | None = 2,
                 existing: bool = False) -> Any:
    """An Optuna storage object for ``url`` (see the module docstring). ``existing``: the storage
    must already exist (reading a study: nothing is created on disk)."""
    import optuna
    from ..errors import ConfigError
    path = journal_path(url)
    local = path if path is not None else (
        url.split(":///", 1)[-1] if url.startswith("sqlite") and ":///" in url else None)
    if existing and local and local != ":memory:" and not Path(local).is_file():
        raise ConfigError(f"storage {url}: {local} does not exist")
    if path is not None:
        from optuna.storages.journal import JournalFileBackend
        if not path.strip() or Path(path).is_dir():
            raise ConfigError(f"storage {url}: a journal storage needs the path of a file "
                              "(journal:/shared/study.journal)")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    if url.startswith(("redis://", "rediss://")):
        from optuna.storages.journal import JournalRedisBackend
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.JournalStorage(JournalRedisBackend(url))
        except ImportError as exc:
            raise ConfigError(f"storage {_safe_url(url)}: the redis package is missing ({exc}); "
                              "pip install redis") from None
    if not is_rdb(url):
        raise ConfigError(f"storage {url!r}: expected an Optuna storage URL (sqlite:///study.db, "
                          "postgresql://user:pass@host/db, mysql+pymysql://...), journal:PATH or redis://")
    given, url = url, driver_url(url)
    kwargs: dict = {}
    if url.startswith("sqlite"):
        # several worker processes write one file: wait for the lock instead of failing
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
        db = url.split(":///", 1)[-1]
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
    if heartbeat_interval:
        kwargs.update(heartbeat_interval=int(heartbeat_interval),
                      grace_period=int(grace_period or 2 * heartbeat_interval),
                      heartbeat_stale_trial_callback=retry_callback(max_retry))
    import sqlalchemy.exc
    for attempt in range(5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                return optuna.storages.RDBStorage(url, **kwargs)
            except ImportError as exc:
                raise ConfigError(f"storage {url.split('://')[0]}: the database driver is missing "
                                  f"({exc}); {_driver_hint(url)}") from None
            except sqlalchemy.exc.ArgumentError as exc:  # unknown dialect, malformed URL
                raise ConfigError(f"storage {_safe_url(url)}: not a usable database URL ({exc}); "
                                  "expected sqlite:///study.db, postgresql://..., mysql+pymysql://..., "
                                  "journal:PATH or redis://") from None
            except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError,
                    sqlalchemy.exc.ProgrammingError) as exc:
                # several processes creating the tables of a new database at once: one wins
                if attempt == 4:
                    raise ConfigError(f"storage {_safe_url(given)}: cannot open the database "
                                      f"({_first_line(exc)}); is the server running and the URL "
                                      "right?") from None
                time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _driver_hint(url: str) -> str:
    if url.startswith("mysql"):
        return "for MySQL: pip install pymysql and use mysql+pymysql://..."
    return "for PostgreSQL: pip install 'pinnlab[postgres]'"


def _first_line(exc: BaseException) -> str:
    """The driver's own message of a SQLAlchemy error (its first line, without the SQL)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def has_native_heartbeat(storage: Any) -> bool:
    from optuna.storages._heartbeat import BaseHeartbeat
    return isinstance(storage, BaseHeartbeat) and storage.get_heartbeat_interval() is not None


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """A thread that stamps ``pinnlab:heartbeat`` on a running trial every ``interval`` seconds
    (for storages without Optuna's own heartbeat)."""

    def __init__(self, storage: Any, trial_id: int, interval: float):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pinnlab-heartbeat")

    def _beat(self) -> None:
        try:
            self.storage.set_trial_system_attr(self.trial_id, HEARTBEAT_ATTR, time.time())
        except Exception:   # the trial finished meanwhile, or a transient storage error
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat()

    def __enter__(self) -> "Heartbeat":
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def fail_trial(study: Any, trial: Any, retry: Any = None, reason: str | None = None,
               **attrs: Any) -> bool:
    """Mark a RUNNING trial FAIL (and re-queue it through ``retry``); False if another did first.
    ``reason`` (and ``attrs``) become user attributes first, so that every machine sharing the
    storage can tell why the trial failed."""
    import optuna
    from optuna.trial import TrialState
    try:
        for key, value in ({"fail_reason": reason, **attrs} if reason else attrs).items():
            study._storage.set_trial_user_attr(trial._trial_id, key, value)
        if not study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            return False
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
        return False
    if retry is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            retry(study, copy.deepcopy(study._storage.get_trial(trial._trial_id)))
    return True


def fail_stale_trials(study: Any, grace_period: float, retry: Any = None) -> list[int]:
    """Fail RUNNING trials whose heartbeat is older than ``grace_period`` seconds, each with its
    ``fail_reason``, and re-queue them through ``retry``.

    With Optuna's heartbeat (RDB storages) the stale trials are those Optuna finds (its grace
    period and its retry callback); otherwise the ``pinnlab:heartbeat`` system attribute (or the
    trial's start time) is used. Returns the numbers of the trials failed here.
    """
    import optuna
    from optuna.trial import TrialState
    storage = study._storage
    if has_native_heartbeat(storage) and not hasattr(storage, "_get_stale_trial_ids"):
        with warnings.catch_warnings():  # an Optuna without that (private) method: no reason kept
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
            optuna.storages.fail_stale_trials(study)
            after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        return sorted(before - after)
    if has_native_heartbeat(storage):
        # as optuna.storages.fail_stale_trials, which gives no reason (and a FAIL trial's user
        # attributes can no longer be set): the reason is stored before the state
        retry = storage.get_heartbeat_stale_trial_callback() or retry
        grace = grace_period or 2 * storage.get_heartbeat_interval()   # as given to open_storage
        failed = []
        for trial_id in storage._get_stale_trial_ids(study._study_id):
            t = storage.get_trial(trial_id)
            worker = t.system_attrs.get(WORKER_ATTR, "unknown")
            if fail_trial(study, t, retry, f"lost: no heartbeat from worker {worker} for over "
                                           f"{grace:.0f} s (killed, or its machine was lost)"):
                failed.append(t.number)
        return failed
    now = time.time()
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # a retried trial inherits its predecessor's system attributes: never older than its start
        stamps = [float(t.system_attrs.get(HEARTBEAT_ATTR) or 0.0)]
        if t.datetime_start is not None:
            stamps.append(t.datetime_start.timestamp())
        beat = max(stamps) or None
        if beat is None or now - float(beat) <= grace_period:
            continue
        worker = t.system_attrs.get(WORKER_ATTR, "unknown")
        if fail_trial(study, t, retry, f"lost: no heartbeat from worker {worker} for "
                                       f"{now - float(beat):.0f} s (killed, or its machine was lost)"):
            failed.append(t.number)
    return failed


def load_existing_study(url: str, study_name: str) -> Any:
    """The study ``study_name`` of the storage ``url``, which must both exist (nothing is
    created); a :class:`ConfigError` naming the storage otherwise."""
    import optuna
    from ..errors import ConfigError
    storage = open_storage(url, None, existing=True)
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:     # Optuna's "Record does not exist."
        names = sorted(s.study_name for s in storage.get_all_studies())
        from ..config import suggest
        there = (f"; the studies there: {', '.join(names)}{suggest(study_name, names)}" if names
                 else "; it holds no study")
        raise ConfigError(f"no study named {study_name!r} in {_safe_url(url)}{there}") from None


def _safe_url(url: str) -> str:
    """``url`` without its password."""
    import re
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
