"""``edgecnn eval MODEL --data PATH``: the task's metrics, the same code for .keras and .tflite."""

from __future__ import annotations

import dataclasses

from edgecnn import tasks


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a .tflite or .keras model on labelled data",
                       description="Task-specific options follow the common ones; see `edgecnn eval MODEL --help-task`.")
    p.add_argument("model", help="a .tflite, .keras or builtin:NAME")
    p.add_argument("--data", required=True, help="labelled data (a folder or file; see the task's format)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--report", default=None, help="folder for the report (JSON, markdown, PNGs)")
    p.add_argument("--threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--help-task", action="store_true", help="show the task's own options")
    p.set_defaults(func=run, task_argv=[])
    p.set_defaults(_accepts_unknown=True)


def evaluator(task: str | None):
    """The task's ``evaluate`` module (from the task registry)."""
    from edgecnn.edge.core.errors import ModelFileError

    if task not in tasks.TASKS:
        raise ModelFileError(f"no evaluator for task {task!r}; this model's metadata must name one of {list(tasks.names())}")
    return tasks.get(task).edge_module("evaluate")


def parse_options(module, task: str, data: str, argv: list[str], report: str | None = None, show_help: bool = False):
    """The task's ``Options`` from its own flags ``argv`` (the CLI's only job: flags -> options)."""
    from edgecnn.edge.core.cliutil import OneLineParser

    parser = OneLineParser(prog=f"edgecnn eval MODEL --data PATH [{task} options]", add_help=False)
    module.add_eval_args(parser)
    if show_help:
        parser.print_help()
        raise SystemExit(0)
    ns, rest = parser.parse_known_args(argv)
    if rest:
        raise ValueError(f"unknown option(s) for {task} evaluation: {' '.join(rest)}")
    fields = {f.name for f in dataclasses.fields(module.Options)}
    given = {k: v for k, v in vars(ns).items() if k in fields}
    if isinstance(given.get("records"), list):
        given["records"] = tuple(given["records"])
    return module.Options(data=data, report=report, **given)


def run(args) -> int:
    from edgecnn.edge.core.cliutil import emit_json
    from edgecnn.edge.core.loader import open_model

    model = open_model(args.model, num_threads=args.threads)
    module = evaluator(model.task)
    opts = parse_options(module, model.task, args.data, args.task_argv, show_help=args.help_task)
    if args.report:  # built beside the target and swapped in whole: never a mix of two runs
        from edgecnn.edge.core.fileio import atomic_folder, atomic_write_json

        with atomic_folder(args.report) as stage:
            result = _evaluate(module, model, dataclasses.replace(opts, report=str(stage)), args)
            atomic_write_json(stage / "eval.json", result)
    else:
        result = _evaluate(module, model, opts, args)
    if args.json:
        emit_json(result)
    else:
        print(format_text(result))
    return 0


def _evaluate(module, model, opts, args) -> dict:
    result = module.evaluate(model, opts)
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
