"""The layers' contract, checked: api and device_gateway never import each other, and db imports neither.

They meet through the database (the outbox, what devices report) and MQTT; `galvani` is the one place that
puts them together. Read from each module's own import statements, so a new file cannot slip past it.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
# package -> the packages it must never import
FORBIDDEN = {
    "api": {"device_gateway", "galvani"},
    "device_gateway": {"api", "web", "galvani"},
    "db": {"api", "device_gateway", "web", "galvani"},
    "web": {"device_gateway", "galvani"},
}


def _imported_packages(path: Path) -> set[str]:
    """The top-level package of every module a file imports, wherever the import stands in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_never_imports_what_it_must_not(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules: is the layout what this test expects?"
    crossings = {str(path.relative_to(ROOT)): sorted(_imported_packages(path) & FORBIDDEN[package]) for path in files}
    assert {file: found for file, found in crossings.items() if found} == {}


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "sneaky.py"
    module.write_text("def later():\n    from device_gateway.gateway import Gateway\n    import api.app\n")
    assert _imported_packages(module) == {"device_gateway", "api"}
