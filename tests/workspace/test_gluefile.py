"""glue.yml's connectors: block is edited as text: the user's comments and order survive."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from glue_runtime.errors import ConfigError
from glue_runtime.workspace.gluefile import edited, with_connector

BEFORE = """\
name: shop  # the builder's name for it

connectors:
  # pinned for the EU tenants
  tap-one:
    pip_url: tap-one==1.0   # old pin
    executables: [tap-one]

  tap-zed:
    pip_url: ./pkgs/zed
    executables: [tap-zed]
# flows come last
flows: {}
"""


def test_an_entry_is_replaced_in_place_and_everything_else_kept() -> None:
    after = with_connector(BEFORE, "tap-one", "tap-one==2.0", ["tap-one"])
    assert after == BEFORE.replace(
        "    pip_url: tap-one==1.0   # old pin\n", "    pip_url: tap-one==2.0\n"
    )


def test_a_new_entry_goes_at_the_end_of_the_block() -> None:
    after = with_connector(BEFORE, "target-x", "git+https://example.invalid/t.git@v1", ["target-x"])
    assert after == BEFORE.replace(
        "    executables: [tap-zed]\n",
        "    executables: [tap-zed]\n"
        "  target-x:\n"
        "    pip_url: git+https://example.invalid/t.git@v1\n"
        "    executables: [target-x]\n",
    )
    assert list(yaml.safe_load(after)["connectors"]) == ["tap-one", "tap-zed", "target-x"]


def test_a_file_without_the_block_gets_it_appended() -> None:
    text = "name: shop\nflows: {}"  # no final newline
    after = with_connector(text, "tap-a", "path with spaces/tap-a", ["tap-a"])
    assert after.startswith("name: shop\nflows: {}\n\nconnectors:\n")
    assert yaml.safe_load(after)["connectors"] == {
        "tap-a": {"pip_url": "path with spaces/tap-a", "executables": ["tap-a"]}
    }


def test_values_that_yaml_would_misread_are_quoted() -> None:
    after = with_connector("connectors: {}\n", "1.0", "yes", ["tap-a", "true"])
    assert yaml.safe_load(after) == {
        "connectors": {"1.0": {"pip_url": "yes", "executables": ["tap-a", "true"]}}
    }


def test_an_edit_that_cannot_be_made_as_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "glue.yml"
    path.write_text("connectors: {tap-one: {pip_url: x, executables: [tap-one]}}\n")
    with pytest.raises(ConfigError) as err:
        edited(path, "tap-two", "y", ["tap-two"])
    assert "block style" in str(err.value) and "tap-two:" in str(err.value)
    with pytest.raises(ConfigError):
        edited(path, "tap-one", "x", ["tap-one"])
    assert path.read_text().startswith("connectors: {tap-one:")


def test_edited_is_none_when_the_entry_is_already_there(tmp_path: Path) -> None:
    path = tmp_path / "glue.yml"
    path.write_text(BEFORE)
    assert edited(path, "tap-zed", "./pkgs/zed", ["tap-zed"]) is None
    assert edited(path, "tap-zed", "./pkgs/zed", ["tap-zed", "target-zed"]) is not None
