"""Exception types raised by pinnlab.

Every error that a user can cause (a bad declaration, a bad data file, a bad
setting, a damaged checkpoint) is raised as a subclass of :class:`PinnlabError`
whose message names what is wrong and where.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from pathlib import Path


class PinnlabError(Exception):
    """Base class of every error pinnlab raises on purpose."""


class DeclarationError(PinnlabError, ValueError):
    """A problem declaration (equation, condition, field, parameter) is invalid."""


class GeometryError(DeclarationError):
    """A geometry is empty, degenerate, or used in a way it does not support."""


class DataError(PinnlabError, ValueError):
    """A reference or observation data set is malformed (shape, NaN, columns)."""


class ConfigError(PinnlabError, ValueError):
    """A solver setting is unknown or has a value of the wrong type."""


class CheckpointError(PinnlabError):
    """A checkpoint is missing, truncated, corrupted or unsafe to load."""


class TrainingError(PinnlabError, RuntimeError):
    """Training cannot continue (for example repeated non-finite losses)."""


class PinnlabWarning(UserWarning):
    """A warning pinnlab gives on purpose (:func:`warn`): a setting or input that works but
    probably not as meant."""


def user_frame(exc: BaseException, files) -> traceback.FrameSummary | None:
    """The deepest frame of ``exc``'s traceback in one of the user's ``files`` (a problem
    script, a study file), or None: the frames of runpy, Optuna and pinnlab below it say
    nothing about where the user's mistake is."""
    paths = {Path(f).resolve() for f in files if f}
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() in paths]
    return frames[-1] if frames else None


def run_user_file(path: Path, run_name: str, label: str) -> dict:
    """``runpy.run_path`` of a file the user wrote (a problem script, a study file) and its
    module-level names. A mistake in it is raised with the file and line (``label PATH, line
    N: ...``), not runpy's traceback: a pinnlab error keeps its type, others become ConfigError."""
    import runpy
    try:
        return runpy.run_path(str(path), run_name=run_name)
    except SyntaxError as exc:
        raise ConfigError(f"{label} {path}, line {exc.lineno}: syntax error: {exc.msg}"
                          + (f"\n    {exc.text.strip()}" if exc.text else "")) from None
    except Exception as exc:  # the user's code: its line, not runpy's frames
        frame = user_frame(exc, (path,))
        where = f"{label} {path}" + (f", line {frame.lineno}" if frame else "")
        if isinstance(exc, PinnlabError):
            raise type(exc)(f"{where}: {exc}") from None
        raise ConfigError(f"{where}: {type(exc).__name__}: {exc}") from None


def _library_folders() -> tuple[str, ...]:
    """The folders of pinnlab's code (``pinnlab.samplers`` and ``pinnlab.optimizers`` are
    installed from folders of their own in an editable install)."""
    mods = (sys.modules.get(name) for name in ("pinnlab", "pinnlab.samplers", "pinnlab.optimizers"))
    return tuple(os.path.abspath(folder) + os.sep for m in mods if m is not None
                 for folder in getattr(m, "__path__", ()))


def warn(message: str, category: type[Warning] = PinnlabWarning) -> None:
    """``warnings.warn`` attributed to the user's line: the innermost caller outside pinnlab
    (the line shown under the message is then the user's call, not pinnlab's source)."""
    folders = _library_folders()
    frame, level = sys._getframe(1), 2   # stacklevel 2: warn's caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(folders):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
