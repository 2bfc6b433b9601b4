"""The fused jet kernel of the tanh MLP: a C++ fast path under the jet engine.

For the network pinnlab builds by default (:class:`~pinnlab.models.MLP` with tanh),
float32 on the CPU, jets of order two at most (the PDEs of most problems: Burgers,
heat, Poisson, Navier-Stokes, waves, Helmholtz) and widths up to :data:`MAX_WIDTH`,
:class:`MLPNet`'s jet rule runs ``_mlp_jet.cpp`` instead of one tensor operation per
layer and jet component. Each tile of 64 points passes through every layer while it
sits in the cache, with register-blocked products vectorised along the points; the
backward pass is a second call that recomputes the jets' activations from the saved
pre-activations and accumulates the weight gradients per thread, in a fixed order
(results do not depend on timing, only on the thread count, as with MKL).

The two kernels are torch operators (``torch.ops.pinnlab.mlp_tanh_jet`` and its
backward) under an ``autograd.Function`` with ``setup_context``: eager training calls
them directly, ``torch.compile`` keeps them in its graphs as opaque calls (so the
one-graph Adam step of :mod:`pinnlab.fused` fuses everything around them), and
``torch.func.grad`` differentiates through them. The backward is first order: a
``create_graph=True`` backward through the kernel raises and names ``kernel=False``.

The kernel is compiled on first use with the system C++ compiler (``$CXX``, else
``g++``/``c++``/``clang++``; about three seconds) into a per-user cache
(``$PINNLAB_CACHE``, else ``$XDG_CACHE_HOME/pinnlab``, else ``~/.cache/pinnlab``),
keyed by the source, the compiler and the CPU (it is built with ``-march=native``).
Without a compiler, or where the build fails, pinnlab says so once and uses the
tensor-operation path, which gives the same numbers. ``PINNLAB_KERNELS=0`` (or
``MLP(kernel=False)``) turns the kernel off. Points that require grad, third and
higher derivatives, other activations, float64 and GPUs use the tensor path.

Its tanh is a rational approximation, within 3.2e-7 (relative) of float64 tanh;
jets and gradients agree with the tensor-operation path to float32 rounding
(tests/test_mlp_kernel.py). Speed: ``benchmarks/speed.py`` (variants with and
without the kernel).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import torch

from ..errors import ConfigError, warn
from ..jets import Jet, order

_SOURCE = Path(__file__).with_name("_mlp_jet.cpp")
#: widest hidden layer the kernel is used for. Eager steps side by side (4 hidden layers,
#: 5120 points): at width 100 the tensor path (MKL's products) took 64 ms against the
#: kernel's 74; the kernel was 1.14x faster at width 64, 1.37x at 50 and 2x at 20
MAX_WIDTH = 64
_FLAGS = ["-O3", "-fopenmp", "-shared", "-fPIC", "-std=c++17", "-fno-math-errno"]
_lock = threading.Lock()
_state: dict = {}

_P = ctypes.c_void_p
_I = ctypes.c_int


def _cache_dir() -> Path:
    root = os.environ.get("PINNLAB_CACHE")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = os.path.join(xdg, "pinnlab") if xdg else os.path.join(os.path.expanduser("~"), ".cache", "pinnlab")
    return Path(root) / "kernels"


def _cpu_tag() -> str:
    """What a ``-march=native`` binary depends on: the CPU's model and feature flags."""
    tag = platform.machine() + platform.system()
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags", "Features", "CPU part"))]
        tag += "".join(sorted(set(lines)))
    except OSError:
        tag += platform.processor()
    return tag


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name.split()[0]):
            return name
    return None


