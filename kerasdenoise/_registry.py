"""The one name -> object registry behind models, losses, trainers, drivers and presets.

Registration is explicit: each registry is built from one table, declared where the registry
is, that maps every name to ``"package.module:attribute"``.  Nothing registers itself by being
imported; a name's module is imported when that name is first looked up, so that
``import kerasdenoise.models`` stays cheap and a family whose module is absent cannot break
the others.  Listing the names imports nothing.
"""
from __future__ import annotations

import importlib
from typing import Mapping, Union


def resolve(target: str):
    """The object named by ``"package.module:attribute"`` (the module is imported)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"registry target {target!r} is not of the form 'package.module:attribute'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(f"registry target {target!r}: module {module_name} has no "
                          f"attribute {attribute!r}") from None


class Registry:
    """Names mapped to objects, declared in one table.

    ``table`` maps each name to ``"package.module:attribute"``, resolved (module imported) on
    the first lookup of that name, or to the object itself.  ``table`` may also be one
    ``"package.module:attribute"`` string naming such a mapping, loaded on first use (the
    presets: plain data, importable without TensorFlow).
    """

    def __init__(self, kind: str, table: Union[Mapping[str, object], str]):
        self.kind = kind
        self._source = table
        self._table = None
        self._resolved = {}

    def _entries(self) -> Mapping[str, object]:
        if self._table is None:
            table = resolve(self._source) if isinstance(self._source, str) else self._source
            self._table = dict(table)
        return self._table

    def names(self):
        """Sorted names of every entry (nothing is imported beyond the table)."""
        return sorted(self._entries())

    def __contains__(self, name):
        return name in self._entries()

    def __iter__(self):
        return iter(self.names())

    def __len__(self):
        return len(self._entries())

    def get(self, name: str, default=KeyError):
        """The entry for ``name``; unknown names raise ``ValueError`` listing the valid ones."""
        entries = self._entries()
        if name not in entries:
            if default is not KeyError:
                return default
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}")
        if name not in self._resolved:
            target = entries[name]
            self._resolved[name] = resolve(target) if isinstance(target, str) else target
        return self._resolved[name]

    def load_all(self) -> dict:
        """Every entry, resolved (imports every module the table names)."""
        return {name: self.get(name) for name in self.names()}

    def entry(self, name: str):
        """Decorator marking a definition as the table's entry ``name``: checks that the table
        declares ``name`` and returns the object unchanged (it registers nothing)."""
        if name not in self._entries():
            raise ValueError(f"{self.kind} {name!r} is not declared in the {self.kind} table; "
                             f"declared: {', '.join(self.names())}")
        return lambda value: value
