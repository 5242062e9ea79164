"""The package's layout: every module imports, the imports between vidcolor's modules form no circle and point down
the layers, io stays torch-free, the package root stays small and `import vidcolor` stays cheap.

Every import statement counts, wherever it is: at the top, inside a function (lazy) or under ``if TYPE_CHECKING:``.

Layers, bottom first (a module may import its own layer and the layers below it, never one above):

0. the root leaves and media I/O: errors, config, color, host_memory, io.*
1. the networks and their weight files: models.*, weights (it converts VGG19, so it knows models/vgg.py's layers)
2. the per-batch colour chain: chain.*
3. shots and which reference colours which frame: shots.* (`run` detects and assigns shots inline)
4. moving frames through the chain: stream.*
5. the features built on a run: review.*, scale.*, evaluate.*
6. the Python API: api, and vidcolor's own __init__ (its face: it loads the API on first use)
7. the command line: cli.*, __main__
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import vidcolor

ROOT = Path(vidcolor.__file__).parent
MAX_ROOT_MODULES = 12
OPTIONAL = {"ray"}  # the `ray` extra: a module needing it is skipped by the import check where it is not installed

LAYERS = [
    ("vidcolor.errors", "vidcolor.config", "vidcolor.color", "vidcolor.host_memory", "vidcolor.io"),
    ("vidcolor.models", "vidcolor.weights"),
    ("vidcolor.chain",),
    ("vidcolor.shots",),
    ("vidcolor.stream",),
    ("vidcolor.review", "vidcolor.scale", "vidcolor.evaluate"),
    ("vidcolor.api", "vidcolor"),
    ("vidcolor.cli", "vidcolor.__main__"),
]
TORCH_FREE_PACKAGES = ("vidcolor.io",)
# Importing these must not import torch (`import vidcolor` and every sub-package but models, which re-exports nets).
CHEAP_IMPORTS = (
    "vidcolor",
    "vidcolor.io",
    "vidcolor.chain",
    "vidcolor.shots",
    "vidcolor.stream",
    "vidcolor.review",
    "vidcolor.scale",
    "vidcolor.evaluate",
    "vidcolor.cli",
)


# ---------------------------------------------------------------------------------------------- reading the package
def all_modules() -> dict[str, Path]:
    """Every module of vidcolor (packages by their __init__.py), name -> source file, found by pkgutil."""
    found = {"vidcolor": ROOT / "__init__.py"}
    for info in pkgutil.walk_packages(vidcolor.__path__, "vidcolor."):
        origin = importlib.util.find_spec(info.name).origin
        found[info.name] = Path(origin)
    return found


def imports_of(name: str, source: str, known: set[str], is_package: bool = False) -> tuple[set[str], set[str]]:
    """(vidcolor modules, top-level names of other packages) that ``source`` (module ``name``) imports anywhere."""
    internal, external = set(), set()

    def add(module: str, attr: str | None = None) -> None:
        if module.split(".")[0] != "vidcolor":
            external.add(module.split(".")[0])
            return
        if attr and f"{module}.{attr}" in known:  # from vidcolor import weights: the module weights
            internal.add(f"{module}.{attr}")
            return
        while module not in known and "." in module:  # import vidcolor.x.y where y is not a module: x
            module = module.rsplit(".", 1)[0]
        internal.add(module)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                add(base, alias.name)
    internal.discard(name)
    return internal, external


def read_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = all_modules()
    graph, external = {}, {}
    for name, path in modules.items():
        graph[name], external[name] = imports_of(name, path.read_text(), set(modules), path.name == "__init__.py")
    return graph, external


# ---------------------------------------------------------------------------------------------- the checks
def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def layer_of(module: str) -> int | None:
    for number, members in enumerate(LAYERS):
        for prefix in members:
            if module == prefix or (prefix != "vidcolor" and module.startswith(prefix + ".")):
                return number
    return None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every module without a layer, and every import that points up the layers."""
    problems = [f"{m}: in no layer (add it to LAYERS)" for m in sorted(graph) if layer_of(m) is None]
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            low, high = layer_of(module), layer_of(target)
            if low is not None and high is not None and high > low:
                problems.append(f"{module} (layer {low}) imports {target} (layer {high})")
    return problems