def _build(cxx: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        errors = []
        for extra in (["-march=native"], []):
            proc = subprocess.run([*cxx.split(), *_FLAGS, *extra, str(_SOURCE), "-o", tmp],
                                  capture_output=True, text=True, timeout=300)
            if proc.returncode == 0:
                os.replace(tmp, target)  # atomic: concurrent builders write the same file
                return
            errors.append(proc.stderr.strip().splitlines()[-1:] or ["(no message)"])
        raise RuntimeError(f"{cxx} failed: {errors[-1][0]}")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def library():
    """The loaded kernel library, building it on first use; ``None`` where it is unavailable."""
    if "lib" in _state:
        return _state["lib"]
    with _lock:
        if "lib" in _state:
            return _state["lib"]
        lib = None
        if os.environ.get("PINNLAB_KERNELS", "1").strip().lower() in ("0", "false", "no", "off"):
            _state["why"] = "PINNLAB_KERNELS=0"
        elif sys.platform == "win32":
            _state["why"] = "not built on Windows"
        else:
            cxx = _compiler()
            if cxx is None:
                _state["why"] = "no C++ compiler found (set CXX, or install g++)"
            else:
                key = hashlib.sha256(_SOURCE.read_bytes() + repr((cxx, _FLAGS, _cpu_tag())).encode())
                path = _cache_dir() / f"mlpjet-{key.hexdigest()[:20]}.so"
                try:
                    if not path.exists():
                        _build(cxx, path)
                    lib = ctypes.CDLL(str(path))
                    _declare(lib)
                    _state["tile"] = lib.pinnlab_mlpjet_tile()
                except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                    _state["why"] = f"building {_SOURCE.name} failed ({exc})"
                    lib = None
            if lib is None:
                warn(f"pinnlab's fused MLP jet kernel is unavailable: {_state['why']}; training uses "
                     f"tensor operations instead (same results, slower on CPU)")
        _state["lib"] = lib
        return lib


def unavailable_reason() -> str | None:
    """Why :func:`library` returned ``None`` (``None`` when it loaded)."""
    library()
    return _state.get("why")


def _declare(lib) -> None:
    lib.pinnlab_mlpjet_tile.restype = _I
    lib.pinnlab_mlpjet_tile.argtypes = []
    lib.pinnlab_mlpjet_forward.restype = None
    lib.pinnlab_mlpjet_forward.argtypes = [_I] * 7 + [_P] * 3 + [_P] * 6 + [_I]
    lib.pinnlab_mlpjet_backward.restype = None
    lib.pinnlab_mlpjet_backward.argtypes = [_I] * 7 + [_P] * 3 + [_P] * 7 + [_I]


def _save_floats(n, width: int, depth: int, nc: int, tile: int):
    """Floats the forward pass saves for the backward pass (as in ``_mlp_jet.cpp``)."""
    return (n + tile - 1) // tile * tile * depth * nc * width


def _sizes(params) -> tuple[int, int, int]:
    """(width, depth, outputs) of the MLP whose weights and biases are ``params``."""
    return params[0].shape[0], len(params) // 2 - 1, params[-1].shape[0]


def _wrapped(t: torch.Tensor) -> bool:
    """Whether ``t`` is a torch.func transform's wrapper (no data pointer of its own)."""
    return torch._C._functorch.is_functorch_wrapped_tensor(t)


def _ptrs(tensors) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])


_ARGS: dict = {}  # (layout, rows) -> the kernel's integer arrays (a training run reuses a few)


def _int_args(layout, rows) -> tuple:
    """The second derivatives' pairs and the row counts, from ``layout`` (``[tile, n1, n2,
    *pair_firsts, *pair_seconds]``, pairs of first-derivative positions; the tile size the
    library was built with is part of it, so that a compiled graph's buffer size follows the
    library). The first derivatives' directions are in ``d1``'s columns."""
    key = (tuple(layout), tuple(rows))
    args = _ARGS.get(key)
    if args is None:
        tile, n2 = layout[0], layout[2]
        if tile != _state["tile"]:
            raise RuntimeError(f"pinnlab's MLP jet kernel: tile {tile} in the graph, {_state['tile']} in "
                               "the library")
        arrays = [layout[3:3 + n2], layout[3 + n2:3 + 2 * n2]]
        args = tuple((ctypes.c_int * max(len(a), 1))(*a) for a in arrays) + (
            (ctypes.c_int64 * len(rows))(*rows),)
        if len(_ARGS) > 256:
            _ARGS.clear()
        _ARGS[key] = args
    return args


