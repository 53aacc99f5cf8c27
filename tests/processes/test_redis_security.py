"""The embedded Redis is closed to other local users: a password nobody else can read, never on
a command line, dangerous commands denied even with it, and private files."""

import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import psutil
import pytest
import redis

from opscentre.core import keys
from opscentre.core.connection import EMBEDDED_URL_FILE
from opscentre.processes.redis_server import RedisServer, free_port
from tests.cli_helpers import clean_env, opscentre, wait_for

OLD_AOF = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$8\r\nold-data\r\n$4\r\nkept\r\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    """`opscentre up` on a data directory an older version left readable by everyone."""
    data = tmp_path_factory.mktemp("up") / "var"
    (data / "redis").mkdir(parents=True)
    (data / "redis" / "appendonly.aof").write_bytes(OLD_AOF)
    for path, rights in ((data, 0o755), (data / "redis", 0o755), (data / "redis" / "appendonly.aof", 0o644)):
        path.chmod(rights)
    env = clean_env(OPSCENTRE_DATA_DIR=str(data), PORT=str(free_port()))
    output = data.parent / "up.out"
    with output.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "opscentre", "up", "--speed", "60"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        url = wait_for(lambda: (data / EMBEDDED_URL_FILE).is_file() and (data / EMBEDDED_URL_FILE).read_text(),
                       timeout=60, what="redis.url")
        yield process, data, env, url, output
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_data_directory_and_every_secret_in_it_are_private(up):
    _, data, _, _, _ = up
    assert mode(data) == 0o700 and mode(data / "redis") == 0o700
    aof_files = [p for p in (data / "redis").rglob("appendonly*") if p.is_file()]
    assert aof_files
    for path in [data / EMBEDDED_URL_FILE, data / "redis" / "password", data / "redis" / "redis.conf",
                 data / "redis" / "redis.log", *aof_files]:
        assert mode(path) == 0o600, f"{path} is {oct(mode(path))}"


def test_an_older_world_readable_data_directory_keeps_its_data(up):
    _, _, _, url, _ = up
    assert redis.Redis.from_url(url).get("old-data") == b"kept"


def test_the_recorded_url_carries_the_password_and_commands_find_redis_through_it(up):
    _, data, env, url, _ = up
    password = (data / "redis" / "password").read_text().strip()
    assert len(password) >= 32 and url.startswith(f"redis://:{password}@127.0.0.1:") and url.endswith("/0")
    result = opscentre("state", "--json", env=env)  # no REDIS_URL: the data directory's recorded one
    assert result.returncode == 0, result.stderr
    assert "feeds" in orjson.loads(result.stdout)


def test_the_password_is_on_no_command_line_and_not_printed(up):
    process, data, _, _, output = up
    password = (data / "redis" / "password").read_text().strip()
    wait_for(lambda: len(psutil.Process(process.pid).children(recursive=True)) >= 4, 60, what="every child")
    processes = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    assert len([p for p in processes if "redis-server" in p.name()]) == 1
    for p in processes:
        assert password not in " ".join(p.cmdline()), p.cmdline()
    assert "embedded Redis: redis://:***@127.0.0.1:" in output.read_text()
    assert password not in output.read_text()


def test_a_client_without_the_password_is_refused(up):
    _, _, _, url, _ = up
    port = redis.Redis.from_url(url).connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"HSET opscentre:operators intruder x\r\n")
        assert raw.recv(200).startswith(b"-NOAUTH")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("locked"), persist=True).start()
    yield server
    server.stop()


@pytest.mark.parametrize("command", [
    ("CONFIG", "GET", "dir"),
    ("CONFIG", "SET", "dir", "/tmp"),
    ("DEBUG", "SLEEP", "0"),
    ("MODULE", "LOAD", "/tmp/evil.so"),
    ("SHUTDOWN", "NOSAVE"),
    ("ACL", "SETUSER", "default", "+config"),
    ("REPLICAOF", "127.0.0.1", "1"),
])
def test_dangerous_commands_are_denied_even_with_the_password(locked_server, command):
    client = redis.Redis.from_url(locked_server.url)
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.execute_command(*command)
    assert client.ping()  # still up, still ours
    assert client.eval("return redis.call('SET', KEYS[1], 'x')", 1, "k")  # scripts work...
    with pytest.raises(redis.exceptions.ResponseError, match="permissions|not allowed from scripts"):
        client.eval(f"return redis.call({', '.join(repr(a) for a in command)})", 0)  # ...but not around the ACL


def test_redis_server_is_started_with_its_config_file_only(locked_server):
    assert locked_server.process.args[1:] == [str(locked_server.directory / "redis.conf")]
    assert f">{locked_server.password} " in (locked_server.directory / "redis.conf").read_text()


def test_a_restart_on_the_same_directory_keeps_the_password(tmp_path):
    first = RedisServer(tmp_path / "redis", persist=True).start()
    redis.Redis.from_url(first.url).set("k", "v")
    url, port = first.url, first.port
    first.stop()
    second = RedisServer(tmp_path / "redis", port=port, persist=True).start()
    try:
        assert second.url == url
        assert redis.Redis.from_url(url).get("k") == b"v"
    finally:
        second.stop()


@pytest.mark.parametrize("process", ["worker", "cron"])
def test_a_refused_password_stops_the_process_with_one_line(process, redis_server, tmp_path):
    wrong = f"redis://:not-the-password-42@127.0.0.1:{redis_server.port}/0"
    env = clean_env(REDIS_URL=wrong, OPSCENTRE_DATA_DIR=str(tmp_path))
    result = opscentre(process, env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        (f"opscentre: Redis at redis://:***@127.0.0.1:{redis_server.port}/0 refused the password: check the "
         "password in REDIS_URL (redis://:PASSWORD@host:port/0) or OPSCENTRE_REDIS_PASSWORD")]


def test_a_worker_whose_password_stops_working_says_so_once_and_exits(own_redis, tmp_path):
    env = clean_env(REDIS_URL=own_redis.url, OPSCENTRE_DATA_DIR=str(tmp_path))
    worker = subprocess.Popen([sys.executable, "-m", "opscentre", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    restarted = None
    try:
        client = redis.Redis.from_url(own_redis.url)
        wait_for(lambda: client.zcard(keys.WORKER_HEARTBEAT), 60,
                 what="the worker registered")
        own_redis.stop()
        (own_redis.directory / "password").write_text("a-new-password-nobody-told-the-worker")
        restarted = RedisServer(own_redis.directory, port=own_redis.port, persist=True).start()
        assert worker.wait(timeout=60) == 1
        stderr = worker.stderr.read()
        assert len(re.findall("refuse[sd] the password", stderr)) == 1, stderr
        assert "a-new-password" not in stderr and own_redis.password not in stderr
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if restarted:
            restarted.stop()
