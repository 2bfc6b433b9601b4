"""Run directories and checkpoints.

A run directory holds ``config.json`` (the resolved configuration),
``history.jsonl`` (one JSON object per logged step), ``metrics.json``,
``checkpoint.pt`` (state dicts only) and the report figures.

Checkpoints are written atomically: to a temporary file in the same directory,
flushed to disk, then renamed over the old one, whose previous version is kept
as ``checkpoint.prev.pt``. They are loaded with ``torch.load(weights_only=True)``,
so a crafted file cannot run code; a truncated or corrupted file raises
:class:`~pinnlab.errors.CheckpointError` and :func:`load_latest` falls back to the
previous intact checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, ConfigError, warn

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"


#: what a run writes in its directory (an existing one is not overwritten unless asked)
RUN_FILES = ("config.json", "history.jsonl", "metrics.json", CHECKPOINT, PREVIOUS,
             "report.html", "report.pdf", "problem_script.txt")
RUN_FOLDERS = ("figures", "population")


def prepare_run_dir(out: str | os.PathLike, resume: bool, overwrite: bool = False) -> Path:
    """The run directory, created if needed. A directory that already holds a run is
    continued (``resume``), cleared of that run's files (``overwrite``), or refused: a new
    run would silently replace the old one's history and checkpoints, and mix its leftovers
    (figures, populations, a previous checkpoint) into the new run."""
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise ConfigError(f"out= must name a run directory (a path), got {out!r}; out=None keeps "
                          "no files")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run directory {path} exists and is not a directory")
    if resume and not path.exists():  # do not leave an empty directory behind
        raise ConfigError(f"nothing to resume: the run directory {path} does not exist")
    if resume and overwrite:
        raise ConfigError("resume and overwrite exclude each other: resume continues the run in "
                          f"{path}, overwrite replaces it")
    if resume and not any((path / name).exists() for name in (CHECKPOINT, PREVIOUS)):
        # refused before anything is written (a problem_script.txt left behind would make the
        # directory look like a run to the next, fresh, solve)
        raise CheckpointError(f"cannot resume: {path} has no checkpoint ({CHECKPOINT}); start the run "
                              "without resume (the run directory's other files, if any, need overwrite)")
    old = [name for name in RUN_FILES + RUN_FOLDERS if (path / name).exists()] if path.is_dir() else []
    if old and not resume and not overwrite:
        raise ConfigError(f"the run directory {path} already holds a run ({', '.join(old[:4])}"
                          f"{', ...' if len(old) > 4 else ''}); continue it with resume=True "
                          "(pinnlab solve --resume), replace it with overwrite=True (--overwrite), "
                          "or choose another out= (--out)")
    if old and overwrite:
        import shutil
        for name in old:
            target = path / name
            shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the run directory {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"the run directory {path} is not writable")
    return path


def record_problem_script(run_dir: Path, problem: Any) -> None:
    """Name, in ``problem_script.txt``, the script that ``pinnlab report RUN_DIR`` and
    :func:`load_run` load for the problem: the script pinnlab loaded it from (``pinnlab
    solve``, a study), else the file of a module whose module-level ``problem`` is the one
    solved. An imported module's file is preferred to the ``python DRIVER.py`` that imported
    it: loading the driver again would redo whatever else it does."""
    script = (getattr(problem, "source_script", None)  # or that of a compiled problem's Problem
              or getattr(getattr(problem, "problem", None), "source_script", None))
    if script is None:
        holders = [m for name, m in list(sys.modules.items())
                   if isinstance(getattr(m, "__dict__", None), dict) and m.__dict__.get("problem") is problem
                   and str(getattr(m, "__file__", "") or "").endswith(".py")]
        holders.sort(key=lambda m: m.__name__ == "__main__")  # the defining module first
        script = holders[0].__file__ if holders else None
    if script and str(script).endswith(".py"):
        (run_dir / "problem_script.txt").write_text(str(Path(script).resolve()) + "\n")


def recorded_problem(run_dir: str | os.PathLike) -> Any:
    """The problem of a run, from the script it recorded (:func:`record_problem_script`)."""
    path = Path(run_dir) / "problem_script.txt"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no recorded problem script (a run from an interactive session "
                          "or a notebook); give the problem: load_run(RUN_DIR, problem), or "
                          "pinnlab report RUN_DIR --problem PROBLEM.py")
    from .cli import load_problem_script
    script = path.read_text().strip()
    if not script or not Path(script).is_file():
        raise ConfigError(f"{run_dir}: the run's problem script {script or '(none recorded)'} "
                          f"(named in {path}) {'does not exist (moved or deleted?)' if script else ''}; "
                          "give the problem: load_run(RUN_DIR, problem) or load_run(RUN_DIR, "
                          "'SCRIPT.py'), or pinnlab report RUN_DIR --problem SCRIPT.py")
    problem, _ = load_problem_script(script)
    return problem


def load_run(run_dir: str | os.PathLike, problem: Any = None) -> Any:
    """A finished (or interrupted) run back as a :class:`~pinnlab.Result` on the CPU: its
    model (``predict``), metrics, history and learned parameters. ``problem`` defaults to the
    one of the script the run recorded."""
    from .compiler import CompiledProblem
    from .problem import Problem
    from .report.rebuild import load_run as from_checkpoint
    if not isinstance(run_dir, (str, os.PathLike)):
        raise ConfigError(f"load_run needs a run directory (a path), got {run_dir!r}")
    if not Path(run_dir).is_dir():
        raise ConfigError(f"load_run: the run directory {run_dir} does not exist"
                          f"{' (it is a file)' if Path(run_dir).exists() else ''}")
    if not (Path(run_dir) / "config.json").is_file():
        raise ConfigError(f"load_run: {run_dir} is not a pinnlab run directory (no config.json)")
    if problem is None:
        problem = recorded_problem(run_dir)
    elif isinstance(problem, (str, os.PathLike)):  # a problem script, as pinnlab report --problem
        from .cli import load_problem_script
        problem = load_problem_script(problem)[0]
    if isinstance(problem, CompiledProblem):
        problem = problem.problem
    if not isinstance(problem, Problem):
        raise ConfigError(f"load_run: problem must be a pinnlab Problem or a problem script (.py), "
                          f"got {type(problem).__name__} {problem!r:.80}")
    _warn_if_other_problem(Path(run_dir), problem)
    return from_checkpoint(run_dir, problem)


def _warn_if_other_problem(run_dir: Path, problem: Any) -> None:
    """A problem whose declarations differ from the run's (its script edited since, or another
    problem given) loads if the model fits, but its figures and errors describe another problem."""
    try:
        recorded = json.loads((run_dir / "config.json").read_text()).get("problem_signature")
    except (OSError, ValueError, AttributeError):
        return
    if recorded and recorded != problem.signature():
        warn(f"load_run: {run_dir} was trained on another problem than {problem.name!r} as declared "
             "now (its equations, conditions, domain or data differ: the script edited since the "
             "run?); the model is the run's, its metrics and figures may not describe this problem")


def safe_child(run_dir: Path, name: str) -> Path:
    """``run_dir / name`` refusing names that escape the run directory."""
    candidate = (run_dir / name).resolve()
    root = run_dir.resolve()
    if candidate != root and root not in candidate.parents:
        raise ConfigError(f"output name {name!r} escapes the run directory {run_dir}")
    return candidate


def _write_temporary(path: Path, write: Any) -> Path:
    """``write(file)`` into a temporary file beside ``path``, flushed to disk, and its path; a
    failure (a full disk, a Ctrl-C) leaves no partial temporary file behind."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    os.replace(_write_temporary(path, lambda fh: fh.write(data)), path)


