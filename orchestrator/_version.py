"""The package's version: one place, read by pyproject.toml and written into every stored row
(``orch_version``). A module of its own so that anything may import it without the rest."""

__version__ = "0.1.0"
