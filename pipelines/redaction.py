"""One redaction for every string a person or a file sees: secrets become ``***``, URL passwords are hidden.

Values read from the environment (``${env:VAR}``, also through ``${params.x}``)
are secrets. They reach components as themselves, so they can come back in
anything a component says: a progress note, an exception, a log line, a
parameter validation error. Every path to the console, the metadata store and
log files goes through ``Redactor.text``; the CLI's own streams are wrapped
too (``redact_console``), as the last line of defence for a path nobody
thought of.

A database URL's password is never printed, secret or not: ``shown_url``
renders it the way SQLAlchemy does (``postgresql://me:***@host/db``).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

MASK = "***"


class Redactor:
    """Replaces each secret by ``***`` in text (longest first, so a secret containing another goes whole).

    ``shown_as`` replaces a secret by something else: the records of a pipeline
    file show an environment value as the ``${env:VAR}`` reference that read it.
    """

    def __init__(self, secrets: Iterable[str] = (), *, shown_as: Mapping[str, str] | None = None) -> None:
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self.shown_as = {secret: (shown_as or {}).get(secret, MASK) for secret in self.secrets}

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def text(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, self.shown_as[secret])
        return text

    def value(self, value: Any) -> Any:
        """``value`` with every string in it (keys included) redacted; other values pass through."""
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        return value


def url_password(url: str) -> str | None:
    """The password written in a database URL, if any (it joins the secrets of a command's output)."""
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
    except Exception:  # not a database URL: nothing to hide
        return None
    return str(password) if password else None


def shown_url(url: str) -> str:
    """``url`` as printed: a database URL with its password masked, anything else as it is."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # not a SQLAlchemy URL (a path, an s3:// URI): no password to hide
        return url
    if not parsed.password:
        return url
    return parsed.render_as_string(hide_password=True)


class _RedactingStream(io.TextIOBase):
    """Stands in for ``sys.stdout`` / ``sys.stderr``: the same stream, with secrets masked."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self.stream = stream
        self.redactor = redactor

    def write(self, text: str) -> int:
        self.stream.write(self.redactor.text(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")


def redact_console(secrets: Iterable[str]) -> None:
    """Mask ``secrets`` in everything this process prints from now on (the CLI calls it once it knows them)."""
    redactor = Redactor(secrets)
    if not redactor:
        return
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            continue
        if isinstance(stream, _RedactingStream):
            redactor = Redactor((*stream.redactor.secrets, *redactor.secrets))
            stream = stream.stream
        setattr(sys, name, _RedactingStream(stream, redactor))
