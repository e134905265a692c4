"""Secrets never reach logs, errors or the job result; connectors never outlive the runner.

Secrets are planted everywhere a connector or script can print them (its environment, a DSN,
a Basic auth header, next to the point where an error excerpt is cut, a batch script's output)
and the tests assert that no piece of four characters or more of them shows anywhere. The
process tests kill a real runner (kill -9, SIGHUP) and wait for its connectors to be gone.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from glue_test_helpers import FAKE_TARGET, SINGER, run_cli
from scripted_run import cli_argv, emit, rec, schema, state

from glue_runtime import protocol
from glue_runtime.errors import LineTooLong, ProtocolError
from glue_runtime.flow import load_flow
from glue_runtime.process import ConnectorFiles, remove_stale_folders
from glue_runtime.secrets import Redactor, secret_values

LEAKY_TAP = str(SINGER / "leaky_tap.py")
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signal and /proc: Linux"
)
REVIEW_TARGET = str(SINGER / "review_target.py")


def leaks(secret: str, text: str) -> list[str]:
    """The pieces of four characters of ``secret`` that appear in ``text``."""
    return sorted({secret[i : i + 4] for i in range(len(secret) - 3)} & _pieces(text))


def _pieces(text: str) -> set[str]:
    return {text[i : i + 4] for i in range(len(text) - 3)}


def write_flow(tmp_path: Path, source: dict, *, extra: str = "", target: dict | None = None):
    target = target or {"output": "out.jsonl"}
    (tmp_path / "flow.yml").write_text(
        "name: leaky\n"
        f"source: {json.dumps({'connector': LEAKY_TAP, **source})}\n"
        f"targets: [{json.dumps({'connector': FAKE_TARGET, 'config': target})}]\n"
        "state: {file: state.json}\n" + extra
    )


# == units: what a secret looks like when printed ===========================================


def test_a_url_password_is_secret_whatever_the_setting_is_called():
    pw = "Gz8!Kq4@Wd"
    config = {"sqlalchemy_url": f"postgresql://glue:{pw.replace('@', '%40')}@db.local:5432/app"}
    values = secret_values(config)
    assert pw in values  # decoded, as the connector will use it
    redactor = Redactor(values)
    for printed in (
        f"connecting to postgresql://glue:{pw.replace('@', '%40')}@db.local/app",
        f"password={pw}",
    ):
        assert leaks(pw, redactor.redact(printed)) == [], printed
    assert "db.local" in redactor.redact(config["sqlalchemy_url"])  # only the password goes


@pytest.mark.parametrize(
    ("setting", "secret"),
    [
        ("postgresql://glue:p@ss-W0rd@db.local/app", "p@ss-W0rd"),  # an unescaped "@"
        ("host=db user=glue password=Lq8Wm3Zt dbname=app", "Lq8Wm3Zt"),  # libpq
        ("Server=db;User Id=glue;Pwd=Rk5Tn2Vx;", "Rk5Tn2Vx"),  # ODBC
        ("https://api.example.com/v1/items?api_key=Hs4Jd7Fk&page=2", "Hs4Jd7Fk"),
    ],
)
def test_a_secret_inside_a_connection_string_is_masked(setting: str, secret: str):
    redactor = Redactor(secret_values({"connection": setting}))
    assert leaks(secret, redactor.redact(f"connecting: {secret} ({setting})")) == []
    assert (
        secret_values({"connection": "https://example.com/a=b?page=2&key_properties=id"}) == set()
    )


@pytest.mark.parametrize("user", ["", "a", "ab", "ada", "someone.else@example.com"])
def test_a_basic_auth_header_is_masked_whatever_the_user_name(user: str):
    pw = "hV3nT9rQ2xL7"
    header = base64.b64encode(f"{user}:{pw}".encode()).decode()
    redactor = Redactor({pw})
    text = redactor.redact(f"> Authorization: Basic {header}\n> Accept: */*")
    assert header not in text
    assert "Authorization: Basic ***" in text
    assert "Accept: */*" in text
    # and the URL-safe alphabet, a token with no padding, inside a longer base64 text
    blob = base64.urlsafe_b64encode(json.dumps({"u": user, "p": pw}).encode()).decode()
    assert blob.rstrip("=") not in redactor.redact(f"token={blob.rstrip('=')};")


def test_percent_encoded_and_json_escaped_forms_are_masked():
    pw = 'p@ss/w"rd+9 x'
    redactor = Redactor({pw})
    for printed in ("p%40ss%2Fw%22rd%2B9%20x", "p%40ss%2Fw%22rd%2B9+x", json.dumps(pw)[1:-1]):
        assert redactor.redact(f"..{printed}..") == "..***..", printed


@pytest.mark.parametrize("at", range(90, 125))
def test_an_excerpt_is_cut_after_masking(at: int):
    secret = "sk_live_Q7W9PK2VM4"
    redactor = Redactor({secret})
    line = ("x" * at + secret + "y" * 300).encode()
    shown = protocol.excerpt(line, redactor=redactor)
    assert leaks(secret, shown) == []
    assert len(shown) <= protocol.EXCERPT_CHARS + 3
    with pytest.raises(ProtocolError) as err:
        protocol.parse_line(line, source="tap-x", line_no=3, redactor=redactor)
    assert leaks(secret, str(err.value)) == []
    with pytest.raises(LineTooLong) as err2:
        protocol.check_length(line, 200, source="tap-x", line_no=3, redactor=redactor)
    assert leaks(secret, str(err2.value)) == []


def test_an_excerpt_of_a_line_full_of_secrets_still_shows_none():
    secrets = [f"tok{i:02d}-Z8Q4W7" for i in range(40)]
    redactor = Redactor(secrets)
    line = "".join(secrets).encode() * 3
    shown = protocol.excerpt(line, redactor=redactor)
    assert shown.startswith("***") and all(leaks(s, shown) == [] for s in secrets)


# == through the CLI and the API ==============================================================


def test_flow_env_values_are_masked_in_log_and_json_error(tmp_path: Path, monkeypatch):
    token, header = "Zt6Qp3Lw9Xe2", "Hm5Rb8Kc1Vy4"
    write_flow(
        tmp_path,
        {"config": {"print_env": ["MY_TOKEN", "UPSTREAM", "API_AUTH", "PLAIN"], "exit_code": 1}},
        extra="env:\n"
        "  MY_TOKEN: ${SEC_ENV}\n"  # interpolated, and named like a secret
        "  UPSTREAM: 'Bearer ${OTHER_SEC}'\n"  # interpolated: masked whatever the name
        "  API_AUTH: lit-auth-Kx93Jq\n"  # written in the file, named like a secret
        "  PLAIN: just-a-setting\n",
    )
    result = run_cli(
        "run", "flow.yml", "--json", cwd=tmp_path, env={"SEC_ENV": token, "OTHER_SEC": header}
    )
    assert result.code == 3, result.stderr
    out = result.stdout + result.stderr
    for secret in (token, header, "lit-auth-Kx93Jq"):
        assert leaks(secret, out) == [], secret
    error = json.loads(result.stdout)["error"]["message"]
    assert "MY_TOKEN=***" in error and "UPSTREAM=Bearer ***" in error
    assert "PLAIN=just-a-setting" in out  # what is not secret stays readable
    monkeypatch.setenv("SEC_ENV", token)
    monkeypatch.setenv("OTHER_SEC", header)
    assert load_flow(tmp_path / "flow.yml").env_secrets == {token, header}


def test_validate_false_still_masks_settings_the_schema_marks_secret(tmp_path: Path):
    secret = "Op4Qu7Ek2Ww9"
    config = {"opaque": secret, "print_config": True, "stderr": [f"using {secret}"]}
    write_flow(tmp_path, {"config": {**config, "exit_code": 1}, "validate": False})
    result = run_cli("run", "flow.yml", "--json", cwd=tmp_path)
    assert result.code == 3, result.stderr
    assert leaks(secret, result.stdout + result.stderr) == []
    assert "using ***" in result.stderr


def test_dsn_and_basic_auth_printed_by_a_connector_are_masked(tmp_path: Path):
    dsn_pw, api_pw = "Dz3Nv8Tq5Ks1", "Ba7Ys2Gm9Jr4"
    config = {
        "database_url": f"postgresql://glue:{dsn_pw}@127.0.0.1:5432/app",  # no secret-like name
        "user": "ada",
        "password": api_pw,
        "basic_auth": ["user", "password"],
        "stderr": [
            f"connecting to postgresql://glue:{dsn_pw}@127.0.0.1/app",
            f"psycopg: password={dsn_pw} host=127.0.0.1",
            "Authorization: Basic " + base64.b64encode(f"other-user:{api_pw}".encode()).decode(),
        ],
        "exit_code": 1,
    }
    write_flow(tmp_path, {"config": config})
    result = run_cli("run", "flow.yml", "--json", cwd=tmp_path)
    assert result.code == 3, result.stderr
    out = result.stdout + result.stderr
    assert leaks(dsn_pw, out) == [] and leaks(api_pw, out) == []
    assert base64.b64encode(f"ada:{api_pw}".encode()).decode()[:8] not in out
    assert "Authorization: Basic ***" in result.stderr
    assert "postgresql://glue:***@127.0.0.1/app" in result.stderr


def test_a_secret_at_the_excerpt_cut_of_a_malformed_tap_line_is_masked(tmp_path: Path):
    secret = "sk_live_SECRET_Q7W"
    prefix = '{"type": "RECORD", "stream": "s", "record": {"note": "'
    bad = prefix + "x" * (106 - len(prefix)) + secret + '"} oops'  # the cut falls inside it
    write_flow(tmp_path, {"config": {"api_key": secret, "stdout": [bad]}})
    result = run_cli("run", "flow.yml", "--json", cwd=tmp_path)
    assert result.code == 4, result.stderr
    assert leaks(secret, result.stdout + result.stderr) == []
    assert "not valid JSON" in result.stderr


def test_a_secret_at_the_excerpt_cut_of_a_too_long_line_is_masked(tmp_path: Path):
    secret = "sk_live_SECRET_L9M"
    long_line = json.dumps({"type": "RECORD", "stream": "s", "record": {"id": 2}})
    long_line = long_line[:-2] + ', "n": "'
    long_line += "x" * (106 - len(long_line)) + secret + "z" * 2000 + '"}}'  # cut inside it
    write_flow(tmp_path, {"config": {"api_key": secret, "stdout": [long_line]}})
    result = run_cli("run", "flow.yml", "--max-line-bytes", "1000", "--json", cwd=tmp_path)
    assert result.code == 4, result.stderr
    assert "longer than the limit" in result.stderr
    assert leaks(secret, result.stdout + result.stderr) == []


def test_a_secret_at_the_excerpt_cut_of_a_target_stdout_line_is_masked(tmp_path: Path):
    secret = "tg_pass_SECRET_R2D"
    target = {"password": secret, "stdout_lines": ["x" * 106 + secret + " logged in"]}
    write_flow(tmp_path, {"config": {}}, target={"output": "out.jsonl", **target})
    text = (tmp_path / "flow.yml").read_text().replace(FAKE_TARGET, REVIEW_TARGET)
    (tmp_path / "flow.yml").write_text(text)
    result = run_cli("run", "flow.yml", "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "is not a state" in result.stderr  # the line was quoted, masked
    assert leaks(secret, result.stdout + result.stderr) == []


def test_the_api_result_and_log_hold_no_env_or_dsn_secret(tmp_path: Path, caplog, monkeypatch):
    import logging

    import glue_runtime

    # an in-process CLI test earlier in the session may have stopped propagation to caplog
    monkeypatch.setattr(logging.getLogger("glue_runtime"), "propagate", True)

    token, dsn_pw = "Ap1Zx8Cv3Bn6", "Qw2Er4Ty6Ui8"
    config = {
        "print_env": ["DEPLOY_TOKEN"],
        "stderr": [f"db postgresql://u:{dsn_pw}@h/d"],
        "dsn_like": f"mysql://u:{dsn_pw}@h/d",
        "exit_code": 1,
    }
    with caplog.at_level("DEBUG", logger="glue_runtime"):
        result = glue_runtime.run(
            LEAKY_TAP,
            FAKE_TARGET,
            tap_config=config,
            target_config={"output": str(tmp_path / "out.jsonl")},
            state_file=tmp_path / "state.json",
            env={"DEPLOY_TOKEN": token},
        )
    assert not result.ok
    seen = caplog.text + str(result.error) + json.dumps(result.as_dict(), default=str)
    assert leaks(token, seen) == [] and leaks(dsn_pw, seen) == []
    assert "DEPLOY_TOKEN=***" in caplog.text


def test_batch_script_output_is_masked(tmp_path: Path):
    token, dsn_pw = "Bt5Sc7Ri9Pt1", "Lk3Jh5Gf7Ds9"
    script = tmp_path / "etl.py"
    script.write_text(
        "import os, sys\n"
        "print('token is', os.environ['MY_TOKEN'], file=sys.stderr)\n"
        "print('db is', os.environ['DB_URL'])\n"
        "sys.exit(1)\n"
    )
    write_flow(
        tmp_path,
        {"config": {}},
        extra="etl: {script: etl.py, mode: batch}\n"
        "env:\n"
        "  MY_TOKEN: ${SEC_ENV}\n"
        f"  DB_URL: postgresql://glue:{dsn_pw}@127.0.0.1/app\n",
    )
    result = run_cli("run", "flow.yml", "--json", cwd=tmp_path, env={"SEC_ENV": token})
    assert result.code == 4, result.stderr
    out = result.stdout + result.stderr
    assert leaks(token, out) == [] and leaks(dsn_pw, out) == []
    assert "token is ***" in out and "db is postgresql://glue:***@127.0.0.1/app" in out


# == connectors die with the runner; their folders do not outlive it ========================


def _gone(pid: int) -> bool:
    """True once the process has exited (a zombie no one reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _start_sleeping_run(tmp_path: Path) -> tuple[subprocess.Popen, int, dict]:
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    pid_file = tmp_path / "tap.pid"
    write_flow(tmp_path, {"config": {"pid_file": str(pid_file), "sleep": 300}})
    env = {**os.environ, "TMPDIR": str(tmp)}
    runner = subprocess.Popen(
        [sys.executable, "-m", "glue_runtime", "run", "flow.yml"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(pid_file.exists, 120, "the tap to start")
    return runner, int(pid_file.read_text()), env


@linux_only
def test_kill_9_of_the_runner_ends_its_connectors_and_the_next_run_removes_their_files(
    tmp_path: Path,
):
    runner, tap_pid, env = _start_sleeping_run(tmp_path)
    try:
        runner.kill()
        runner.communicate(timeout=60)
        _wait_for(lambda: _gone(tap_pid), 60, f"the tap (pid {tap_pid}) to die with the runner")
        left = [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("glue-")]
        assert left, "the killed runner could not remove its folders"
        assert all(f"-p{runner.pid}." in name for name in left)
        # the next run removes them
        write_flow(tmp_path, {"config": {}})
        after = subprocess.run(
            [sys.executable, "-m", "glue_runtime", "run", "flow.yml"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert after.returncode == 0, after.stderr
        assert "left by runs that were killed" in after.stderr
        assert [p for p in (tmp_path / "tmp").iterdir() if p.name.startswith("glue-")] == []
    finally:
        if not _gone(tap_pid):
            os.kill(tap_pid, signal.SIGKILL)


@linux_only
def test_sighup_drains_like_sigterm(tmp_path: Path):
    runner, tap_pid, _ = _start_sleeping_run(tmp_path)
    try:
        runner.send_signal(signal.SIGHUP)
        _, err = runner.communicate(timeout=120)
        assert runner.returncode == 130, err
        assert "SIGHUP received" in err and "interrupted by SIGHUP" in err
        assert _gone(tap_pid)
        assert [p for p in (tmp_path / "tmp").iterdir() if p.name.startswith("glue-")] == []
    finally:
        if runner.poll() is None:
            runner.kill()
        if not _gone(tap_pid):
            os.kill(tap_pid, signal.SIGKILL)


@linux_only
def test_only_folders_whose_owner_is_gone_are_removed(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    mine = ConnectorFiles("tap-live")
    mine.write_json("config.json", {"password": "x"})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"glue-tap-x-p{dead.pid}.12345-abcd_123"
    reused = tmp_path / f"glue-tap-y-p{os.getpid()}.1-zzzz0000"  # our pid, another start time
    other = tmp_path / "glue-something-else"
    for folder in (stale, reused, other):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    removed = remove_stale_folders(str(tmp_path))
    assert sorted(removed) == sorted([stale, reused])
    assert mine.dir.exists() and other.exists()
    mine.cleanup()


@linux_only
def test_kill_9_of_the_runner_ends_a_running_batch_script(tmp_path: Path):
    pid_file = tmp_path / "etl.pid"
    (tmp_path / "etl.py").write_text(
        "import os, time\n"
        f"open({str(pid_file) + '.tmp'!r}, 'w').write(str(os.getpid()))\n"
        f"os.replace({str(pid_file) + '.tmp'!r}, {str(pid_file)!r})\n"
        "time.sleep(300)\n"
    )
    write_flow(tmp_path, {"config": {}}, extra="etl: {script: etl.py, mode: batch}\n")
    runner = subprocess.Popen(
        [sys.executable, "-m", "glue_runtime", "run", "flow.yml"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(pid_file.exists, 120, "the batch script to start")
    script_pid = int(pid_file.read_text())
    try:
        runner.kill()
        runner.wait(60)
        _wait_for(lambda: _gone(script_pid), 60, "the batch script to die with the runner")
    finally:
        if not _gone(script_pid):
            os.kill(script_pid, signal.SIGKILL)


def test_the_catalog_cache_name_is_no_unkeyed_hash_of_the_credentials(tmp_path: Path):
    import hashlib

    import orjson

    from glue_runtime.connectors import Connector
    from glue_runtime.discovery import cache_key

    tap = Connector("tap-x", "tap", ["/bin/tap-x"], "path", "/bin/tap-x")
    config = {"host": "db.local", "password": "weakpw"}
    plain = hashlib.sha256(b"/bin/tap-x" + orjson.dumps(config, option=orjson.OPT_SORT_KEYS))
    name = cache_key(tap, config, tmp_path / "a")
    assert plain.hexdigest()[:16] not in name  # a guess cannot be checked against the name
    assert name == cache_key(tap, config, tmp_path / "a")  # stable: the cache still hits
    assert name != cache_key(tap, {**config, "password": "other"}, tmp_path / "a")
    assert oct((tmp_path / "a" / ".salt").stat().st_mode & 0o777) == "0o600"


# == secrets in what connectors print (scripted tap and target) ================================


def test_secret_in_a_malformed_tap_line_is_masked(tmp_path: Path):
    secret = "sk-live-0123456789abcdef"
    steps = [*emit(schema()), ["out", f"debug: connecting with api_key={secret}\n"]]
    argv = cli_argv(tmp_path, steps, {}, api_key=secret)
    result = run_cli(*argv, "--json", cwd=tmp_path)
    assert result.code == 4, result.stderr
    assert "line 2 is not valid JSON" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_secret_on_target_stdout_is_masked(tmp_path: Path):
    secret = "hunter2-pw-xyz"
    argv = cli_argv(
        tmp_path,
        emit(schema(), rec(1), state(s=1)),
        {"password": secret, "stdout_lines": [f"login ok with password={secret}"]},
    )
    result = run_cli(*argv, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "is not a state; ignored" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_json_escaped_secret_is_masked(tmp_path: Path):
    secret = 'pa"ss\\w0rd-9'
    escaped = json.dumps(secret)[1:-1]  # pa\"ss\\w0rd-9
    steps = [["err", "config: " + json.dumps({"password": secret})], *emit(schema())]
    result = run_cli(*cli_argv(tmp_path, steps, {}, password=secret), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "config: " in result.stderr
    assert escaped not in result.stderr


def test_multiline_secret_lines_are_masked(tmp_path: Path):
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    secret = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
    steps = [["err", f"using key {secret}"], *emit(schema())]
    result = run_cli(*cli_argv(tmp_path, steps, {}, private_key=secret), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "using key" in result.stderr
    assert body not in result.stderr