def write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n").encode())


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def save_checkpoint(run_dir: Path, state: dict) -> Path:
    """Atomically write ``state`` as the run's checkpoint, keeping the previous one."""
    path = run_dir / CHECKPOINT
    try:
        tmp = _write_temporary(path, lambda fh: torch.save(state, fh))
    except (OSError, RuntimeError) as exc:  # a full disk, a quota, a vanished directory
        # (torch.save reports write failures as RuntimeError)
        raise CheckpointError(f"cannot write the checkpoint {path}: {_reason(exc)}; the previous "
                              "checkpoint, if any, is unchanged") from None
    if path.exists():
        os.replace(path, run_dir / PREVIOUS)
    os.replace(tmp, path)
    return path


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)[:200] or type(exc).__name__


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint safely (``weights_only=True``), with a clear error if damaged."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is damage
        raise CheckpointError(f"checkpoint {path} is truncated or corrupted (not a torch.save archive)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"checkpoint {path} was refused: it contains objects other than "
                              f"tensors and plain data, which could run code ({str(exc)[:200]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupted ({str(exc)[:200]})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"checkpoint {path} is not a pinnlab checkpoint")
    return state


def load_latest(run_dir: str | os.PathLike) -> tuple[dict, Path]:
    """The newest intact checkpoint of a run directory (current, else previous)."""
    run_dir = Path(run_dir)
    errors = []
    for name in (CHECKPOINT, PREVIOUS):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path)
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        if errors:
            warn(f"resuming from the previous checkpoint {path} (step {state.get('step')}): "
                 f"{'; '.join(errors)}")
        return state, path
    if errors:
        raise CheckpointError("no intact checkpoint in " + str(run_dir) + ": " + "; ".join(errors))
    raise CheckpointError(f"cannot resume: {run_dir} has no checkpoint")


def read_history(run_dir: str | os.PathLike) -> list[dict]:
    path = Path(run_dir) / "history.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a killed process
    return out


class DeferredInterrupts:
    """SIGINT and SIGTERM, while a run with a directory trains, end it after the current step.

    The signal only sets :attr:`pending`; the training loop checks it once a step is complete,
    writes a checkpoint of that step and raises :class:`KeyboardInterrupt`. Without this a
    Ctrl-C (or the SIGTERM of ``timeout``, SLURM, ``docker stop``) lost every step since the
    last periodic checkpoint, and SIGTERM saved nothing at all. A second signal interrupts at
    once. Handlers can only be installed from the main thread; elsewhere this does nothing."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, enabled: bool):
        import threading
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.pending: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        import signal
        if self.pending is not None:
            raise KeyboardInterrupt(f"interrupted again ({signal.Signals(signum).name}); stopped at once")
        self.pending = signal.Signals(signum).name

    def __enter__(self) -> "DeferredInterrupts":
        if self.enabled:
            import signal
            for name in self.SIGNALS:
                sig = getattr(signal, name, None)
                # a signal the process ignores (a study worker's SIGINT) stays ignored
                if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        import signal
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
