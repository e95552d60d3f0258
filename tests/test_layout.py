"""The layout holds: imports point one way (server → jobs → GitHub layer → engine; the Action beside
the server, never into it) and no module imports another that imports it back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("checks", "app", "action")
# Rule data folders: the README names them as `<family>/<rule>.yaml`.
RULE_DATA = {"language", "structure", "timeline", "action-items"}

# Each layer, and the layers it must never import (lazy imports inside functions count too).
FORBIDDEN = {
    "checks": ("app", "action"),
    "app.github": ("app.jobs", "app.server", "action"),
    "app.jobs": ("app.server", "action"),
    "action": ("app.server",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports: `from a.b import c` is `a.b.c` when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    modules = product_modules()
    return {name: imports_of(path, set(modules)) for name, path in modules.items()}


def within(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def test_imports_point_one_way():
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for layer, banned in FORBIDDEN.items()
        if within(module, layer)
        for target in targets
        if any(within(target, b) for b in banned)
    )
    assert wrong == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_layer_rule_sees_a_lazy_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from app.server import worker\n")
    assert imports_of(module, {"app.server", "app.server.worker"}) == {"app.server", "app.server.worker"}


def readme_layout() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("### Layout") :]
    return section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]


def test_the_readme_map_names_every_module_and_folder_of_the_product():
    """The README's layout block is the map a newcomer reads: every module and folder under
    checks/, app/ and action/ is named in it (as `name.py`, `name/` or a bare `name`)."""
    words = set(re.findall(r"[A-Za-z_][\w.-]*", readme_layout()))
    missing = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if (path.suffix == ".py" and path.stem not in ("__init__", "__main__"))
        or (path.is_dir() and "__pycache__" not in path.parts and path.name not in RULE_DATA)
        if not ({path.name, path.stem} & words)
    )
    assert missing == []
