"""The private-API fence: finds private imports and underscore access outside kerasplus/_internals.

Used by `test_fence.py`; run it directly (`python tests/_internals/fence.py`) to list findings.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "kerasplus"
FENCED = PACKAGE / "_internals"
PRIVATE_MODULES = ("keras.src", "keras_tuner.src", "tensorflow.python", "tensorflow.compiler", "tf_keras.src")
FRAME_CALLS = {("sys", "_getframe"), ("inspect", "currentframe"), ("inspect", "stack"), ("inspect", "getouterframes")}
ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "hasattr", "delattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_private_module(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PRIVATE_MODULES)


def _kerasplus_namespace(module: str) -> str | None:
    """`kerasplus.layers._mixing_layer` -> "layers" when the module is private to a namespace."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[0] == "kerasplus" and any(_private(p) for p in parts[2:]):
        return parts[1]
    return None


class _Finder(ast.NodeVisitor):
    def __init__(self, rel: str, foreign_private: dict[str, set[str]]):
        self.rel = rel  # "kerasplus/<namespace>/<module>.py"
        parts = rel.split("/")[1:]
        self.namespace = parts[0] if len(parts) > 1 else None
        self.findings: list[str] = []
        self.foreign_private = foreign_private  # class name -> private names its foreign bases use
        self.class_stack: list[str] = []

    def _add(self, node: ast.AST, what: str) -> None:
        self.findings.append(f"{self.rel}:{node.lineno}: {what}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _is_private_module(alias.name):
                self._add(node, f"imports private module {alias.name}")
            if alias.name == "importlib" and self.rel != "kerasplus/__init__.py":  # PEP 562 lazy namespaces
                self._add(node, "imports importlib (hides import cycles); import modules directly")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:  # relative imports are not used in kerasplus
            self._add(node, "relative import; use absolute kerasplus.* imports")
        if _is_private_module(module):
            self._add(node, f"imports from private module {module}")
        if module == "importlib" or module.startswith("importlib."):
            self._add(node, "imports from importlib (hides import cycles); import modules directly")
        namespace = _kerasplus_namespace(module)
        if namespace is not None and namespace != self.namespace:
            self._add(node, f"imports {module}, private to kerasplus.{namespace}, from another namespace")
        if not module.startswith("kerasplus"):
            for alias in node.names:
                if _private(alias.name):
                    self._add(node, f"imports private name {alias.name} from {module}")
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.class_stack.append(node.name)
        foreign = self.foreign_private.get(node.name, set())
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in foreign:
                self._add(item, f"class {node.name} overrides private method {item.name} of a foreign base class")
        self.generic_visit(node)
        self.class_stack.pop()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        value = node.value
        if isinstance(value, ast.Name) and (value.id, node.attr) in FRAME_CALLS:
            self._add(node, f"frame inspection {value.id}.{node.attr}")
        elif _private(node.attr):
            if isinstance(value, ast.Name) and value.id in ("self", "cls"):
                foreign = self.foreign_private.get(self.class_stack[-1], set()) if self.class_stack else set()
                if node.attr in foreign:
                    self._add(node, f"self.{node.attr} is a private attribute of a foreign base class")
            elif not self._is_kerasplus_module_ref(value):
                self._add(node, f"underscore access .{node.attr}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ATTRIBUTE_FUNCTIONS and len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value):
                self._add(node, f"{func.id}(..., {name.value!r}) reaches a private attribute")
        self.generic_visit(node)

    @staticmethod
    def _is_kerasplus_module_ref(value: ast.AST) -> bool:
        while isinstance(value, ast.Attribute):
            value = value.value
        return isinstance(value, ast.Name) and value.id == "kerasplus"


_SELF_PRIVATE = re.compile(r"\bself\.(_[A-Za-z]\w*)|\bdef (_[A-Za-z]\w*)")


def _foreign_private_names(module_name: str) -> dict[str, set[str]]:
    """For each class of a kerasplus module: private names used by its non-kerasplus base classes."""
    module = importlib.import_module(module_name)
    result: dict[str, set[str]] = {}
    for name, cls in vars(module).items():
        if not inspect.isclass(cls) or cls.__module__ != module_name:
            continue
        names: set[str] = set()
        for base in inspect.getmro(cls)[1:]:
            if base.__module__.split(".")[0] in ("kerasplus", "builtins", "abc", "typing"):
                continue
            try:
                source = inspect.getsource(base)
            except (OSError, TypeError):
                continue
            for match in _SELF_PRIVATE.finditer(source):
                names.add(match.group(1) or match.group(2))
            names.update(n for n in vars(base) if _private(n))
        result[name] = names
    return result


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[pathlib.Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if FENCED not in p.parents)


def findings_in_source(source: str, rel: str, foreign_private: dict[str, set[str]] | None = None) -> list[str]:
    """Findings in one module's source; `rel` is its path such as "kerasplus/callbacks/x.py"."""
    finder = _Finder(rel, foreign_private or {})
    finder.visit(ast.parse(source, filename=rel))
    return finder.findings


def findings(paths: list[pathlib.Path] | None = None, with_classes: bool = True) -> list[str]:
    out: list[str] = []
    for path in paths or source_files():
        foreign = _foreign_private_names(module_name(path)) if with_classes else {}
        out.extend(findings_in_source(path.read_text(), path.relative_to(PACKAGE.parent).as_posix(), foreign))
    return out


if __name__ == "__main__":
    import sys

    found = findings(with_classes="--no-classes" not in sys.argv)
    print("\n".join(found))
    print(f"{len(found)} findings")
