"""A one-line terminal progress bar (silent when stderr is not a terminal)."""

from __future__ import annotations

import os
import sys
import time

#: the line length when the stream's terminal width is unknown (not a terminal, or a notebook)
_DEFAULT_COLUMNS = 240


class Progress:
    """Shows step, loss, steps/s, ETA and the loss per term, redrawn in place.

    The line is cut to the terminal's width (a line that wraps cannot be redrawn in place:
    every update would scroll a new line); the rate and ETA come before the per-term losses,
    and the bar narrows or goes on a narrow terminal, so that a cut loses terms, not the ETA.
    A shorter line is padded to blank out the end of the previous one.
    """

    def __init__(self, total: int, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = _interactive(self.stream) if enabled is None else enabled
        self.total, self.t0, self.first = total, time.perf_counter(), None
        self.shown = 0  # length of the line on screen

    def update(self, step: int, row: dict) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.first is None:
            self.first = (step, now)
            rate = 0.0
        else:
            rate = (step - self.first[0]) / max(now - self.first[1], 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        terms = " ".join(f"{k[5:]}={v:.2e}" for k, v in row.items() if k.startswith("loss_"))
        cols = _columns(self.stream) - 1
        info = f"{step}/{self.total} loss={row['loss']:.3e} {rate:.1f} it/s ETA {_fmt(eta)}"
        width = min(20, cols - len(info) - 3)  # the bar shrinks (or goes) before the ETA is cut
        if width >= 5:
            done = int(width * step / max(self.total, 1))
            info = f"[{'#' * done}{'.' * (width - done)}] {info}"
        line = f"{info} {terms}".rstrip()[:max(cols, 1)]
        self.stream.write("\r" + line.ljust(self.shown))
        self.shown = len(line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = 0


def _interactive(stream) -> bool:
    """A terminal, or a Jupyter notebook's output (not a terminal, but it redraws a line on
    ``\\r`` as one does): where a progress line is shown by default."""
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return True
    return "ipykernel" in sys.modules and stream in (sys.stderr, sys.stdout)


def _columns(stream) -> int:
    """The width of the terminal ``stream`` writes to, else :data:`_DEFAULT_COLUMNS`."""
    try:
        cols = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError, TypeError):
        return _DEFAULT_COLUMNS
    return cols if cols > 0 else _DEFAULT_COLUMNS


def _fmt(seconds: float) -> str:
    if seconds != seconds:
        return "--:--"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
