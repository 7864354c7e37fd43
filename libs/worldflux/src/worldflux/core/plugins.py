"""One registry idiom for every extension axis: families, planners, datasets and gates.

An entry is any object with a `name` (a class attribute on a planner or gate class, a field of a
family's or dataset's info record). It joins a registry in one of two ways, and only these:

- `REGISTRY.register(entry)` where the entry is defined (built-ins do this at import; the
  registry imports its built-in modules on first lookup, so nothing else has to name them);
- an entry point in the registry's group (`worldflux.families`, `worldflux.planners`,
  `worldflux.datasets`, `worldflux.gates`) in a third-party package's metadata. The entry point
  may name the entry itself (`mygates:LatencyGate`) or a module that registers on import.

Adding to an axis is therefore one folder plus one registration, never an edit of this package.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from worldflux.core.config import suggest
from worldflux.core.errors import ContractError

T = TypeVar("T")
log = logging.getLogger(__name__)


def _identity(entry: Any) -> tuple[str, str] | Any:
    """What makes two registrations the same entry: a class by where it is defined (a module
    imported twice under pytest yields two equal classes), a record by equality."""
    if isinstance(entry, type):
        return (entry.__module__, entry.__qualname__)
    return entry


class Registry(Generic[T]):
    """Named entries of one kind, discovered once from built-ins and entry points."""

    def __init__(
        self,
        what: str,
        group: str,
        builtins: Sequence[str] = (),
        *,
        error: type[Exception] = ContractError,
        check: Callable[[T], None] | None = None,
    ) -> None:
        self.what = what
        self.group = group
        self.builtins = tuple(builtins)
        self.error = error
        self._check = check
        self._entries: dict[str, T] = {}
        self._discovered = False
        self._lock = threading.RLock()

    # -- joining ---------------------------------------------------------------------------
    def register(self, entry: T) -> T:
        """Add an entry (usable as a class decorator). The same entry again is a no-op; another
        entry under a taken name is an error, so a plugin cannot silently replace a built-in."""
        name = getattr(entry, "name", None)
        if not isinstance(name, str) or not name or ":" in name or name != name.strip():
            raise ContractError(
                f"a {self.what} needs a non-empty `name` without ':' or spaces, got {name!r}"
            )
        if self._check is not None:
            self._check(entry)
        with self._lock:
            existing = self._entries.get(name)
            if existing is not None and _identity(existing) != _identity(entry):
                raise ContractError(
                    f"{self.what} {name!r} is already registered "
                    f"({_describe(existing)}); {_describe(entry)} cannot take its name"
                )
            self._entries[name] = entry
        return entry

    def discover(self) -> None:
        """Import the built-in modules and load every entry point of the group, once."""
        with self._lock:
            if self._discovered:
                return
            self._discovered = True
            for module in self.builtins:
                try:
                    importlib.import_module(module)
                except ModuleNotFoundError as err:
                    # A slimmer install may leave a built-in catalogue out; a broken import
                    # inside a present module is still an error.
                    if err.name is None or not module.startswith(err.name):
                        raise
            for entry_point in importlib.metadata.entry_points(group=self.group):
                try:
                    loaded = entry_point.load()
                    if not isinstance(loaded, types.ModuleType):
                        self.register(loaded)
                except Exception as err:  # a broken plugin must not hide the others
                    log.warning(
                        "worldflux %s plugin %s (%s) failed to load: %s",
                        self.what,
                        entry_point.name,
                        entry_point.value,
                        err,
                    )

    # -- looking up ------------------------------------------------------------------------
    def get(self, name: str) -> T:
        self.discover()
        try:
            return self._entries[name]
        except KeyError:
            raise self.error(
                f"unknown {self.what} {name!r}{suggest(name, self._entries)}; "
                f"known: {', '.join(self.names())}"
            ) from None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def peek(self, name: str) -> T | None:
        """The entry registered under `name` so far, without discovering (for registration)."""
        return self._entries.get(name)

    def names(self) -> list[str]:
        """Registered names, in registration order (built-ins first)."""
        self.discover()
        return list(self._entries)

    def values(self) -> list[T]:
        self.discover()
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def unregister(self, name: str) -> None:
        """Remove an entry (tests that register a throwaway one clean up with this)."""
        with self._lock:
            self._entries.pop(name, None)


def _describe(entry: Any) -> str:
    if isinstance(entry, type):
        return f"{entry.__module__}.{entry.__qualname__}"
    source = getattr(entry, "source", None) or type(entry).__module__
    return f"{type(entry).__name__} from {source}"
