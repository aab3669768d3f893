"""The admin channel's token book and token files: who a bearer token names, and how files
are written and read."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from controller.web.tokens import (
    DEFAULT_TOKEN_NAME,
    Token,
    TokenBook,
    TokenFileError,
    client_token,
    default_token_path,
    ensure_token_file,
    read_tokens,
)

BOOK = TokenBook([Token("ci", "ci-secret"), Token("ops", "ops-secret")])


def test_a_bearer_token_is_known_by_its_name() -> None:
    assert BOOK.who("Bearer ops-secret") == "ops"
    assert BOOK.who("bearer ci-secret") == "ci"


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic b3BzLXNlY3JldA==", "ops-secret", "Bearer ops-secre"],
)
def test_anything_but_a_known_bearer_token_names_no_one(header: str | None) -> None:
    assert BOOK.who(header) is None


def test_a_token_never_shows_in_its_repr() -> None:
    assert "ops-secret" not in repr(Token("ops", "ops-secret"))
    assert "ops-secret" not in repr(BOOK.names)


def test_the_first_start_writes_a_token_only_its_owner_can_read(tmp_path: Path) -> None:
    path = tmp_path / "config" / "chargectl" / "admin-token"
    book, created = ensure_token_file(path)
    assert created and book.names == (DEFAULT_TOKEN_NAME,)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    [token] = read_tokens(path)
    assert len(token.secret) >= 43  # 256 random bits
    assert book.who(f"Bearer {token.secret}") == DEFAULT_TOKEN_NAME


def test_a_second_start_keeps_the_token(tmp_path: Path) -> None:
    path = tmp_path / "admin-token"
    ensure_token_file(path)
    first = read_tokens(path)
    _, created = ensure_token_file(path)
    assert not created and read_tokens(path) == first


def test_a_token_file_others_can_read_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "admin-token"
    path.write_text("ops:ops-secret\n")
    path.chmod(0o644)
    book, _ = ensure_token_file(path)
    assert book.names == ("ops",)
    assert "can be read by other users (mode 644)" in caplog.text
    assert "ops-secret" not in caplog.text


def test_a_token_file_has_name_token_lines_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# who may send commands\n\nci: ci-secret\nops:ops-secret\n")
    assert read_tokens(path) == [Token("ci", "ci-secret"), Token("ops", "ops-secret")]


def test_a_malformed_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("ci:ci-secret\njust-a-token\n")
    with pytest.raises(TokenFileError, match=r"tokens:2: expected NAME:TOKEN"):
        read_tokens(path)


def test_a_mounted_secret_is_a_directory_of_tokens_named_after_their_files(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "ci").write_text("ci-secret\n")
    (secret / "ops").write_text("ops-secret")
    (secret / "..data").mkdir()  # what a Kubernetes Secret volume also holds
    assert read_tokens(secret) == [Token("ci", "ci-secret"), Token("ops", "ops-secret")]


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# nothing yet\n")
    with pytest.raises(TokenFileError, match="holds no token"):
        ensure_token_file(path)


def test_the_default_path_follows_the_environment(tmp_path: Path) -> None:
    assert default_token_path({"CHARGECTL_ADMIN_TOKEN_FILE": "/run/t"}) == Path("/run/t")
    assert default_token_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "chargectl" / "admin-token"
    )


def test_the_client_takes_the_flag_then_the_environment_then_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("ops:from-file\nci:second\n")
    environ = {"CHARGECTL_ADMIN_TOKEN_FILE": str(path)}
    assert client_token("from-flag", None, environ) == "from-flag"
    assert client_token(None, None, {**environ, "CHARGECTL_TOKEN": "from-env"}) == "from-env"
    assert client_token(None, None, environ) == "from-file"
    with pytest.raises(TokenFileError, match="does not exist"):
        client_token(None, tmp_path / "absent", {})
