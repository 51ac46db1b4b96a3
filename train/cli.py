"""``edgecnn train {ecg,detect,face}``: common flags here, the task's own flags in its module.

Nothing here imports TensorFlow at module level, so ``edgecnn --help`` stays fast on the device.
"""

from __future__ import annotations

import argparse
import importlib.util

from edgecnn import tasks

TRAIN_EXTRA_HINT = "training needs TensorFlow: pip install 'edgecnn[train]' (or `make install`)"


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="builtin:synthetic", help="training data (default: builtin:synthetic)")
    p.add_argument("--out", required=True, help="output folder (model.keras, model.keras.json, checkpoints/)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (task default when omitted)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (task default when omitted)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (task default when omitted)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--strategy", default="none", choices=("none", "mirrored", "multiworker"),
                   help="tf.distribute strategy (multiworker reads TF_CONFIG)")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="start afresh even if a backup exists")


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model (needs the [train] extra)",
                       description="Task options follow; `edgecnn train TASK --out X --help-task` lists them.")
    p.add_argument("task", choices=tasks.names())
    add_common_args(p)
    p.add_argument("--help-task", action="store_true", help="show the task's own options")
    p.set_defaults(func=run, task_argv=[], _accepts_unknown=True)


def require_tensorflow() -> None:
    """Fail with the install hint when TensorFlow is missing; else import it with its start-up
    notices (absl, oneDNN) kept off the terminal (errors still pass)."""
    if importlib.util.find_spec("tensorflow") is None:
        raise ValueError(TRAIN_EXTRA_HINT)
    from edgecnn.edge.core.native_log import TENSORFLOW_INFO, filtered_native_output

    with filtered_native_output(TENSORFLOW_INFO):
        import tensorflow  # noqa: F401


def run(args) -> int:
    require_tensorflow()
    module = tasks.get(args.task).train_module("recipe")
    from edgecnn.edge.core.cliutil import OneLineParser

    parser = OneLineParser(prog=f"edgecnn train {args.task} [common options]", add_help=False)
    module.add_train_args(parser)
    if args.help_task:
        parser.print_help()
        return 0
    ns, rest = parser.parse_known_args(args.task_argv)
    if rest:
        raise ValueError(f"unknown option(s) for `edgecnn train {args.task}`: {' '.join(rest)}")
    merged = {**vars(args), **vars(ns)}
    return int(module.run_train(argparse.Namespace(**merged)) or 0)
