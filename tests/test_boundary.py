"""The engine stays pure: nothing under checks/ imports network, web, queue or GitHub code."""

import ast
import subprocess
import sys
from pathlib import Path

FORBIDDEN = {
    "flask",
    "githubkit",
    "httpx",
    "requests",
    "huey",
    "redis",
    "urllib3",
    "socket",
    "http",
    "app",
    "action",
}
CHECKS = Path(__file__).parent.parent / "checks"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_in_checks_imports_forbidden_packages():
    offenders = {p.name: imported_modules(p) & FORBIDDEN for p in CHECKS.rglob("*.py")}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_importing_the_engine_loads_none_of_them():
    code = (
        "import sys, checks.engine, checks.cli, checks.output.formats, checks.output.summary;"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
