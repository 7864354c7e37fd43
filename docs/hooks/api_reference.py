"""mkdocs hook: the API reference page, generated from the docstrings of `worldflux.__all__`.

It needs nothing beyond mkdocs and the library itself, so the site still builds offline. The
page (content/api.md) holds a marker that this hook replaces at build time: what users import
from the top of the package is exactly what the reference documents.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
from typing import Any

MARKER = "<!-- api-reference -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    del page, config, files
    return markdown.replace(MARKER, render()) if MARKER in markdown else markdown


def render() -> str:
    """One section per exporting package, one entry per public name, in alphabetical order."""
    worldflux = importlib.import_module("worldflux")
    exports: dict[str, str] = worldflux._EXPORTS
    groups: dict[str, list[str]] = {}
    for name in worldflux.__all__:
        if name in exports:
            groups.setdefault(exports[name], []).append(name)
    out = [f"Version {worldflux.__version__}. Every name below imports from the top:", ""]
    out += ["```python", "from worldflux import create_world_model, Trainer  # etc.", "```", ""]
    for module, names in sorted(groups.items()):
        out += [f"## {module}", ""]
        for name in sorted(names, key=str.lower):
            out += entry(name, getattr(worldflux, name))
    return "\n".join(out)


def entry(name: str, obj: Any) -> list[str]:
    kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else "value"
    is_enum = inspect.isclass(obj) and issubclass(obj, enum.Enum)
    shown = "(enum.Enum)" if is_enum else signature(obj)
    lines = [f"### {name}", "", "```python", f"{kind} {name}{shown}", "```", ""]
    lines += [_doc(obj), ""]
    if inspect.isclass(obj) and not issubclass(obj, (enum.Enum, BaseException)):
        if dataclasses.is_dataclass(obj):
            fields = ", ".join(f"`{f.name}`" for f in dataclasses.fields(obj))
            lines += [f"Fields: {fields}.", ""]
        for method, member in _public_methods(obj):
            lines += [f"- `{method}{signature(member)}`: {_summary(member)}"]
        lines.append("")
    elif inspect.isclass(obj) and issubclass(obj, enum.Enum):
        lines += ["Members: " + ", ".join(f"`{m.name}`" for m in obj), ""]
    return lines


def signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def _public_methods(cls: type) -> list[tuple[str, Any]]:
    """Methods and properties defined by the class itself (not inherited from nn.Module)."""
    members = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member) or isinstance(member, property):
            members.append((name, member.fget if isinstance(member, property) else member))
    return members


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__) if obj.__doc__ else "(no docstring)"


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].replace("\n", " ") or "(no docstring)"
