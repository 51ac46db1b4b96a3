"""The ``edgecnn`` command: one dispatcher over every verb.

It sits outside ``edge/`` because it also registers ``train`` and ``convert`` (which need
TensorFlow when they run): the device runtime in ``edgecnn.edge`` never imports this module. Task
verbs come from the task registry (``edgecnn.tasks``); each lives in its task's room. Verb modules
import nothing heavy at module level, so ``edgecnn --help`` stays fast on the device.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from edgecnn import tasks
from edgecnn.edge.core.cliutil import OneLineParser, emit_json, fail
from edgecnn.edge.core.errors import BackendError, EdgeError
from edgecnn.edge.core.loader import register_opener

# verbs that serve every task, then one verb per task (its room's cli), then the workstation verbs
COMMON_VERBS = ("edgecnn.edge.verbs.info", "edgecnn.edge.verbs.bench", "edgecnn.edge.verbs.eval")
WORKSTATION_VERBS = ("edgecnn.train.cli", "edgecnn.convert.cli")
TRAIN_EXTRA_HINT = "needs TensorFlow: pip install 'edgecnn[train]' (or `make install`)"


def verb_modules() -> list[str]:
    return [*COMMON_VERBS, *(f"{t.edge_room}.cli" for t in tasks.TASKS.values()), *WORKSTATION_VERBS]


def open_keras(path, *, task=None, **_):
    """``eval``/``info`` on a ``.keras`` file: the float model through Keras (workstation only)."""
    if importlib.util.find_spec("tensorflow") is None:
        raise BackendError(f"{path}: evaluating a .keras model {TRAIN_EXTRA_HINT} (or convert it and use the .tflite)")
    from edgecnn.train.core.keras_model import KerasModel

    return KerasModel(path, task=task)


def build_parser() -> argparse.ArgumentParser:
    from edgecnn import __version__

    parser = OneLineParser(
        prog="edgecnn", description="Train, convert to int8 TFLite, and run CNNs on the edge.")
    parser.add_argument("--version", action="version", version=f"edgecnn {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for module in verb_modules():
        if importlib.util.find_spec(module) is None:
            continue
        importlib.import_module(module).register(sub)
    return parser


def main(argv=None) -> int:
    register_opener(".keras", open_keras)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not getattr(args, "_accepts_unknown", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.task_argv = extra
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgecnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except (EdgeError, ValueError, TypeError, OSError) as exc:
        if os.environ.get("EDGECNN_DEBUG"):
            raise
        if isinstance(exc, OSError) and not getattr(exc, "filename", None) and not isinstance(exc, FileNotFoundError):
            msg = str(exc)
        else:
            msg = str(exc) if not isinstance(exc, OSError) else f"{exc.filename}: {exc.strerror}"
        return fail(" ".join(msg.split()) or type(exc).__name__)


__all__ = ["OneLineParser", "build_parser", "emit_json", "main", "open_keras"]


if __name__ == "__main__":
    sys.exit(main())

