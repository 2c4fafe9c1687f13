"""The API reference site (mkdocs.yml, docs/) builds in strict mode and covers every public symbol.

The build is static (griffe reads the source; nothing is imported) and must not
touch the network: it runs here with every proxy pointed at a closed port.

`docstring_gaps()` is not a test: it lists public symbols whose docstring lacks
`Args:`, `Returns:` or a runnable `Example:`. Run ``python tests/test_docs.py``
to print the list.
"""

from __future__ import annotations

import ast
import builtins
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kerasplus"
NAMESPACES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py") if not p.parent.name.startswith("_"))
BUILD_TIMEOUT_S = 600
CLOSED_PORT = "http://127.0.0.1:9"


def exported_names(namespace: str) -> list[str]:
    """A namespace's `__all__`, read from its `__init__.py` without importing it."""
    tree = ast.parse((PACKAGE / namespace / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"kerasplus/{namespace}/__init__.py has no __all__")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        env[name] = CLOSED_PORT  # any download attempt fails (and a failure fails --strict)
    env.pop("no_proxy", None)
    env.pop("NO_PROXY", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
    return out


def test_docs_build_in_strict_mode(site):
    assert (site / "index.html").exists()
    assert (site / "migration" / "index.html").exists()


def test_every_namespace_has_a_reference_page():
    pages = sorted(p.stem for p in (ROOT / "docs" / "reference").glob("*.md"))
    assert pages == NAMESPACES, "docs/reference/ must hold one page per public namespace"
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [ns for ns in NAMESPACES if f"reference/{ns}.md" not in nav]
    assert not missing, f"mkdocs.yml nav lacks the reference pages of {missing}"
    assert "migration.md" in nav


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_public_symbol_has_an_anchor_in_the_reference(site, namespace):
    html = (site / "reference" / namespace / "index.html").read_text()
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    missing = [name for name in exported_names(namespace) if f"kerasplus.{namespace}.{name}" not in ids]
    assert not missing, f"kerasplus.{namespace}: not in docs/reference/{namespace}.md's page: {missing}"


def _imported_from(namespace: str) -> dict[str, str]:
    tree = ast.parse((PACKAGE / namespace / "__init__.py").read_text())
    return {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_hand_written_entries_are_keras_re_exports_still_exported():
    """A hand-written `{ #kerasplus.ns.Name }` entry is only for a Keras class the namespace re-exports."""
    for page in sorted((ROOT / "docs" / "reference").glob("*.md")):
        namespace = page.stem
        for name in re.findall(r"\{ *#kerasplus\.\w+\.(\w+) *\}", page.read_text()):
            assert name in exported_names(namespace), (
                f"{page.name} describes {name}, not in kerasplus.{namespace}.__all__"
            )
            source = _imported_from(namespace).get(name, "")
            assert not source.startswith("kerasplus"), (
                f"{page.name}: {name} is kerasplus's own; let mkdocstrings render it"
            )


def test_private_modules_are_not_documented(site):
    for page in site.rglob("*.html"):
        private = sorted(set(re.findall(r'\bid="(kerasplus(?:\.\w+)*\._[a-z]\w*)', page.read_text())))
        assert not private, f"{page.relative_to(site)} documents private objects: {private[:10]}"


def test_built_pages_load_nothing_from_other_sites(site):
    external = re.compile(r'<(?:link|script|img)\b[^>]*\b(?:href|src)="(?:https?:)?//', re.IGNORECASE)
    for page in site.rglob("*.html"):
        found = external.findall(page.read_text())
        assert not found, f"{page.relative_to(site)} loads external resources: {found[:3]}"
    assert "fonts.googleapis" not in "".join(p.read_text() for p in site.rglob("*.css"))


# ---------------------------------------------------------------------------
# Docstring gaps: a report, not a test (others are still changing these).
# ---------------------------------------------------------------------------


def _load_kerasplus():
    import griffe

    extensions = griffe.load_extensions(str(ROOT / "docs" / "griffe_doctest_fences.py") + ":ExportedOverSubmodule")
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)], extensions=extensions)
    package = loader.load("kerasplus")
    loader.resolve_aliases(external=False)
    return package