def torch_in(packages: tuple[str, ...], graph: dict[str, set[str]], external: dict[str, set[str]]) -> list[str]:
    """Modules of ``packages`` that import torch, themselves or through the vidcolor modules they import."""
    problems = []
    for module in sorted(graph):
        if not any(module == p or module.startswith(p + ".") for p in packages):
            continue
        seen, todo = {module: [module]}, [module]
        while todo:
            current = todo.pop()
            if "torch" in external.get(current, ()):
                problems.append(" -> ".join(seen[current]) + " imports torch")
                break
            for nxt in sorted(graph.get(current, ())):
                if nxt not in seen:
                    seen[nxt] = seen[current] + [nxt]
                    todo.append(nxt)
    return problems


def root_modules(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob("*.py"))


def torch_after_import(*modules: str) -> bool:
    """Whether importing ``modules`` in a fresh interpreter imports torch."""
    code = f"import sys; import {', '.join(modules)}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.strip() == "True"


# ---------------------------------------------------------------------------------------------- the package
def test_every_module_imports():
    failed = []
    for name in all_modules():
        if name == "vidcolor.__main__":  # importing it runs the command line
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name not in OPTIONAL:
                failed.append(f"{name}: {exc}")
        except Exception as exc:  # every failure is reported
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not failed, "\n".join(failed)


def test_no_import_circle():
    graph, _ = read_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_imports_point_down_the_layers():
    graph, _ = read_graph()
    problems = layer_violations(graph)
    assert not problems, "\n".join(problems)


def test_io_never_imports_torch():
    graph, external = read_graph()
    problems = torch_in(TORCH_FREE_PACKAGES, graph, external)
    assert not problems, "\n".join(problems)


def test_package_root_stays_small():
    names = root_modules(ROOT)
    assert len(names) <= MAX_ROOT_MODULES, f"{len(names)} modules at the package root: {', '.join(names)}"


def test_import_vidcolor_is_cheap():
    assert not torch_after_import(*CHEAP_IMPORTS), f"importing {', '.join(CHEAP_IMPORTS)} imports torch"


# ---------------------------------------------------------------------------------------------- the checks can fail
def test_a_circle_is_found_lazy_and_type_checking_imports_included():
    known = {"vidcolor.a", "vidcolor.b", "vidcolor.c"}
    sources = {
        "vidcolor.a": "from vidcolor.b import x\n",
        "vidcolor.b": "def f():\n    from vidcolor import c\n",
        "vidcolor.c": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vidcolor.a import Y\n",
    }
    graph = {name: imports_of(name, src, known)[0] for name, src in sources.items()}
    assert find_cycle(graph) == ["vidcolor.a", "vidcolor.b", "vidcolor.c", "vidcolor.a"]
    graph["vidcolor.c"] = set()
    assert find_cycle(graph) is None


def test_an_upward_import_and_an_unplaced_module_are_reported():
    graph = {"vidcolor.chain.x": {"vidcolor.stream.y"}, "vidcolor.stream.y": set(), "vidcolor.elsewhere": set()}
    problems = layer_violations(graph)
    assert any("vidcolor.chain.x (layer 2) imports vidcolor.stream.y (layer 4)" in p for p in problems)
    assert any(p.startswith("vidcolor.elsewhere: in no layer") for p in problems)
    assert not layer_violations({"vidcolor.stream.y": {"vidcolor.chain.x"}, "vidcolor.chain.x": set()})


def test_torch_reached_through_another_module_is_reported():
    graph = {"vidcolor.io.x": {"vidcolor.color"}, "vidcolor.color": set()}
    problems = torch_in(("vidcolor.io",), graph, {"vidcolor.io.x": {"numpy"}, "vidcolor.color": {"torch"}})
    assert problems == ["vidcolor.io.x -> vidcolor.color imports torch"]
    assert not torch_in(("vidcolor.io",), graph, {"vidcolor.color": {"kornia"}})


def test_a_crowded_root_is_counted(tmp_path):
    for n in range(MAX_ROOT_MODULES + 1):
        (tmp_path / f"m{n}.py").write_text("")
    assert len(root_modules(tmp_path)) > MAX_ROOT_MODULES


def test_torch_imported_is_seen():
    assert torch_after_import("vidcolor.chain.predictor")


@pytest.mark.parametrize("source", ["import vidcolor.chain.chain as c\n", "from vidcolor.chain import chain\n"])
def test_imports_resolve_to_modules(source):
    known = {"vidcolor", "vidcolor.chain", "vidcolor.chain.chain"}
    assert imports_of("vidcolor.x", source, known) == ({"vidcolor.chain.chain"}, set())
