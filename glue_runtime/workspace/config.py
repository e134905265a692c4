"""Reading ``glue.yml`` into a :class:`~glue_runtime.workspace.model.Workspace`.

The file is checked against the JSON Schema in ``glue_runtime/workspace/glue.schema.json``
(:mod:`~glue_runtime.workspace.configschema`), then against the rules a schema cannot say
(:mod:`~glue_runtime.workspace.rules`); every problem is reported at once, by key path, and
nothing is built from a file that has one. docs/workspace.md is the reference. ``${VAR}``
expands from the environment as in flow files; the values it took are kept (unprinted) so
displays can mask them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from glue_runtime.errors import ConfigError
from glue_runtime.flow import expand_env
from glue_runtime.timeouts import parse_duration, parse_timeouts
from glue_runtime.workspace.configschema import problems_error, schema_problems
from glue_runtime.workspace.model import (
    AuthKind,
    InstalledConnector,
    OAuthApp,
    SupportedConnector,
    Workspace,
    WorkspaceFlow,
    WorkspaceSettings,
)
from glue_runtime.workspace.rules import rule_problems

CONFIG_NAME = "glue.yml"
ENV_WORKSPACE = "GLUE_WORKSPACE"
ENV_STORE_URL = "GLUE_STORE_URL"


def find_workspace(start: Path | None = None) -> Path | None:
    """The workspace folder: ``GLUE_WORKSPACE``, else the nearest folder from ``start`` (the
    current one) upwards that holds a glue.yml; None when there is none."""
    env = os.environ.get(ENV_WORKSPACE)
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return None


def load_workspace(root: Path | None = None) -> Workspace:
    """Read the workspace at ``root`` (or the one :func:`find_workspace` finds)."""
    folder = root if root is not None else find_workspace()
    if folder is None:
        raise ConfigError(
            f"no workspace here: no {CONFIG_NAME} in {Path.cwd()} or above it",
            hint="make one with `glue init DIR`, or point GLUE_WORKSPACE at it",
        )
    path = folder / CONFIG_NAME
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}  # a SafeLoader
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist", hint="make one with `glue init`") from None
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping at the top")
    from_env: set[str] = set()
    doc = expand_env(raw, where=str(path), found=from_env)
    root = folder.resolve()
    problems = schema_problems(doc, raw) or rule_problems(doc, root)
    if problems:
        raise problems_error(path, problems)
    return _workspace(root, doc, frozenset(from_env))


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key written twice in one mapping: YAML would keep the last
    one silently, and a second flow or connector of the same name would replace the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                line = first.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base class says so
                break
            if line != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"{key!r} is written twice (first on line {line})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _yaml_error(path: Path, exc: yaml.YAMLError) -> ConfigError:
    """Where the YAML breaks (line and column) and what the parser expected, on one line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context = getattr(exc, "context", None)
    return ConfigError(
        f"{path} is not valid YAML{where}: {problem}" + (f" ({context})" if context else ""),
        hint="check the indentation and the brackets there; a value with ': ' or '#' in it "
        "needs quotes",
    )


def _workspace(root: Path, raw: dict[str, Any], from_env: frozenset[str]) -> Workspace:
    store_url = os.environ.get(ENV_STORE_URL) or (raw.get("store") or {}).get("url") or ""
    if not store_url:
        store_url = f"sqlite:///{root / '.glue' / 'store.db'}"
    settings = raw.get("settings") or {}
    key_file = (raw.get("secrets") or {}).get("key_file")
    return Workspace(
        root=root,
        name=str(raw.get("name") or root.name),
        flows={
            str(name): _flow(str(name), body or {}, root)
            for name, body in (raw.get("flows") or {}).items()
        },
        store_url=store_url,
        key_file=(root / key_file) if key_file else root / ".glue" / "secret.key",
        settings=WorkspaceSettings(
            **{
                attr: seconds
                for k, attr in (
                    ("token_refresh_margin", "refresh_margin_s"),
                    ("oauth_state_ttl", "oauth_state_ttl_s"),
                    ("link_token_ttl", "link_token_ttl_s"),
                )
                if k in settings
                and (seconds := parse_duration(settings[k], where=f"glue.yml settings.{k}"))
                is not None
            }
        ),
        installed={
            str(n): InstalledConnector(
                str(n), str(c.get("pip_url", "")), tuple(c.get("executables") or ())
            )
            for n, c in (raw.get("connectors") or {}).items()
        },
        env_values=from_env,
        jobs=dict(raw.get("jobs") or {}),
        server=dict(raw.get("server") or {}),
        webhooks=dict(raw.get("webhooks") or {}),
    )


def _path(root: Path, value: Any) -> Path | None:
    return (root / str(value)) if value else None


def _flow(name: str, raw: dict[str, Any], root: Path) -> WorkspaceFlow:
    return WorkspaceFlow(
        name=name,
        description=str(raw.get("description") or ""),
        sources={
            str(cid): _supported(str(cid), body or {}, "read", root)
            for cid, body in (raw.get("sources") or {}).items()
        },
        targets={
            str(cid): _supported(str(cid), body or {}, "write", root)
            for cid, body in (raw.get("targets") or {}).items()
        },
        field_map=_path(root, raw.get("field_map")),
        etl=_path(root, raw.get("etl")),
        etl_mode=raw.get("etl_mode", "stream"),
        etl_format=str(raw.get("etl_format", "jsonl")),
        mappers=tuple(raw.get("mappers") or ()),
        timeouts=parse_timeouts(raw["timeouts"], where=f"flow '{name}'")
        if raw.get("timeouts")
        else {},
        triggers=dict(raw.get("triggers") or {}),
        schedules=dict(raw.get("schedules") or {}),
    )


def _supported(cid: str, raw: dict[str, Any], direction: str, root: Path) -> SupportedConnector:
    oauth = raw.get("oauth")
    auth: AuthKind = raw.get("auth") or ("oauth2" if oauth else "none")  # the schema checked it
    return SupportedConnector(
        id=cid,
        connector=str(raw.get("connector") or cid),
        direction="read" if direction == "read" else "write",
        auth=auth,
        config=dict(raw.get("config") or {}),
        settings=tuple(raw.get("settings") or ()),
        secret_settings=tuple(raw.get("secret_settings") or ()),
        oauth=OAuthApp(**oauth) if oauth else None,
        field_map=_path(root, raw.get("field_map")),
        catalog=_path(root, raw.get("catalog")),
    )
