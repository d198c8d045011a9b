"""Which databases can hold the metadata store, decided from the URL alone (no driver imported)."""

from __future__ import annotations

BACKENDS = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")
"""URL schemes of the stores headrace supports (a ``+driver`` suffix is allowed)."""


def unsupported_backend(url: str) -> str | None:
    """The scheme of ``url`` when headrace cannot keep metadata there, else None.

    Checked when the pipeline file is validated, so ``metadata: notaurl://x``
    fails before anything runs rather than when the first component starts.
    """
    if "://" not in url:
        return None  # a bare path is a SQLite file
    scheme = url.split("://", 1)[0]
    return None if scheme.split("+", 1)[0].lower() in BACKENDS else scheme