def _returns_a_value(function) -> bool:
    annotation = function.returns
    if annotation is not None:
        return str(annotation) not in ("None", "NoReturn", "Never")
    tree = ast.parse(function.filepath.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno == function.lineno:
            stack = list(node.body)
            while stack:
                child = stack.pop()
                if isinstance(child, ast.Return) and child.value is not None:
                    return True
                if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                    stack.extend(ast.iter_child_nodes(child))
    return False


def _takes_arguments(function) -> bool:
    skip = {"self", "cls"}
    return any(
        p.name not in skip and p.kind.value not in ("variadic positional", "variadic keyword")
        for p in function.parameters
    )


def _fields_are_attributes(obj) -> bool:
    """A dataclass or an exception documents its fields in `Attributes:` (in place of `Args:`)."""
    if not obj.is_class:
        return False
    if "dataclass" in obj.labels:
        return True
    bases = [getattr(builtins, str(base), None) for base in obj.bases]
    return any(isinstance(base, type) and issubclass(base, BaseException) for base in bases)


def _gaps_of(obj) -> list[str]:
    doc = obj.docstring.value if obj.docstring else ""
    if obj.is_class and "__init__" in obj.members and obj.members["__init__"].docstring:
        doc += "\n" + obj.members["__init__"].docstring.value
    if not doc:
        return ["no docstring"]
    gaps = []
    function = obj.members.get("__init__") if obj.is_class else obj if obj.is_function else None
    if function is not None and function.is_alias:
        function = function.final_target
    args = r"(Args|Attributes)" if _fields_are_attributes(obj) else "Args"
    if function is not None and _takes_arguments(function) and not re.search(rf"^\s*{args}:\s*$", doc, re.M):
        gaps.append("no Args:")
    if obj.is_function and _returns_a_value(obj) and not re.search(r"^\s*Returns:\s*$", doc, re.M):
        gaps.append("no Returns:")
    if not obj.is_attribute:
        if not re.search(r"^\s*Examples?:\s*$", doc, re.M):
            gaps.append("no Example:")
        elif ">>>" not in doc:
            gaps.append("Example: without >>>")
    return gaps


def docstring_gaps() -> dict[str, list[str]]:
    """``{"kerasplus.<ns>.<name>": [gap, ...]}`` for every public kerasplus symbol with a gap.

    Keras's own classes that a namespace re-exports (``losses.Huber``, ...) are
    left out: their docstrings are Keras's. A re-exported module
    (``tuning.spaces``) is checked through its public functions.
    """
    package = _load_kerasplus()
    gaps: dict[str, list[str]] = {}
    for namespace in NAMESPACES:
        module = package.members[namespace]
        for name in exported_names(namespace):
            obj = module.members[name]
            if obj.is_alias:
                if not obj.target_path.startswith("kerasplus."):
                    continue  # Keras's own class
                obj = obj.final_target
            if obj.is_module:
                children = [(f"{name}.{child}", member) for child, member in obj.members.items()]
                children = [
                    (n, m) for n, m in children if not m.is_alias and m.is_function and not m.name.startswith("_")
                ]
            else:
                children = [(name, obj)]
            for label, child in children:
                found = _gaps_of(child)
                if found:
                    gaps[f"kerasplus.{namespace}.{label}"] = found
    return gaps


if __name__ == "__main__":
    for symbol, found in sorted(docstring_gaps().items()):
        print(f"{symbol}: {', '.join(found)}")


def test_every_public_symbol_has_args_returns_and_an_example():
    gaps = docstring_gaps()
    assert not gaps, "docstring gaps:\n" + "\n".join(
        f"{name}: {', '.join(found)}" for name, found in sorted(gaps.items())
    )
