"""The admin channel's credentials: named bearer tokens, kept in a file only its owner reads.

Commands act on chargers, so the listener that carries them asks every request for a token and
records the token's *name* (never the token) as who asked. Two shapes of token file:

- a file of `NAME:TOKEN` lines (`#` starts a comment), the one `serve` writes on first start
  with a single token named `admin`, mode 0600 in a directory of mode 0700;
- a directory with one file per token, named after the file: a Kubernetes Secret mounted as a
  volume (`kubectl create secret generic chargectl-admin --from-literal=ci=…` gives a token
  named `ci`); hidden entries (the `..data` links Kubernetes adds) are skipped.

Tokens are compared with `hmac.compare_digest` against every known token, so neither a wrong
token's length nor how much of it matched shows in the time an answer takes. Kept free of
aiohttp: `chargectl command` reads the same file to find its token.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("chargectl.web")

TOKEN_FILE_ENV = "CHARGECTL_ADMIN_TOKEN_FILE"
"""Where the token file is, when not the default (both `serve` and `command` read it)."""

TOKEN_ENV = "CHARGECTL_TOKEN"
"""A token given to `chargectl command` directly (a CI secret), instead of the file."""

DEFAULT_TOKEN_NAME = "admin"
"""The name of the token `serve` generates, which its events and metrics show."""

TOKEN_BYTES = 32
"""Random bytes in a generated token: 256 bits, as URL-safe base64 (43 characters)."""


class TokenFileError(Exception):
    """A token file that cannot be used: missing, unreadable, empty or malformed."""


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    secret: str

    def __repr__(self) -> str:  # never let a token reach a log through a repr
        return f"Token(name={self.name!r}, secret=<hidden>)"


class TokenBook:
    """The tokens the admin channel accepts; `who(header)` is the name of the one presented."""

    def __init__(self, tokens: Iterable[Token]) -> None:
        self._tokens = tuple(tokens)
        if not self._tokens:
            raise TokenFileError("no tokens")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(token.name for token in self._tokens)

    def who(self, authorization: str | None) -> str | None:
        """The token's name for an `Authorization: Bearer …` header, None for anything else.

        Every token is compared, whatever matched first, so the answer takes as long for a
        wrong token as for the last one in the book.
        """
        presented = _bearer(authorization)
        if presented is None:
            return None
        found: str | None = None
        for token in self._tokens:
            if hmac.compare_digest(presented.encode(), token.secret.encode()):
                found = token.name
        return found


def default_token_path(environ: Mapping[str, str] = os.environ) -> Path:
    """`$CHARGECTL_ADMIN_TOKEN_FILE`, else `$XDG_CONFIG_HOME/chargectl/admin-token` (with
    `~/.config` standing in for an unset XDG_CONFIG_HOME, as the XDG spec says)."""
    given = environ.get(TOKEN_FILE_ENV)
    if given:
        return Path(given)
    config = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "chargectl" / "admin-token"


def read_tokens(path: Path) -> list[Token]:
    """The tokens of a token file or directory (see the module docstring for the shapes)."""
    try:
        if path.is_dir():
            return _read_directory(path)
        return _read_lines(path, path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TokenFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def ensure_token_file(path: Path) -> tuple[TokenBook, bool]:
    """The tokens in `path`, after writing one there if nothing is (`created` says which).

    A new file is created exclusively with mode 0600 (and its directory 0700), so no other
    user can read it, not even for the moment between creating and restricting it. An existing
    file that others may read is used, with a warning: a Kubernetes Secret volume shows up
    with mode 0644 unless the chart's `defaultMode` says otherwise.
    """
    created = False
    if not path.exists():
        _write_new_token_file(path)
        created = True
    elif not path.is_dir() and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "admin token file %s can be read by other users (mode %o); chmod 600 it",
            path,
            stat.S_IMODE(path.stat().st_mode),
        )
    tokens = read_tokens(path)
    if not tokens:
        raise TokenFileError(f"{path} holds no token")
    return TokenBook(tokens), created


def client_token(
    token: str | None, token_file: Path | None, environ: Mapping[str, str] = os.environ
) -> str:
    """The token `chargectl command` presents: `--token`, `$CHARGECTL_TOKEN`, or the first
    token of `--token-file` / the default token file, in that order."""
    if token:
        return token
    if environ.get(TOKEN_ENV):
        return environ[TOKEN_ENV]
    path = token_file or default_token_path(environ)
    if not path.exists():
        raise TokenFileError(
            f"no admin token: {path} does not exist (serve writes it on first start; "
            f"or give --token, ${TOKEN_ENV} or --token-file)"
        )
    tokens = read_tokens(path)
    if not tokens:
        raise TokenFileError(f"{path} holds no token")
    return tokens[0].secret


def _write_new_token_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    text = (
        "# chargectl admin tokens, one NAME:TOKEN a line; the name is recorded as who asked.\n"
        f"{DEFAULT_TOKEN_NAME}:{secret}\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _read_lines(path: Path, text: str) -> list[Token]:
    tokens = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, secret = line.partition(":")
        if not sep or not name.strip() or not secret.strip():
            raise TokenFileError(f"{path}:{number}: expected NAME:TOKEN")
        tokens.append(Token(name.strip(), secret.strip()))
    return tokens


def _read_directory(path: Path) -> list[Token]:
    tokens = []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        secret = entry.read_text(encoding="utf-8").strip()
        if secret:
            tokens.append(Token(entry.name, secret))
    return tokens


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()
