"""The credentials file of `galvani simulate --credentials FILE` (galvani/credentials.py)."""

from pathlib import Path

import pytest

from galvani.credentials import CredentialsError, read_credentials


def _file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "devices.txt"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_one_device_a_line_comments_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = _file(tmp_path, "# Rose room\ngd-rose:pass-word-1\n\n  gd-sage:has:colons  \r\n", mode=0o640)
    assert read_credentials(path) == {"gd-rose": "pass-word-1", "gd-sage": "has:colons"}


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o602])
def test_a_file_other_users_may_open_is_refused(tmp_path: Path, mode: int) -> None:
    path = _file(tmp_path, "gd-rose:pass-word-1\n", mode)
    with pytest.raises(CredentialsError, match=f"mode {mode:04o}.*chmod 600"):
        read_credentials(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("gd-rose:pass-word-1\ngd-sage\n", "line 2: expected device_id:password"),
        ("gd-rose:\n", "line 1: expected device_id:password"),
        (":pass-word-1\n", "line 1: expected device_id:password"),
        ("gd-rose:pass-word-1\ngd-rose:pass-word-2\n", "line 2: gd-rose is listed twice"),
        ("# nothing yet\n", "lists no device"),
    ],
)
def test_a_malformed_file_is_refused_without_showing_a_password(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(CredentialsError, match=problem) as refused:
        read_credentials(_file(tmp_path, text))
    assert "pass-word" not in str(refused.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read .*nowhere.txt: No such file"):
        read_credentials(tmp_path / "nowhere.txt")
