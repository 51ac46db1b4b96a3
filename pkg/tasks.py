"""The task registry: the one table that names edgecnn's tasks.

Everything that used to keep its own list of tasks (the CLI verbs, metadata validation, ``eval``,
``train``, ``convert`` and its accuracy gate, loading a ``.keras`` model) reads it from here. A new
task is one folder under ``edge/`` and one under ``train/`` with the modules below, plus one entry.

Each task's rooms follow one convention:

- ``edgecnn.edge.<task>.cli`` has ``register(subparsers)``: the task's device verb.
- ``edgecnn.edge.<task>.evaluate`` has ``Options`` (a dataclass), ``add_eval_args(parser)``,
  and ``evaluate(model, options) -> dict``; the flags' dest names are the ``Options`` field names.
- ``edgecnn.train.<task>.recipe`` has ``add_train_args(parser)``, ``run_train(args)`` and
  ``representative_dataset(metadata, data, n, seed)``; importing it registers the task's custom
  Keras objects (so a saved ``.keras`` file loads).

This module imports nothing but the standard library: the device reads it too.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    summary: str  # one line, for --help
    main_metric: str  # the evaluation key the conversion gate compares, float vs int8

    @property
    def edge_room(self) -> str:
        return f"edgecnn.edge.{self.name}"

    @property
    def train_room(self) -> str:
        return f"edgecnn.train.{self.name}"

    def edge_module(self, part: str):
        """``edgecnn.edge.<task>.<part>`` (``cli`` or ``evaluate``), imported."""
        return importlib.import_module(f"{self.edge_room}.{part}")

    def train_module(self, part: str = "recipe"):
        """``edgecnn.train.<task>.<part>``, imported (needs TensorFlow)."""
        return importlib.import_module(f"{self.train_room}.{part}")


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("ecg", "heartbeat classes (AAMI N/S/V/F/Q) from ECG records and live streams", "macro_f1"),
    Task("detect", "objects in images, video and camera frames (YOLO-style grid)", "map50"),
    Task("face", "face verification, enrolment and identification (triplet embeddings)", "pair_accuracy"),
)}

# A model file may also be "generic": any int8 TFLite with our metadata, runnable by `info`/`bench`.
GENERIC = "generic"


def names() -> tuple[str, ...]:
    return tuple(TASKS)


def get(name: str | None) -> Task:
    """The task called ``name``; an unknown name raises KeyError with the valid ones."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[name]


__all__ = ["GENERIC", "TASKS", "Task", "get", "names"]
