"""Griffe extension for the docs build: show Keras-style doctest examples as code.

kerasplus writes examples the way Keras does, an ``Example:`` line followed by
``>>>`` lines at the docstring's own indentation. Griffe's Google parser only
turns ``>>>`` lines into code inside an indented ``Examples:`` section, so here
every run of ``>>>`` lines (up to the next blank line) is fenced as ``pycon``
before the docstring is parsed. The docstrings themselves are not changed.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each doctest run (a ``>>>`` line and what follows it up to a blank line) in a ``pycon`` fence."""
    out: list[str] = []
    in_fence = False
    in_doctest = False
    indent = ""
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        if in_doctest and (not stripped or not line.startswith(indent)):
            out.append(f"{indent}```")
            in_doctest = False
        if not in_doctest and stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and not in_doctest and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
            in_doctest = True
        out.append(line)
    if in_doctest:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence doctest examples in every docstring griffe reads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)


def _resolve_internal_aliases(module: griffe.Module) -> None:
    """Resolve every alias in `module`'s tree that points inside the same package."""
    package = module.path.split(".")[0]
    for member in list(module.members.values()):
        if member.is_alias:
            if member.target_path.split(".")[0] == package:
                try:
                    member.final_target  # noqa: B018  (resolves and caches the target)
                except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                    pass
        elif member.is_module:
            _resolve_internal_aliases(member)


class ExportedOverSubmodule(griffe.Extension):
    """Let a namespace's exported function win over the submodule it comes from.

    ``kerasplus.data`` does ``from kerasplus.data.split import split``: at
    runtime ``kerasplus.data.split`` is the function, but griffe keeps the
    submodule under that name (it cannot hold both), so the function would be
    missing from the reference. For every name in a namespace's ``__all__``
    whose member is a submodule defining that same name, the member becomes an
    alias of the function. Aliases are resolved first, so what other kerasplus
    modules import from the submodule still resolves.
    """

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        _resolve_internal_aliases(pkg)
        for namespace in list(pkg.modules.values()):
            for name in namespace.exports or ():
                member = namespace.members.get(name)
                if member is None or member.is_alias or not member.is_module:
                    continue
                inner = member.members.get(name)
                if inner is None or inner.is_module:
                    continue
                namespace.set_member(name, griffe.Alias(name, inner, parent=namespace))
