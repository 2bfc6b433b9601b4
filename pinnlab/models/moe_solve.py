"""The per-expert solves of PI-HC-MoE, with implicit-function-theorem gradients.

Chalapathi, Du & Krishnapriyan, "Scaling physics-informed hard constraints with
mixture-of-experts", ICLR 2024: the final-layer coefficients omega of every
expert minimise

    Phi(omega) = 1/2 |r(omega, theta)|^2 + 1/2 ridge |omega|^2

over the expert's constraint points, where r stacks the weighted PDE and
condition residuals of u = b(x; theta) . omega.

* Linear problems: r = A omega - y, so omega solves a ridge least-squares problem
  (:func:`ridge_lstsq`, a batched QR solve).
* Nonlinear problems: :func:`levenberg_marquardt`, damped steps with a bounded
  number of iterations, wrapped by :class:`LMSolve`. The paper damps Gauss-Newton
  (H = J^T J + ridge I); that converges only linearly when the residual stays
  large at the optimum, as it does whenever the basis cannot represent the
  solution, so by default the step uses the exact Hessian of Phi (its
  second-order residual term through autograd; ``lm_hessian="gauss_newton"``
  gives the paper's form).

Both backward passes use the implicit function theorem instead of unrolling the
iterations: at the optimum G(omega*, theta) = dPhi/domega = 0, so for a loss L

    dL/dtheta = -d/dtheta [ v . G(omega*, theta) ],   v = H^{-1} dL/domega,

with H = dG/domega the exact Hessian of Phi at omega* (Gauss-Newton term J^T J,
the second-order residual term sum_i r_i d2 r_i and the ridge).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


# ------------------------------------------------------------------ linear
class RidgeLstsq(torch.autograd.Function):
    """omega = (A^T A + ridge I)^{-1} A^T y for a batch (K, R, N), (K, R); IFT backward."""

    @staticmethod
    def forward(ctx, A, y, ridge):
        # QR of the augmented system [A; sqrt(ridge) I] (condition number of A, not its square):
        # A^T A + ridge I = R^T R and omega = R^{-1} Q^T [y; 0]
        N = A.shape[-1]
        eye = torch.eye(N, dtype=A.dtype, device=A.device).expand(*A.shape[:-2], N, N)
        Q, R = torch.linalg.qr(torch.cat([A, (ridge ** 0.5) * eye], dim=-2))
        rhs = (Q[..., :A.shape[-2], :].transpose(-1, -2) @ y.unsqueeze(-1))
        omega = torch.linalg.solve_triangular(R, rhs, upper=True).squeeze(-1)
        ctx.save_for_backward(A, y, omega, R)
        return omega

    @staticmethod
    def backward(ctx, g):
        A, y, omega, R = ctx.saved_tensors
        # v = (A^T A + ridge I)^{-1} g = R^{-1} R^{-T} g
        w = torch.linalg.solve_triangular(R.transpose(-1, -2), g.unsqueeze(-1), upper=False)
        v = torch.linalg.solve_triangular(R, w, upper=True)                 # (K, N, 1)
        r = A @ omega.unsqueeze(-1) - y.unsqueeze(-1)                        # (K, R, 1)
        Av = A @ v                                                           # (K, R, 1)
        gA = -(r @ v.transpose(-1, -2) + Av @ omega.unsqueeze(-2))
        gy = Av.squeeze(-1)
        return gA, gy, None


def ridge_lstsq(A: torch.Tensor, y: torch.Tensor, ridge: float) -> torch.Tensor:
    """Batched ridge least squares with implicit-function-theorem gradients."""
    return RidgeLstsq.apply(A, y, float(ridge))


# --------------------------------------------------------------- nonlinear
@dataclass
class LMReport:
    """What the last Levenberg-Marquardt solve did (per call, over all experts)."""

    iterations: int = 0
    converged: bool = False
    objective: float = float("nan")      # max over experts of Phi at the returned omega
    gradient: float = float("nan")       # max over experts of |dPhi/domega|_inf


def _spd_solve(H: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Solve the batched symmetric systems H x = g in float64 (Cholesky, LU when H is indefinite)."""
    H64, g64 = H.double(), g.double().unsqueeze(-1)
    L, info = torch.linalg.cholesky_ex(H64)
    if bool((info == 0).all()):
        x = torch.cholesky_solve(g64, L)
    else:
        x = torch.linalg.solve(H64, g64)
    return x.squeeze(-1).to(g.dtype)


