"""What `pip install .` installs is enough for every module the runtime and the CLI import at load time: a
module-level import of a package that only an extra installs breaks a plain install (`effrestore inspect
m.plan` once failed on `filelock`)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "effrestore"
# Imported when a command that needs the extra runs, never at load time.
EXTRA_ONLY = ("models", "export", "serving")


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def base_distributions() -> set[str]:
    """The installed project's requirements outside every extra (what `pip install .` brings)."""
    base = [requirement for requirement in requires("effrestore") or [] if "extra ==" not in requirement]
    return {normalized(re.split(r"[<>=!~;\[ (]", requirement, maxsplit=1)[0]) for requirement in base}


def load_time_imports(path: Path) -> set[str]:
    """Top-level names of the modules `path` imports when it is loaded (not in functions, not for typing)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_load_time_imports_of_the_runtime_and_cli_are_base_dependencies() -> None:
    installed_by = packages_distributions()
    base = base_distributions()
    missing = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).parts
        if relative[0] in EXTRA_ONLY:
            continue
        for name in load_time_imports(path) - {"effrestore", "__future__"} - set(sys.stdlib_module_names):
            distributions = {normalized(d) for d in installed_by.get(name, [name])}
            if not distributions & base:
                missing.setdefault(name, []).append("/".join(relative))
    assert not missing, f"imported at load time but only in an extra: {missing}"
