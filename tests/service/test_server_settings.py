"""glue.yml's server: block: defaults, the public URL the outside world uses, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from glue_runtime.errors import ConfigError
from glue_runtime.service.settings import ServerSettings, parse_server


def test_defaults() -> None:
    settings = parse_server({})
    assert settings == ServerSettings("127.0.0.1", 8765, None, 1024 * 1024, 30.0)
    assert settings.url("/v1/oauth/callback") == "http://127.0.0.1:8765/v1/oauth/callback"


def test_values_and_the_public_url() -> None:
    settings = parse_server(
        {
            "host": "0.0.0.0",
            "port": 9000,
            "public_url": "https://glue.example.com/",
            "max_body": 4096,
            "grace": 120,
        }
    )
    assert (settings.host, settings.port, settings.max_body, settings.grace_s) == (
        "0.0.0.0",
        9000,
        4096,
        120.0,
    )
    assert settings.url("v1/hooks/abc") == "https://glue.example.com/v1/hooks/abc"
    assert parse_server({"host": "::1"}).base_url == "http://[::1]:8765"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"port": 70000}, "server.port"),
        ({"port": "80"}, "server.port"),
        ({"max_body": 0}, "server.max_body"),
        ({"public_url": "glue.example.com"}, "server.public_url"),
        ({"grace": -1}, "server.grace"),
    ],
)
def test_bad_values_are_named(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_server(raw)


def test_an_unknown_server_key_is_refused_when_glue_yml_loads(tmp_path: Path) -> None:
    from glue_runtime.workspace.config import load_workspace

    (tmp_path / "glue.yml").write_text("server: {port: 9000, colour: red}\nflows: {}\n")
    with pytest.raises(ConfigError) as err:
        load_workspace(tmp_path)
    assert "colour" in str(err.value)
