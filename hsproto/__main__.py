"""Command line: ``python -m hsproto demo`` and ``python -m hsproto plugins``."""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

DEMO_SIZES = [(10, 2), (12, 3), (14, 3), (24, 3), (10, 9), (100, 100), (100, 50),
              (100, 25), (100, 10), (200, 64), (1000, 128)]


def separation_table(sizes, strategy="auto", random_state=0, out=sys.stdout):
    """Print max pairwise cosine of ``strategy`` next to the known limit for each size."""
    from .prototypes import make_prototypes
    from .prototypes.auto import choose
    from .prototypes.metrics import known_limit, pairwise_cosine_stats

    header = (f"{'K x D':>11} {'method':>10} {'max cos':>9} {'angle':>8} "
              f"{'limit':>9} {'kind':>11} {'gap':>9} {'time':>7}")
    print(header, file=out)
    print("-" * len(header), file=out)
    rows = []
    for k, d in sizes:
        start = time.perf_counter()
        P = make_prototypes(strategy, k, d, random_state=random_state)
        elapsed = time.perf_counter() - start
        mx = pairwise_cosine_stats(P)["max"]
        limit, kind = known_limit(k, d)
        method = choose(k, d) if strategy == "auto" else strategy
        print(f"{f'{k} x {d}':>11} {method:>10} {mx:9.4f} {math.degrees(math.acos(mx)):7.3f}° "
              f"{limit:9.4f} {kind:>11} {mx - limit:9.2e} {elapsed:6.2f}s", file=out)
        rows.append({"K": k, "D": d, "max": mx, "limit": limit, "kind": kind,
                     "time": elapsed})
    return rows


def _demo(args):
    from ._demo import run

    run(picture=args.picture)
    return 0


def _plugins(args):
    from .registry import list_plugins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        infos = list_plugins(args.group)
    if args.names:
        infos = [i for i in infos if i.name in args.names or i.qualified_name in args.names]
    print(f"{'group':<20} {'name':<14} {'distribution':<18} {'version':<9} status")
    broken = False
    for info in infos:
        status, reason = info.status, info.error
        if args.check and status == "ok":
            status, reason = _contract(info)
        broken = broken or status == "broken"
        status += f" ({reason})" if reason else ""
        print(f"{info.group:<20} {info.name:<14} {info.distribution:<18} "
              f"{info.version:<9} {status}", flush=True)
    return 1 if broken else 0


def _contract(info):
    """Run hsproto.testing's checker on one loaded plugin: (status, reason)."""
    from . import registry, testing

    obj = registry.get(info.group, info.qualified_name)
    kind = info.group.rsplit(".", 1)[1]
    checker = {"prototypes": testing.check_prototype_strategy, "losses": testing.check_loss,
               "backbones": testing.check_backbone}[kind]
    try:
        checker(obj)
    except testing.ContractError as exc:
        return "broken", f"contract: {exc}"
    return "ok", "contract checked"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hsproto")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="the main job: show what hsproto does")
    p.add_argument("--picture", default="hsproto_demo_joint.png",
                   help="where to save the joint model's S^2 picture ('' to skip)")
    p.set_defaults(func=_demo)
    p = sub.add_parser("plugins", help="list registered plugins and their status")
    p.add_argument("group", nargs="?", default=None,
                   help="prototypes, losses or backbones (default: all)")
    p.add_argument("names", nargs="*", help="only these plugins (default: all)")
    p.add_argument("--check", action="store_true",
                   help="also run hsproto.testing's contract checks on every loaded plugin")
    p.set_defaults(func=_plugins)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
