"""The one name -> object registry behind models, losses, trainers, drivers and presets."""
from __future__ import annotations

import importlib


class Registry:
    """Names mapped to objects, filled by family modules that are imported on first lookup.

    Importing a family module registers its entries; the modules are listed rather than
    imported at package import so that ``import kerasdenoise`` stays cheap and a family whose
    module is absent cannot break the others.  A missing dependency *inside* an existing
    module is still an error.
    """

    def __init__(self, kind: str, modules=()):
        self.kind = kind
        self.modules = tuple(modules)
        self._entries = {}
        self._loaded = False

    def register(self, name: str, entry=None):
        """``register(name)`` as a decorator, or ``register(name, entry)`` directly."""

        def add(value):
            if name in self._entries and self._entries[name] is not value:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = value
            return value

        return add if entry is None else add(entry)

    def _load(self):
        if self._loaded:
            return
        self._loaded = True
        for module in self.modules:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as err:
                if err.name != module:
                    raise

    def names(self):
        self._load()
        return sorted(self._entries)

    def __contains__(self, name):
        self._load()
        return name in self._entries

    def get(self, name: str, default=KeyError):
        """The entry for ``name``; unknown names raise ``ValueError`` listing the valid ones."""
        self._load()
        if name in self._entries:
            return self._entries[name]
        if default is not KeyError:
            return default
        raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(sorted(self._entries))}")