def _jet_impl(xn, d1, params, layout, rows, save: bool = True):
    n, d = xn.shape
    width, depth, m = _sizes(params)
    out = xn.new_empty((len(rows), n, m))
    buf = xn.new_empty(_save_floats(n, width, depth, len(rows), layout[0]) if save else 0)
    _state["lib"].pinnlab_mlpjet_forward(n, d, width, depth, m, layout[1], layout[2], *_int_args(layout, rows),
                                         xn.data_ptr(), d1.data_ptr(), _ptrs(params[0::2]), _ptrs(params[1::2]),
                                         out.data_ptr(), buf.data_ptr() if save else None, torch.get_num_threads())
    return out, buf


def _jet_backward_impl(xn, params, buf, gout, layout, rows):
    n, d = xn.shape
    width, depth, m = _sizes(params)
    grads = [torch.empty_like(p) for p in params]
    gd1 = xn.new_zeros((width, max(layout[1], 1)))
    gout = gout.contiguous()
    _state["lib"].pinnlab_mlpjet_backward(n, d, width, depth, m, layout[1], layout[2], *_int_args(layout, rows),
                                          xn.data_ptr(), _ptrs(params[0::2]), buf.data_ptr(), gout.data_ptr(),
                                          _ptrs(grads[0::2]), _ptrs(grads[1::2]), gd1.data_ptr(),
                                          torch.get_num_threads())
    return grads + [gd1]


# The two kernels as torch operators, so that torch.compile keeps them in its graphs as opaque
# calls (declared with the low-level API: a call costs 12 us of dispatch against 45 us for
# torch.library.custom_op). Their gradient is _MLPJet's; eager code calls the implementations.
#   pinnlab::mlp_tanh_jet: jets (nc, n, m) of the tanh MLP `params` (W_0, b_0, ..., W_L, b_L) at
#     the normalised points xn, and the buffer its backward pass reads; d1 = the first layer's
#     derivative columns W_0[:, directions] * scale; rows: per component, how many leading
#     points it is wanted for.
#   pinnlab::mlp_tanh_jet_backward: [dW_0, db_0, ..., dW_L, db_L, dd1] given gout = dL/d(jets).
_LIB = torch.library.Library("pinnlab", "DEF")
_LIB.define("mlp_tanh_jet(Tensor xn, Tensor d1, Tensor[] params, int[] layout, SymInt[] rows) -> (Tensor, Tensor)")
_LIB.define("mlp_tanh_jet_backward(Tensor xn, Tensor[] params, Tensor buf, Tensor gout, int[] layout, "
            "SymInt[] rows) -> Tensor[]")
_LIB.impl("mlp_tanh_jet", _jet_impl, "CPU")
_LIB.impl("mlp_tanh_jet_backward", _jet_backward_impl, "CPU")


@torch.library.register_fake("pinnlab::mlp_tanh_jet")
def _(xn, d1, params, layout, rows):
    n = xn.shape[0]
    width, depth, m = _sizes(params)
    return xn.new_empty((len(rows), n, m)), xn.new_empty(_save_floats(n, width, depth, len(rows), layout[0]))


@torch.library.register_fake("pinnlab::mlp_tanh_jet_backward")
def _(xn, params, buf, gout, layout, rows):
    return [torch.empty_like(p) for p in params] + [xn.new_empty((params[0].shape[0], max(layout[1], 1)))]


