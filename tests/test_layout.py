"""The layout CONTRIBUTING.md describes: tests mirror the package, namespaces only re-export."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kerasplus"
PUBLIC_MODULES = sorted(
    p for p in PACKAGE.glob("*/*.py") if not p.name.startswith("_") and not p.parent.name.startswith("_")
)


def test_modules_are_found():
    assert len(PUBLIC_MODULES) >= 40


@pytest.mark.parametrize("path", PUBLIC_MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_every_public_module_has_its_test_file(path):
    expected = ROOT / "tests" / path.parent.name / f"test_{path.name}"
    assert expected.exists(), f"{path.relative_to(ROOT)} has no test file {expected.relative_to(ROOT)}"


def test_every_fenced_module_is_covered_by_the_canary_test():
    assert (ROOT / "tests" / "_internals" / "test_canaries.py").exists()
    assert (ROOT / "tests" / "_internals" / "test_fence.py").exists()


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.glob("*/__init__.py")), ids=lambda p: p.parent.relative_to(PACKAGE).as_posix()
)
def test_a_namespace_init_only_re_exports(path):
    tree = ast.parse(path.read_text())
    allowed = (ast.Import, ast.ImportFrom, ast.Expr, ast.Assign)  # docstring, imports, __all__
    extra = [type(node).__name__ for node in tree.body if not isinstance(node, allowed)]
    assigned = [
        t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)
    ]
    assert not extra and set(assigned) <= {"__all__"}, f"{path.relative_to(ROOT)} defines {extra or assigned}"
