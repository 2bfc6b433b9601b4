"""Classic PDEs through the public API: exact solutions, engines, and what the user sees."""

import fcntl
import io
import os
import pty
import re
import select
import struct
import termios

import numpy as np
import pytest
import sympy as sp
import torch

from pinnlab import Dirichlet, Disk, Interval, Neumann, Problem, solve
from pinnlab.progress import Progress

x, y = sp.symbols("x y")


def _terminal(columns: int):
    """A pseudo-terminal ``columns`` wide: (stream written by Progress, master fd to read)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # no "\n" -> "\r\n" translation: read back what was written
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return os.fdopen(slave, "w"), master


def _read_all(master: int) -> str:
    """Everything written to the terminal so far (reads until nothing more arrives)."""
    chunks = []
    while select.select([master], [], [], 0.5)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode()


def _row(n_terms: int, loss: float = 1.0) -> dict:
    row = {"step": 1, "loss": loss}
    row.update({f"loss_term{i}": 1e-3 for i in range(n_terms)})
    return row


def test_progress_line_fits_the_terminal_and_keeps_the_eta():
    """A system with many terms (Kovasznay: 3 equations, 3 conditions) gave a line wider than
    an 80-column terminal: it wrapped, and every redraw scrolled a new line."""
    stream, master = _terminal(80)
    try:
        bar = Progress(1000, enabled=True, stream=stream)
        for step in (1, 100, 200):
            bar.update(step, _row(8))
        stream.flush()
        out = _read_all(master)
    finally:
        stream.close()
        os.close(master)
    lines = [s for s in out.split("\r") if s]
    assert len(lines) == 3
    assert all(len(s) <= 79 for s in lines), [len(s) for s in lines]
    assert all("ETA" in s and "it/s" in s for s in lines)


def test_progress_keeps_the_eta_on_a_narrow_terminal():
    stream, master = _terminal(50)
    try:
        bar = Progress(1000, enabled=True, stream=stream)
        bar.update(1, _row(2))
        bar.update(100, _row(2))
        stream.flush()
        out = _read_all(master)
    finally:
        stream.close()
        os.close(master)
    last = [s for s in out.split("\r") if s][-1]
    assert len(last) <= 49 and "100/1000" in last
    assert re.search(r"ETA \d\d:\d\d", last), last


def test_progress_blanks_the_end_of_a_longer_previous_line():
    stream = io.StringIO()
    bar = Progress(1000, enabled=True, stream=stream)
    bar.update(1, _row(3))
    bar.update(100, _row(0))
    first, second = stream.getvalue().split("\r")[1:]
    assert len(second) >= len(first)
    assert second.rstrip() == second[:len(second.rstrip())] and "term0" not in second


def test_progress_is_silent_off_a_terminal():
    stream = io.StringIO()
    bar = Progress(10, stream=stream)
    bar.update(1, _row(1))
    bar.close()
    assert stream.getvalue() == ""


def test_hard_constraints_that_leave_no_term_are_refused_clearly():
    """A problem whose only term the hard-constraint model satisfies left an empty loss:
    ``AttributeError: 'int' object has no attribute 'backward'`` from inside the optimizer."""
    u = sp.Function("u")(x, y)
    from pinnlab import ConfigError, Rectangle
    problem = Problem([], [Dirichlet(u, x * y)], domain=Rectangle((0, 0), (1, 1)))
    with pytest.raises(ConfigError, match=r"nothing to train.*dirichlet0.*hard=False"):
        solve(problem, hard=True, steps=2, device="cpu", progress=False, report=False,
              model={"name": "mlp", "width": 4, "depth": 1})


class _Exact(torch.nn.Module):
    """The exact solution as a model (one dummy parameter so that Adam has something to hold)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.dummy = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, pts):
        return self.fn(pts) + 0 * self.dummy


def _losses_at(problem, model, engine="autograd", dtype="float64"):
    res = solve(problem, model=model, engine=engine, steps=1, device="cpu", dtype=dtype, progress=False,
                report=False, optimizer={"name": "adam", "lr": 1e-12},
                sampler={"name": "uniform", "n_interior": 64, "n_boundary": 32})
    return {k: v for k, v in res.history[0].items() if k.startswith("loss")}


def _beam():
    """Clamped beam u'''' = 24 on [0, 1]: u = x^2 (1 - x)^2, u = u' = 0 at both ends."""
    u = sp.Function("u")(x)
    return Problem([sp.Eq(u.diff(x, 4), 24)], [Dirichlet(u, 0), Neumann(u, 0)], domain=Interval(0, 1),
                   reference=x ** 2 * (1 - x) ** 2, name="beam")


def _disk():
    """Laplace(u) = -1 on the unit disk, u = 1 - r^2/4: du/dn = -1/2 on the right half."""
    u = sp.Function("u")(x, y)
    d = Disk((0, 0), 1)
    return Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2), -1)],
                   [Neumann(u, -sp.Rational(1, 2), on=d.boundary.where(lambda x, y: x > 0)),
                    Dirichlet(u, 1 - (x ** 2 + y ** 2) / 4, on=d.boundary.where(lambda x, y: x <= 0))],
                   domain=d, reference=1 - (x ** 2 + y ** 2) / 4, name="disk")


@pytest.mark.parametrize("case", ["beam", "disk"])
def test_every_term_vanishes_at_the_exact_solution(case):
    if case == "beam":
        problem, fn = _beam(), lambda p: (p[:, 0] ** 2 * (1 - p[:, 0]) ** 2)[:, None]
    else:
        problem, fn = _disk(), lambda p: (1 - (p[:, 0] ** 2 + p[:, 1] ** 2) / 4)[:, None]
    losses = _losses_at(problem, _Exact(fn))
    assert len(losses) == 4 and max(losses.values()) < 1e-24, losses


def test_jet_and_autograd_give_the_same_first_loss_on_a_fourth_order_problem():
    torch.manual_seed(0)
    a = _losses_at(_beam(), "mlp", engine="jet")
    b = _losses_at(_beam(), "mlp", engine="autograd")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-10, abs=1e-300), k


def test_progress_is_shown_by_default_in_a_terminal_or_a_notebook(monkeypatch):
    """Not in a log file or a pipe; in Jupyter (stderr is then the kernel's stream, no tty)."""
    import sys
    stream = io.StringIO()
    assert not Progress(10, stream=stream).enabled
    monkeypatch.setattr(sys, "stderr", stream)
    assert not Progress(10).enabled
    monkeypatch.setitem(sys.modules, "ipykernel", type(sys)("ipykernel"))
    assert Progress(10).enabled and not Progress(10, stream=io.StringIO()).enabled