def levenberg_marquardt(objective, omega0: torch.Tensor, iterations: int, tol: float):
    """Minimise Phi(omega) for a batch of independent experts by damped Newton steps.

    ``objective(omega) -> (Phi (K,), g (K, n), H (K, n, n))`` gives the objective, its
    gradient and its Hessian (exact, or the Gauss-Newton J^T J + ridge I). A step solves
    (H + (mu s + shift) I) d = -g, with s the mean diagonal of H, ``shift`` lifting an
    indefinite H to positive definite, and mu adapted per expert (divided by 3 when
    the step lowers Phi, multiplied by 4 when it is rejected). An expert stops when an
    accepted step, or a step damped no more than at the start, changes omega by at most
    ``tol`` (relative); at most ``iterations`` steps are tried.
    Returns ``(omega, LMReport)``.
    """
    omega = omega0.clone()
    K, n = omega.shape
    eye = torch.eye(n, dtype=omega.dtype, device=omega.device)
    phi, g, H = objective(omega)
    mu0 = 1e-3
    mu = torch.full((K,), mu0, dtype=omega.dtype, device=omega.device)
    done = torch.zeros(K, dtype=torch.bool, device=omega.device)
    it = 0
    for it in range(1, iterations + 1):
        Hs = 0.5 * (H + H.transpose(-1, -2))
        scale = Hs.diagonal(dim1=-2, dim2=-1).abs().mean(-1).clamp_min(1e-30)
        lowest = torch.linalg.eigvalsh(Hs.double()).amin(-1).to(H.dtype)
        shift = mu * scale + torch.relu(-lowest) * 1.01
        step = -_spd_solve(Hs + shift[:, None, None] * eye, g)
        step = torch.where(done[:, None], torch.zeros_like(step), step)
        trial = omega + step
        phi_new, g_new, H_new = objective(trial)
        # near the optimum Phi stops resolving progress (its rounding exceeds the gain), so a step
        # that leaves Phi unchanged to rounding but shrinks the gradient is accepted as well
        level = 8 * torch.finfo(phi.dtype).eps * phi.abs()
        shrinks = g_new.norm(dim=-1) < g.norm(dim=-1)
        accept = ((phi_new < phi) | ((phi_new <= phi + level) & shrinks)) & ~done & torch.isfinite(phi_new)
        small_step = step.norm(dim=-1) <= tol * (omega.norm(dim=-1) + tol)
        # a lightly damped step (mu at most its start) below tol: omega is already stationary to
        # tolerance, whether or not rounding lets the step lower Phi (a warm start at the optimum)
        stationary = small_step & (mu <= mu0)
        omega = torch.where(accept[:, None], trial, omega)
        g = torch.where(accept[:, None], g_new, g)
        H = torch.where(accept[:, None, None], H_new, H)
        phi = torch.where(accept, phi_new, phi)
        mu = torch.where(accept, (mu / 3).clamp_min(1e-12), mu * 4)
        done = done | (accept & small_step) | stationary | (mu > 1e12)
        if bool(done.all()):
            break
    return omega, LMReport(it, bool(done.all()), float(phi.max()), float(g.abs().max()))


class LMSolve(torch.autograd.Function):
    """omega* = argmin Phi(omega; inputs) by :func:`levenberg_marquardt`; gradients by the IFT.

    ``system`` provides ``rows(omega, inputs, jacobian) -> r`` or ``(r, J)`` for the
    residual rows (K, R) of u = b . omega, where ``inputs`` are the basis tensors
    that depend on the network parameters, and the settings ``ridge``,
    ``lm_iterations``, ``lm_tol`` and ``lm_hessian`` (``"exact"`` or
    ``"gauss_newton"``); the solve's report is stored on ``system.lm_report``.
    """

    @staticmethod
    def forward(ctx, system, omega0, *inputs):
        ridge = system.ridge

        def objective(omega):
            with torch.enable_grad():
                om = omega.detach().requires_grad_()
                if system.lm_hessian == "gauss_newton":
                    r, J = system.rows(om, inputs, jacobian=True)
                    r, J = r.detach(), J.detach()
                    eye = torch.eye(J.shape[-1], dtype=J.dtype, device=J.device)
                    return (0.5 * (r * r).sum(-1) + 0.5 * ridge * (omega * omega).sum(-1),
                            torch.einsum("kri,kr->ki", J, r) + ridge * omega,
                            J.transpose(-1, -2) @ J + ridge * eye)
                r = system.rows(om, inputs, jacobian=False)
                phi = 0.5 * (r * r).sum(-1) + 0.5 * ridge * (om * om).sum(-1)
                G, = torch.autograd.grad(phi.sum(), om, create_graph=True)
                H = _batched_hessian(G, om)
                return phi.detach(), G.detach(), H.detach()

        omega, report = levenberg_marquardt(objective, omega0.detach(), system.lm_iterations,
                                            system.lm_tol)
        system.lm_report = report
        ctx.system = system
        ctx.save_for_backward(omega, *inputs)
        return omega

    @staticmethod
    def backward(ctx, g):
        omega, *inputs = ctx.saved_tensors
        system = ctx.system
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_(t.is_floating_point()) for t in inputs]
            om = omega.detach().requires_grad_()
            r = system.rows(om, leaves, jacobian=False)
            phi = 0.5 * (r * r).sum() + 0.5 * system.ridge * (om * om).sum()
            G, = torch.autograd.grad(phi, om, create_graph=True)             # (K, n)
            H = _batched_hessian(G, om)                                       # (K, n, n)
            v = _spd_solve(0.5 * (H + H.transpose(-1, -2)), g)
            wanted = [x for x, need in zip(leaves, ctx.needs_input_grad[2:]) if need]
            grads = iter(torch.autograd.grad((G * v.detach()).sum(), wanted, allow_unused=True)
                         if wanted else [])
        out = []
        for need in ctx.needs_input_grad[2:]:
            gr = next(grads) if need else None
            out.append(None if gr is None else -gr)
        return (None, None, *out)


def _batched_hessian(G: torch.Tensor, om: torch.Tensor) -> torch.Tensor:
    """H[k] = dG[k]/domega[k] for independent experts (row j from d(sum_k G[k, j])/domega)."""
    n = G.shape[-1]
    eye = torch.eye(n, dtype=G.dtype, device=G.device)
    try:
        rows_ = torch.autograd.grad(G, om, grad_outputs=eye[:, None, :].expand(n, *G.shape),
                                    retain_graph=True, is_grads_batched=True)[0]   # (n, K, n)
    except RuntimeError:        # an op without a batching rule: one backward pass per row
        rows_ = torch.stack([torch.autograd.grad(G[:, j].sum(), om, retain_graph=True)[0]
                             for j in range(n)])
    return rows_.permute(1, 0, 2)


__all__ = ["LMReport", "LMSolve", "RidgeLstsq", "levenberg_marquardt", "ridge_lstsq"]
