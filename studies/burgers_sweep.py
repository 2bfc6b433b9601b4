"""A sweep of Burgers 1d: sampler, optimizer and learning rate, network size, loss weights, steps.

Run (one machine, embedded SQLite storage in runs/study_burgers_sweep/study.db)::

    pinnlab study studies/burgers_sweep.py --trials 50 --workers 2
    pinnlab study studies/burgers_sweep.py --trials 50 --workers 2 --set steps=2000   # fix a setting

Several machines share one study through one storage URL and study name::

    # once, on a machine that all can reach: a PostgreSQL server (or .ci/postgres.sh)
    pinnlab study studies/burgers_sweep.py --trials 200 --workers 4 \\
        --storage postgresql://pinnlab:pinnlab@db-host/pinnlab --study-name burgers-a
    # the same command on every other machine joins the same study

    pinnlab report runs/study_burgers_sweep --study postgresql://... --study-name burgers-a
    pinnlab study export --storage postgresql://... --study-name burgers-a --out best_burgers.py
    python best_burgers.py                    # re-runs the best configuration

Without a database server, a journal file on a shared disk works too:
``--storage journal:/shared/burgers.journal``.
"""

problem_script = "../problems/burgers1d.py"     # relative to this file

# on top of the problem script's settings (MLP 20x3, 8000+400+800 uniform points, a 3000-step
# Adam 1e-3 + L-BFGS + SSBroyden chain)
base = {"steps": 1000, "checkpoint_every": 0}

objectives = ("error",)          # ("error", "time") for an error / wall-time Pareto front
pruner = "median"                # or "hyperband", "none"
report_every = 100               # steps between intermediate errors (pruning)


def space(trial, fixed):
    """``fixed``: the settings before the search (problem settings, base, ``--set``)."""
    steps = int(fixed.get("steps", 1000))
    sampler = trial.suggest_categorical("sampler", ["uniform", "r3", "rad"])
    optimizer = trial.suggest_categorical("optimizer", ["adam", "adam+lbfgs"])
    opt = {"name": optimizer, "lr": trial.suggest_float("lr", 1e-4, 3e-2, log=True)}
    if optimizer == "adam+lbfgs":     # the last tenth of the step budget in L-BFGS
        opt.update(adam_steps=steps - max(steps // 10, 1), lbfgs_steps=max(steps // 10, 1))
    return {
        "sampler": {"name": sampler,
                    "n_interior": trial.suggest_int("n_interior", 500, 4000, log=True)},
        "optimizer": opt,
        "model": {"name": "mlp", "width": trial.suggest_int("width", 8, 48, step=8),
                  "depth": trial.suggest_int("depth", 2, 5)},
        "weighting": {"name": "fixed",
                      "weights": {"initial0": trial.suggest_float("w_initial", 1.0, 100.0, log=True),
                                  "dirichlet1": trial.suggest_float("w_boundary", 1.0, 100.0, log=True)}},
    }
