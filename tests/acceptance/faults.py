"""Real processes and the faults done to them: `headway` subprocesses that can be killed,
private RabbitMQ and PostgreSQL nodes that can be stopped, killed and restarted, and a TCP
proxy that cuts PostgreSQL off.

The shared servers are never touched: the outages use nodes of their own on free ports (or
a proxy in front of this test's database).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

RABBITMQ_SERVER = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
RABBITMQCTL = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


# A node that is stopped and started again must find its port still free. A port the kernel
# hands out for port 0 lies in the ephemeral range, which outgoing connections (the processes
# reconnecting meanwhile, other tests) also draw from: one of them took a stopped node's port
# and the restart failed with eaddrinuse. The nodes' ports therefore come from below that range.
NODE_PORTS = range(20_000, 32_000)


def free_port() -> int:
    for _ in range(200):
        port = random.choice(NODE_PORTS)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {NODE_PORTS}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


class Headway:
    """One `headway` command in its own process group, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_dir: Path, name: str) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", *args],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM and the exit code. A process still alive after `timeout_s` is asked for
        its threads' stacks (SIGUSR1) before it is killed, and the failure shows its log."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(1)
            self._log.flush()
            tail = "\n".join(self.log().splitlines()[-120:])
            raise AssertionError(f"{self.name} still running {timeout_s} s after SIGTERM:\n{tail}") from None
        finally:
            self.close()

    def close(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(10)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class RabbitNode:
    """A private RabbitMQ node on free ports, with its data in a directory of its own so that
    it keeps its durable queues across a restart. `remove()` deletes the directory."""

    def __init__(self) -> None:
        self.port = free_port()
        self.node = f"headway-fault-{self.port}@localhost"
        # The server runs as the rabbitmq user, who cannot enter pytest's private tmp_path.
        directory = Path(tempfile.mkdtemp(prefix="headway-rabbit-"))
        self.directory = directory
        (directory / "enabled_plugins").write_text("[].\n")
        (directory / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        # The machine's rabbitmq-env.conf names the shared node; this one replaces it.
        (directory / "env.conf").write_text(
            'ERL_EPMD_ADDRESS=127.0.0.1\nexport ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"\n'
        )
        shutil.chown(directory, "rabbitmq", "rabbitmq")
        for path in directory.iterdir():
            shutil.chown(path, "rabbitmq", "rabbitmq")
        self.env = {
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONF_ENV_FILE": str(directory / "env.conf"),
            "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(directory / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(directory / "pid"),
            "ERL_CRASH_DUMP": str(directory / "erl_crash.dump"),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self, timeout_s: float = 60) -> None:
        log = (self.directory / "server.log").open("ab")
        self.process = subprocess.Popen(
            [RABBITMQ_SERVER], env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(
            lambda: port_open(self.port) or self.process is None or self.process.poll() is not None,
            timeout_s,
            "node",
        )
        if not port_open(self.port):
            raise RuntimeError(
                f"RabbitMQ node {self.node} did not start: see {self.directory / 'server.log'}"
            )

    def stop(self) -> None:
        subprocess.run([RABBITMQCTL, "-n", self.node, "stop"], capture_output=True, timeout=60, check=False)
        if self.process is not None:
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        wait_for(lambda: not port_open(self.port), 30, "node to stop")

    def kill9(self) -> None:
        """The node's Erlang VM killed at once, as a crash would (its data stays)."""
        pid_file = self.directory / "pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        if self.process is not None:  # the server script execs the VM: the same process
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
        wait_for(lambda: not port_open(self.port), 30, "node to die")
        pid_file.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class PgNode:
    """A private PostgreSQL 15 cluster on a free port, run as the postgres user with its data
    in a directory of its own (fsync off: it is thrown away). `stop()` is a fast shutdown,
    `kill()` an immediate one (a crash: recovery at the next start)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="headway-pg-"))
        shutil.chown(self.directory, "postgres", "postgres")
        self.data = self.directory / "data"
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _as_postgres(self, command: list[str], timeout_s: float = 120) -> None:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True, timeout=timeout_s
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr or result.stdout}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.directory / "server.log")
        self._as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start"]
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def kill(self) -> None:
        self.stop("immediate")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` closes every connection and the port
    itself (new connections are refused, as with a stopped server), `restore()` reopens it."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, 5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
