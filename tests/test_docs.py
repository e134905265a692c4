"""The docs' examples parse and mean what the docs say."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from glue_runtime.flow import parse_flow

DOCS = Path(__file__).parent.parent / "docs"


def yaml_blocks(doc: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)


def test_flow_file_doc_example_parses(tmp_path: Path, monkeypatch):
    (block,) = yaml_blocks(DOCS / "flow-file.md")
    flow = parse_flow(yaml.safe_load(block), where="doc", base_dir=tmp_path)
    assert flow.name == "demo"
    assert flow.source.connector == "files"
    assert flow.targets[0].config == {"database": "output/demo.db"}
    assert flow.field_map == tmp_path / "fieldmap.yml"
    assert flow.state_dir == tmp_path / ".glue/state"
    assert flow.env == {"TZ": "UTC"}


def test_readme_flow_example_parses(tmp_path: Path):
    readme = Path(__file__).parent.parent / "README.md"
    (block,) = yaml_blocks(readme)
    flow = parse_flow(yaml.safe_load(block), where="README", base_dir=tmp_path)
    assert flow.etl == tmp_path / "etl.py"


def test_exit_codes_doc_matches_the_code():
    from glue_runtime.errors import EXIT_CODES

    table = (DOCS / "cli.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in table
