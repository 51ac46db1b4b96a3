"""The house rules of docs/ARCHITECTURE.md, checked on the source: the allowed import directions
between rooms, and that every task in the registry has its rooms with the modules and functions the
dispatcher, ``eval``, ``train`` and ``convert`` call.

Imports are read with ``ast`` (top level and inside functions alike), so a lazy import that would
only run on some path cannot sneak past; nothing here needs TensorFlow.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from edgecnn import tasks
from edgecnn.edge.core.cliutil import OneLineParser

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"pkg": "edgecnn", "edge": "edgecnn.edge", "train": "edgecnn.train", "convert": "edgecnn.convert"}
TASK_NAMES = set(tasks.names())
# declared dependencies between task rooms (acyclic): face finds faces with a detector
ROOM_USES = {"face": {"detect"}}
FORBIDDEN_ON_DEVICE = ("tensorflow", "keras", "tf_keras")


def module_files():
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join([package, *parts])
            yield name.removesuffix(".__init__"), path


def imports_of(path: Path, module: str) -> set[str]:
    """Every module (or module.attribute) ``path`` imports, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(p for p in [*parts, base] if p)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def room(name: str) -> str:
    """The room a module (or an imported module.attribute) belongs to."""
    parts = name.split(".")
    if parts[0] != "edgecnn":
        return "external:" + parts[0]
    if len(parts) == 1 or parts[1] == "__version__":
        return "version"
    if parts[1] in ("tasks", "cli", "__main__"):
        return parts[1]
    if parts[1] in ("edge", "train"):
        sub = parts[2] if len(parts) > 2 else "__init__"
        if sub in TASK_NAMES:
            return f"{parts[1]}.task:{sub}"
        return f"{parts[1]}.{sub}"
    return parts[1]


def allowed(src: str, dst: str) -> bool:
    if dst.startswith("external:"):
        return not (src.startswith("edge") and dst.split(":")[1] in FORBIDDEN_ON_DEVICE)
    if dst == "version" or src == dst:
        return True
    if dst == "tasks":
        return src != "version"
    if src in ("cli", "__main__"):
        return True
    if src in ("tasks", "version"):
        return False
    if src == "edge.core":
        return dst == "edge.core"
    if src.startswith("edge.task:"):
        uses = ROOM_USES.get(src.split(":")[1], set())
        return dst == "edge.core" or (dst.startswith("edge.task:") and dst.split(":")[1] in uses)
    if src.startswith("edge."):  # api, verbs, __init__, models, samples
        return dst.startswith("edge.")
    if src in ("train.core", "train.cli", "train.__init__"):
        return dst.startswith("edge.") or dst in ("train.core", "train.cli")
    if src.startswith("train.task:"):
        return dst.startswith("edge.") or dst == "train.core"
    if src == "convert":
        return dst.startswith("edge.") or dst in ("convert", "train.core", "train.cli")
    return False


def violations() -> list[str]:
    bad = []
    for module, path in module_files():
        src = room(module)
        for target in sorted(imports_of(path, module)):
            dst = room(target)
            if not allowed(src, dst):
                bad.append(f"{path.relative_to(ROOT)}: {module} ({src}) imports {target} ({dst})")
    return bad


class TestImportDirections:
    def test_no_room_imports_against_the_arrows(self):
        assert violations() == []

    def test_the_checker_sees_a_violation(self, monkeypatch, tmp_path):
        """The rules are not vacuous: each forbidden edge below is caught."""
        assert not allowed(room("edgecnn.edge.detect.runtime"), room("edgecnn.train.core.fit"))
        assert not allowed(room("edgecnn.edge.core.loader"), room("edgecnn.train.core.keras_model"))
        assert not allowed(room("edgecnn.edge.api"), room("edgecnn.convert.pipeline"))
        assert not allowed(room("edgecnn.edge.verbs.eval"), room("edgecnn.cli"))
        assert not allowed(room("edgecnn.edge.detect.runtime"), room("edgecnn.edge.face.runtime"))
        assert not allowed(room("edgecnn.edge.ecg.runtime"), room("edgecnn.edge.detect.boxes"))
        assert allowed(room("edgecnn.edge.face.finder"), room("edgecnn.edge.detect.runtime"))
        assert not allowed(room("edgecnn.edge.core.camera"), room("edgecnn.edge.detect.runtime"))
        assert not allowed(room("edgecnn.train.ecg.recipe"), room("edgecnn.train.detect.model"))
        assert not allowed(room("edgecnn.train.core.fit"), room("edgecnn.train.face.model"))
        assert not allowed(room("edgecnn.edge.ecg.io"), "external:tensorflow")
        assert not allowed(room("edgecnn.tasks"), room("edgecnn.edge.core.errors"))
        assert allowed(room("edgecnn.train.face.recipe"), room("edgecnn.edge.face.runtime"))
        assert allowed(room("edgecnn.edge.api"), room("edgecnn.edge.face.gallery"))
        # and an actual file with a lazy (in-function) import is read
        f = tmp_path / "m.py"
        f.write_text("def g():\n    from edgecnn.train.core import fit\n    from ..core import errors\n")
        assert imports_of(f, "edgecnn.edge.ecg.m") == {"edgecnn.train.core.fit", "edgecnn.edge.core.errors"}

    def test_every_source_file_is_in_a_known_room(self):
        rooms = {room(m) for m, _ in module_files()}
        assert rooms <= {"version", "tasks", "cli", "__main__", "convert", "edge.__init__", "edge.api",
                         "edge.core", "edge.verbs", "edge.models", "edge.samples", "train.__init__",
                         "train.core", "train.cli"} | {f"{s}.task:{t}" for s in ("edge", "train") for t in TASK_NAMES}


@pytest.mark.parametrize("name", tasks.names())
class TestRegistry:
    def test_edge_room_has_its_verb_and_evaluator(self, name):
        task = tasks.get(name)
        cli = task.edge_module("cli")
        assert callable(cli.register)
        ev = task.edge_module("evaluate")
        assert dataclasses.is_dataclass(ev.Options) and callable(ev.evaluate) and callable(ev.add_eval_args)
        fields = {f.name for f in dataclasses.fields(ev.Options)}
        assert {"data", "report"} <= fields
        parser = OneLineParser(add_help=False)
        ev.add_eval_args(parser)
        dests = {a.dest for a in parser._actions}
        assert dests <= fields, f"{name}: eval flags without an Options field: {dests - fields}"
        ev.Options(data="x")  # every field but data has a default

    def test_train_room_has_its_recipe(self, name):
        """Read from the source, so the check runs without TensorFlow."""
        task = tasks.get(name)
        path = ROOT / "train" / name / "recipe.py"
        assert path.is_file(), f"{task.train_room}.recipe is missing"
        defined = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        assert {"add_train_args", "run_train", "representative_dataset"} <= defined | _reexported(path)

    def test_main_metric_is_reported_by_the_evaluator(self, name):
        task = tasks.get(name)
        source = (ROOT / "edge" / name / "evaluate.py").read_text()
        assert task.main_metric in source, f"{name}: evaluate.py never mentions {task.main_metric!r}"


def _reexported(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
    return names


def test_registry_names_every_task_room_and_only_those():
    edge_rooms = {p.parent.name for p in (ROOT / "edge").glob("*/evaluate.py")}
    train_rooms = {p.parent.name for p in (ROOT / "train").glob("*/recipe.py")}
    assert edge_rooms == TASK_NAMES == train_rooms
    with pytest.raises(KeyError, match="known tasks: ecg, detect, face"):
        tasks.get("pose")
