"""Command line: ``python -m hsproto demo``, ``python -m hsproto plugins`` and
``python -m hsproto tune``.

Each subcommand imports what it needs when it runs (torch, skorch, optuna, the
estimators), so ``--help`` and argument errors answer at once; ``import hsproto`` itself
is lazy (tests/test_lazy_imports.py).
"""

from __future__ import annotations

import argparse
import sys
import warnings


def _demo(args):
    from ._demo import run

    run(picture=args.picture)
    return 0


def _plugins(args):
    import time

    from .registry import GROUPS, list_plugins

    short = {g.rsplit(".", 1)[1]: g for g in GROUPS}
    groups = [short.get(t, t) for t in args.targets if t in short or t in GROUPS]
    names = [t for t in args.targets if t not in short and t not in GROUPS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        infos = [i for g in (groups or GROUPS) for i in list_plugins(g)]
    if names:
        infos = [i for i in infos if i.name in names or i.qualified_name in names]
    # columns as wide as their longest entry (a long name must not shift the others)
    width = {key: max([len(key), *(len(getattr(i, key)) for i in infos)])
             for key in ("group", "name", "distribution", "version")}
    print(" ".join(f"{key:<{width[key]}}" for key in width) + " status")
    broken = False
    for n, info in enumerate(infos, 1):
        status, reason = info.status, info.error
        if args.check and status == "ok":
            print(f"[{n}/{len(infos)}] checking {info.group} {info.qualified_name} ...",
                  file=sys.stderr, flush=True)
            start = time.perf_counter()
            status, reason = _contract(info, fit=args.fit)
            reason += f", {time.perf_counter() - start:.1f}s" if status == "ok" else ""
        broken = broken or status == "broken"
        status += f" ({reason})" if reason else ""
        print(" ".join(f"{getattr(info, key):<{width[key]}}" for key in width) + f" {status}",
              flush=True)
    return 1 if broken else 0


#: Sizes of the quick strategy check (one each of D = 2, a small simplex, K > D + 1 and
#: a power-of-two D); ``check_prototype_strategy`` itself tries eight by default.
QUICK_SIZES = ((2, 2), (3, 4), (4, 3), (6, 3))


def _contract(info, fit=False):
    """Run hsproto.testing's checker on one loaded plugin: (status, reason). Quick by
    default: fewer strategy sizes and no backbone fit (``fit=True`` adds the fit)."""
    from . import testing

    kind = info.group.rsplit(".", 1)[1]
    checker = {"prototypes": lambda n: testing.check_prototype_strategy(n, sizes=QUICK_SIZES),
               "losses": testing.check_loss,
               "backbones": lambda n: testing.check_backbone(n, fit=fit)}[kind]
    try:
        checker(info.qualified_name)
    except testing.ContractError as exc:
        return "broken", f"contract: {exc}"
    return "ok", "contract checked"


_TUNE_DATASETS = ("digits", "diabetes", "rotated-digits")


def _tune_problem(dataset, n_samples, seed):
    """(X, y, estimator, score name) of a bundled data set, optionally subsampled."""
    import numpy as np

    from .datasets import load_diabetes_data, load_digits_data, load_rotated_digits
    from .estimators import HypersphericalClassifier, HypersphericalRegressor, JointEstimator

    if dataset == "digits":
        (X, y), estimator, metric = load_digits_data(), HypersphericalClassifier(), "accuracy"
    elif dataset == "diabetes":
        (X, y), estimator, metric = load_diabetes_data(), HypersphericalRegressor(), "R^2"
    else:
        (X, y), estimator = load_rotated_digits(), JointEstimator("cnn")
        metric = "mean of accuracy and R^2"
    if n_samples is not None and n_samples < len(X):
        keep = np.sort(np.random.default_rng(seed).permutation(len(X))[:n_samples])
        X, y = X[keep], y[keep]
    return X, y, estimator, metric


def _tune(args):
    import optuna

    from .tuning import default_search_space, tune

    X, y, estimator, metric = _tune_problem(args.dataset, args.n_samples, args.seed)
    space = default_search_space(estimator, X, y)
    if args.max_epochs is not None:
        space.pop("max_epochs")
        estimator.set_params(max_epochs=args.max_epochs)
    name = args.study_name or (f"hsproto-{args.dataset}" if args.storage else None)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study, _ = tune(estimator, X, y, search_space=space, n_trials=args.n_trials,
                        timeout=args.timeout, cv=args.cv, storage=args.storage,
                        study_name=name, n_jobs=args.n_jobs, pruning=not args.no_pruning,
                        random_state=args.seed, show_progress_bar=True, refit=False,
                        heartbeat_interval=args.heartbeat_interval)
    except (ValueError, ConnectionError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    states = [t.state.name.lower() for t in study.get_trials(deepcopy=False)]
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("complete", "pruned", "fail"))
    print(f"study {study.study_name!r} on {args.dataset} ({len(X)} samples): {counts}")
    if "complete" not in states:
        print("no trial completed: nothing to report")
        return 1
    best = study.best_trial
    print(f"best {args.cv}-fold {metric}: {best.value:.4f} (trial {best.number})")
    print("best parameters:")
    for key, value in sorted(best.params.items()):
        print(f"  {key:<14} {value:.4g}" if isinstance(value, float)
              else f"  {key:<14} {value}")
    return 0


def _add_tune_parser(sub):
    p = sub.add_parser("tune", help="tune an estimator on a bundled data set with Optuna")
    p.add_argument("--dataset", choices=_TUNE_DATASETS, default="digits",
                   help="digits: HypersphericalClassifier, diabetes: HypersphericalRegressor, "
                        "rotated-digits: JointEstimator('cnn') (default: digits)")
    p.add_argument("--n-trials", type=int, default=20,
                   help="finished trials the study should hold (default: 20)")
    p.add_argument("--timeout", type=float, default=None, help="seconds for this worker")
    p.add_argument("--cv", type=int, default=5, help="cross-validation folds (default: 5)")
    p.add_argument("--storage", default=None,
                   help="sqlite:///study.db or postgresql://user:password@host:port/db "
                        "(default: in memory)")
    p.add_argument("--study-name", default=None,
                   help="resume or share this study (default with --storage: "
                        "hsproto-<dataset>)")
    p.add_argument("--no-pruning", action="store_true", help="run every trial to the end")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the sampler, the fits and --n-samples (default: 0)")
    p.add_argument("--n-samples", type=int, default=None,
                   help="tune on a random subset of this many samples")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="fix max_epochs instead of tuning it")
    p.add_argument("--n-jobs", type=int, default=1, help="parallel trials in this worker")
    p.add_argument("--heartbeat-interval", type=int, default=60,
                   help="seconds between worker heartbeats for a PostgreSQL/MySQL storage; a "
                        "trial silent for twice as long is marked failed (default: 60)")
    p.set_defaults(func=_tune)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hsproto")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="the main job: show what hsproto does")
    p.add_argument("--picture", default="hsproto_demo_joint.png",
                   help="where to save the joint model's S^2 picture ('' to skip)")
    p.set_defaults(func=_demo)
    p = sub.add_parser("plugins", help="list registered plugins and their status")
    p.add_argument("targets", nargs="*", metavar="GROUP_OR_NAME",
                   help="groups (prototypes, losses, backbones) and/or plugin names, in any "
                        "mix (default: every plugin of every group)")
    p.add_argument("--check", action="store_true",
                   help="also run hsproto.testing's contract checks on every loaded plugin "
                        "(quick: four strategy sizes, no backbone fit)")
    p.add_argument("--fit", action="store_true",
                   help="with --check: also fit a classifier on each backbone (slower)")
    p.set_defaults(func=_plugins)
    _add_tune_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