class _MLPJet(torch.autograd.Function):
    """Autograd for the two kernels (with ``setup_context``, so ``torch.func.grad`` and the
    fused compiled step can differentiate through it; Dynamo sees the kernels as opaque ops)."""

    @staticmethod
    def forward(xn, d1, layout, rows, *params):
        if torch.compiler.is_compiling():
            return torch.ops.pinnlab.mlp_tanh_jet.default(xn, d1, list(params), layout, rows)
        return _jet_impl(xn, d1, params, layout, rows)

    @staticmethod
    def setup_context(ctx, inputs, output):
        xn, _, layout, rows, *params = inputs
        ctx.layout, ctx.rows = layout, rows
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(xn, output[1], *params)

    @staticmethod
    def backward(ctx, gout, _gbuf):
        xn, buf, *params = ctx.saved_tensors
        if torch.is_grad_enabled() and not _wrapped(gout):
            # backward(create_graph=True): a second derivative through the kernel would be zero
            raise ConfigError("the fused MLP jet kernel gives first derivatives with respect to the "
                              "weights only (this backward asked for a graph to differentiate again); "
                              "use MLP(kernel=False) for higher derivatives")
        with torch.no_grad():  # first order only: the kernel has no derivative of its own
            if torch.compiler.is_compiling() or _wrapped(gout):
                grads = torch.ops.pinnlab.mlp_tanh_jet_backward.default(xn, params, buf, gout, ctx.layout,
                                                                         ctx.rows)
            else:
                grads = _jet_backward_impl(xn, params, buf, gout, ctx.layout, ctx.rows)
        n1 = ctx.layout[1]
        return (None, grads[-1][:, :n1] if n1 else None, None, None, *grads[:-1])


def jet_forward(net, jet: Jet) -> Jet | None:
    """``net``'s output jet through the kernel, or ``None`` where the kernel does not apply.

    ``net`` is an :class:`~pinnlab.models.mlp.MLPNet`; ``jet`` must be the input jet
    (:meth:`Jet.input`) of float32 CPU points.
    """
    if not getattr(net, "kernel", False) or not jet.is_input or jet.max_order > 2:
        return None
    x = jet.value
    if x.dtype != torch.float32 or x.device.type != "cpu" or x.ndim != 2 or x.shape[0] == 0 or x.requires_grad:
        return None
    layers = list(net.net)
    norm, linears, acts = layers[0], layers[1::2], layers[2:-1:2]
    if (any(a.name != "tanh" for a in acts) or any(lin.bias is None for lin in linears)
            or linears[0].out_features > MAX_WIDTH):
        return None
    params = [t for lin in linears for t in (lin.weight, lin.bias)]
    if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in params):
        return None
    if "lib" not in _state and not torch.compiler.is_compiling():
        library()
    if _state.get("lib") is None:  # compiled code reads what prepare() (or an eager call) found
        return None
    n, d = x.shape
    firsts = [a for a in jet.indices if order(a) == 1]
    seconds = [a for a in jet.indices if order(a) == 2]
    dirs = [a.index(1) for a in firsts]
    pos = {i: k for k, i in enumerate(dirs)}
    pa, pb = [], []
    for a in seconds:
        ij = [i for i, c in enumerate(a) for _ in range(c)]
        pa.append(pos[ij[0]])
        pb.append(pos[ij[-1]])
    comps = [jet.indices[0], *firsts, *seconds]
    rows = [min(jet.rows.get(a, n), n) for a in comps]
    scale = norm.scale.to(torch.float32)
    xn = ((x - norm.center) * scale).contiguous()
    w1 = linears[0].weight
    d1 = (w1[:, dirs] * scale[dirs]).contiguous() if dirs else w1.new_zeros((w1.shape[0], 1))
    params = [p.contiguous() for p in params]
    layout = [_state["tile"], len(dirs), len(pa), *pa, *pb]
    plain = not torch.compiler.is_compiling() and not any(_wrapped(t) for t in (xn, d1, *params))
    if plain and not (torch.is_grad_enabled() and any(p.requires_grad for p in params)):
        out, _ = _jet_impl(xn, d1, params, layout, rows, save=False)  # nothing to differentiate
    else:
        out, _ = _MLPJet.apply(xn, d1, layout, rows, *params)
    c = {a: (out[k] if r == n else out[k, :r]) for k, (a, r) in enumerate(zip(comps, rows))}
    return Jet(jet.indices, c, jet.rows)


def prepare(net) -> None:
    """Builds (or loads) the kernel for ``net`` ahead of training, outside any compiled code."""
    if getattr(net, "kernel", False):
        library()
