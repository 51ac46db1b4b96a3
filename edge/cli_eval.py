"""``edgecnn eval MODEL --data PATH``: the task's metrics, the same code for .keras and .tflite."""

from __future__ import annotations

import argparse
import importlib

EVALUATORS = {"ecg": "edgecnn.edge.eval_ecg", "detect": "edgecnn.edge.eval_detect", "face": "edgecnn.edge.eval_face"}


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a .tflite or .keras model on labelled data",
                       description="Task-specific options follow the common ones; see `edgecnn eval MODEL --help-task`.")
    p.add_argument("model", help="a .tflite, .keras or builtin:NAME")
    p.add_argument("--data", required=True, help="labelled data (folder, file or builtin:synthetic)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--report", default=None, help="folder for the report (JSON, markdown, PNGs)")
    p.add_argument("--threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--help-task", action="store_true", help="show the task's own options")
    p.set_defaults(func=run, task_argv=[])
    p.set_defaults(_accepts_unknown=True)


def evaluator(task: str | None):
    from .errors import ModelFileError

    if task not in EVALUATORS:
        raise ModelFileError(f"no evaluator for task {task!r}; this model's metadata must name one of {sorted(EVALUATORS)}")
    return importlib.import_module(EVALUATORS[task])


def task_args(module, argv: list[str], base: argparse.Namespace, show_help: bool = False) -> argparse.Namespace:
    from .cli import OneLineParser

    parser = OneLineParser(prog=f"edgecnn eval MODEL --data PATH [{base.task} options]", add_help=False)
    module.add_eval_args(parser)
    if show_help:
        parser.print_help()
        raise SystemExit(0)
    ns, rest = parser.parse_known_args(argv)
    if rest:
        raise ValueError(f"unknown option(s) for {base.task} evaluation: {' '.join(rest)}")
    merged = vars(base).copy()
    merged.update(vars(ns))
    return argparse.Namespace(**merged)


def run(args) -> int:
    from .cli import emit_json
    from .loader import open_model

    model = open_model(args.model, num_threads=args.threads)
    args.task = model.task
    module = evaluator(model.task)
    full = task_args(module, args.task_argv, args, show_help=args.help_task)
    if args.report:  # built beside the target and swapped in whole: never a mix of two runs
        from .fileio import atomic_folder, atomic_write_json

        with atomic_folder(args.report) as stage:
            full.report = str(stage)
            result = _evaluate(module, model, full, args)
            atomic_write_json(stage / "eval.json", result)
    else:
        result = _evaluate(module, model, full, args)
    if args.json:
        emit_json(result)
    else:
        print(format_text(result))
    return 0


def _evaluate(module, model, full: argparse.Namespace, args) -> dict:
    result = module.evaluate(model, full)
    return {"model": str(args.model), "task": model.task, "backend": model.backend, **result}


def format_text(result: dict, indent: str = "") -> str:
    lines = []
    for key, value in result.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(format_text(value, indent + "  "))
        elif isinstance(value, float):
            lines.append(f"{indent}{key}: {value:.4f}")
        elif isinstance(value, list) and len(value) > 12:
            lines.append(f"{indent}{key}: [{len(value)} items]")
        else:
            lines.append(f"{indent}{key}: {value}")
    return "\n".join(lines)
