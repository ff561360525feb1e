"""Real Redis and nginx processes on loopback ports, for the shared-cache tests: Debian's `redis-server` and
`nginx` (make test installs both, as it installs prometheus), each in a temporary folder, in the foreground of
its own process group, stopped at the end."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import redis

from searchcore.local_server import any_answer, free_port, wait_until_ready
from tests.processes import LoggedProcess

INSTALL_HINT = ("`make test` installs the Debian packages redis-server and nginx when run as root or with sudo "
                "(`make scaleout-tools`); or run `apt-get install redis-server nginx`")


def server_binary(name: str) -> str:
    """The path of `name`, or a skip that says how to install it (CI turns skips into failures)."""
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)),
                                      None)
    if path is None:
        pytest.skip(f"{name} is not installed: {INSTALL_HINT}")
    return path


class RedisServer(LoggedProcess):
    """redis-server on a free loopback port: no persistence, bounded memory with LRU eviction (as deploy/ runs it)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        super().__init__([server_binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", str(workdir), "--maxmemory", "64mb",
                          "--maxmemory-policy", "allkeys-lru",
                          "--enable-debug-command", "local"],   # DEBUG SLEEP: a slow Redis, for the tests
                         workdir, workdir / f"redis-{self.port}.log")
        self.wait_ready()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log()[-2000:]}")
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer in {timeout} s: {self.log()[-2000:]}") from None
                time.sleep(0.05)


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log info;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
    log_format upstream '$request_method $request_uri $status $upstream_addr';
    access_log {work}/access.log upstream;
    upstream sidecars {{   # round robin, the default: request i goes to server i mod n
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 20m;
        location / {{
            proxy_pass http://sidecars;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream off;   # a request is answered by the replica it was sent to, or fails
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


class NginxBalancer(LoggedProcess):
    """nginx as a round-robin balancer in front of `backends` (host:port), one process, in the foreground."""

    def __init__(self, workdir: Path, backends: list[str]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(f"        server {backend};" for backend in backends)
        conf = workdir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(work=workdir, servers=servers, port=self.port))
        super().__init__([server_binary("nginx"), "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
                         workdir, workdir / "nginx.log")
        wait_until_ready(f"{self.url}/-/healthy", self.process, timeout=30, ready=any_answer, name="nginx",
                         log_tail=lambda: (workdir / "error.log").read_text(errors="replace")[-2000:])
