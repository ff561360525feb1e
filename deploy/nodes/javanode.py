"""A real search-engine node on loopback for tests and benchmarks: fetched from Maven Central, run as a non-root user.

Standard library only, so it runs before any virtual environment exists. The engine-specific parts (coordinates,
plugins, configuration) live in one small module per engine (opensearch.py); this module fetches, installs, starts,
waits, stops, and runs a command with the node's URL in the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # searchcore: stdlib-only, no venv needed
from searchcore.local_server import free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NODE_USER = "rerank-node"  # engines refuse to run as root; the tests, CI and the developers are root
DEFAULT_HOME = REPO / ".nodes"


class NodeUnavailable(RuntimeError):
    """This machine cannot run the node (no suitable Java or Maven): a reason, not a crash."""


class NodeFailed(RuntimeError):
    """The node was set up but did not start or did not become healthy."""


@dataclass(frozen=True)
class Artifact:
    coordinates: str  # groupId:artifactId:version:zip

    @property
    def file_name(self) -> str:
        group, artifact, version, packaging = self.coordinates.split(":")
        return f"{artifact}-{version}.{packaging}"


@dataclass(frozen=True)
class Engine:
    """What differs between engines: where to get them, how to install plugins, how to configure and call them."""

    name: str                       # "opensearch"
    version: str
    distribution: Artifact          # the integ-test-zip: the server with its modules, no plugins
    plugins: tuple[Artifact, ...]
    min_java: int
    java_home_variable: str         # OPENSEARCH_JAVA_HOME / ES_JAVA_HOME
    java_opts_variable: str         # OPENSEARCH_JAVA_OPTS / ES_JAVA_OPTS
    config_variable: str            # OPENSEARCH_PATH_CONF / ES_PATH_CONF
    executable: str                 # bin/opensearch
    plugin_tool: str                # bin/opensearch-plugin
    settings: dict[str, object] = field(default_factory=dict)
    heap: str = "1g"
    url_variable: str = "OPENSEARCH_URL"
    default_port: int = 9250        # the HTTP port tried first; each engine its own, so both run side by side
    instance: str = ""              # tells two versions of one engine apart (state file, variables); default: name

    @property
    def folder_name(self) -> str:
        return f"{self.name}-{self.version}"

    @property
    def label(self) -> str:
        """The name of this node among those a run starts: its state file, RERANK_<LABEL>_PORT and _REASON."""
        return self.instance or self.name


# ---- prerequisites ---------------------------------------------------------------------------------------------
def java_major(java_home: Path) -> int | None:
    release = java_home / "release"
    if not (java_home / "bin" / "java").exists() or not release.exists():
        return None
    for line in release.read_text(errors="replace").splitlines():
        if line.startswith("JAVA_VERSION="):
            version = line.split("=", 1)[1].strip().strip('"')
            head = version.split(".")[0]
            return int(head) if head.isdigit() else None
    return None


def find_java(engine: Engine) -> Path:
    """The engine's own Java variable, JAVA_HOME, then every JDK under /usr/lib/jvm: the first that is new enough."""
    candidates = [os.environ.get(engine.java_home_variable), os.environ.get("JAVA_HOME")]
    jvm_root = Path("/usr/lib/jvm")
    if jvm_root.is_dir():
        candidates += [str(p) for p in sorted(jvm_root.iterdir(), reverse=True) if p.is_dir() and not p.is_symlink()]
    seen = []
    for candidate in candidates:
        if not candidate:
            continue
        major = java_major(Path(candidate))
        seen.append(f"{candidate} ({major or 'not a JDK'})")
        if major is not None and major >= engine.min_java:
            return Path(candidate)
    raise NodeUnavailable(f"{engine.name} {engine.version} needs Java {engine.min_java} or later; none found "
                          f"(set {engine.java_home_variable}; looked at: {', '.join(seen) or 'nothing'})")


def maven_command() -> str:
    found = shutil.which("mvn")
    if not found:
        raise NodeUnavailable("Maven (mvn) is not installed: it fetches the node from Maven Central")
    return found


# ---- fetch and install -----------------------------------------------------------------------------------------
def fetch(artifact: Artifact, into: Path, java_home: Path) -> Path:
    """Copy one artifact out of Maven's local repository (downloading it there first when missing)."""
    target = into / artifact.file_name
    if target.exists():
        return target
    into.mkdir(parents=True, exist_ok=True)
    log(f"fetching {artifact.coordinates} with Maven (cached in Maven's local repository)")
    result = subprocess.run(
        [maven_command(), "-B", "-q", "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
         f"-Dartifact={artifact.coordinates}", f"-DoutputDirectory={into}", "-Dmdep.overWriteIfNewer=true"],
        capture_output=True, text=True, env={**os.environ, "JAVA_HOME": str(java_home)}, cwd=into)
    if result.returncode != 0 or not target.exists():
        raise NodeFailed(f"Maven could not fetch {artifact.coordinates}:\n{(result.stdout + result.stderr)[-2000:]}")
    return target


def install(engine: Engine, home: Path, java_home: Path) -> Path:
    """The engine unpacked with its plugins under `home`; reused while the pinned coordinates are the same."""
    folder = home / engine.folder_name
    stamp = folder / ".rerank-sidecar-installed"
    wanted = json.dumps([engine.distribution.coordinates, *[p.coordinates for p in engine.plugins]])
    if stamp.exists() and stamp.read_text() == wanted:
        return folder
    downloads = home / "downloads"
    archive = fetch(engine.distribution, downloads, java_home)
    plugin_files = [fetch(plugin, downloads, java_home) for plugin in engine.plugins]
    if folder.exists():
        shutil.rmtree(folder)
    log(f"unpacking {archive.name}")
    staging = home / f".unpack-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(staging)
    (staging / engine.folder_name).rename(folder)
    staging.rmdir()
    for path in (folder / "bin").iterdir():  # zipfile drops the executable bits
        path.chmod(0o755)
    for path in folder.rglob("*"):
        if path.is_file() and path.parent.name == "bin":
            path.chmod(0o755)
    env = {**os.environ, engine.java_home_variable: str(java_home), "JAVA_HOME": str(java_home)}
    for plugin in plugin_files:
        log(f"installing plugin {plugin.name}")
        result = subprocess.run([str(folder / engine.plugin_tool), "install", "--batch", plugin.as_uri()],
                                capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise NodeFailed(f"installing {plugin.name} failed:\n{(result.stdout + result.stderr)[-2000:]}")
    stamp.write_text(wanted)
    shutil.rmtree(downloads, ignore_errors=True)   # Maven's local repository keeps the archives for a reinstall
    return folder


# ---- the node user ---------------------------------------------------------------------------------------------
def node_user() -> str | None:
    """The account the node runs as: ourselves when not root, else a system user created on first use."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(NODE_USER)
    except KeyError:
        log(f"creating the system user {NODE_USER} (search engines refuse to run as root)")
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", NODE_USER],
                       check=True, capture_output=True)
    return NODE_USER


def readable_by_others(path: Path) -> bool:
    """Can another user reach `path`? Every folder above it must be searchable by others."""
    for parent in [path, *path.parents]:
        if parent.exists() and not os.stat(parent).st_mode & 0o001:
            return False
    return True


def chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


# ---- run -------------------------------------------------------------------------------------------------------
@dataclass
class RunningNode:
    engine: Engine
    folder: Path
    run_dir: Path
    url: str
    pid: int

    def state(self) -> dict[str, object]:
        return {"engine": self.engine.name, "version": self.engine.version, "url": self.url, "pid": self.pid,
                "run_dir": str(self.run_dir), "log": str(self.log_file)}

    @property
    def log_file(self) -> Path:
        return self.run_dir / "logs" / "rerank-sidecar-test.log"


def write_config(engine: Engine, folder: Path, run_dir: Path, http_port: int, transport_port: int) -> Path:
    """A config folder of our own (the distribution's, with our node settings): the installed tree stays untouched."""
    config = run_dir / "config"
    if config.exists():
        shutil.rmtree(config)
    shutil.copytree(folder / "config", config)
    settings = {
        "cluster.name": "rerank-sidecar-test",
        "node.name": "node-1",
        "network.host": "127.0.0.1",
        "http.port": http_port,
        "transport.port": transport_port,
        "discovery.type": "single-node",
        "path.data": str(run_dir / "data"),
        "path.logs": str(run_dir / "logs"),
        "cluster.routing.allocation.disk.threshold_enabled": False,
        **engine.settings,
    }
    # jvm.options names logs/ and data/ relative to the install folder, which the node user cannot write
    jvm_options = config / "jvm.options"
    text = jvm_options.read_text()
    for relative in ("logs/", "data"):
        text = re.sub(rf"(?<=[=:]){relative}", f"{run_dir}/{relative}", text)
    jvm_options.write_text(text)
    yml = config / f"{engine.name}.yml"
    yml.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items()))
    return config


def start(engine: Engine, *, home: Path = DEFAULT_HOME, port: int = 9250, keep_data: bool = False,
          timeout: float = 180.0) -> RunningNode:
    java_home = find_java(engine)
    home.mkdir(parents=True, exist_ok=True)
    user = node_user()
    if user and not readable_by_others(home):
        raise NodeUnavailable(f"{home} is not reachable by other users, so {user} cannot run the node from it; "
                              "set RERANK_NODES_DIR to a folder it can reach")
    folder = install(engine, home, java_home)
    http_port = free_port(port)
    transport_port = free_port(port + 100)
    run_dir = home / "run" / f"{engine.label}-{http_port}"
    if run_dir.exists() and not keep_data:
        shutil.rmtree(run_dir)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    config = write_config(engine, folder, run_dir, http_port, transport_port)
    pid_file = run_dir / "node.pid"
    pid_file.unlink(missing_ok=True)
    if user:
        chown_tree(run_dir, user)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(run_dir), "LANG": "C.UTF-8",
           engine.java_home_variable: str(java_home), engine.java_opts_variable: f"-Xms{engine.heap} -Xmx{engine.heap}",
           engine.config_variable: str(config)}
    command = [str(folder / engine.executable), "-d", "-p", str(pid_file)]
    if user:
        command = ["runuser", "-u", user, "--", "env", *[f"{k}={v}" for k, v in env.items()], *command]
    log(f"starting {engine.name} {engine.version} on 127.0.0.1:{http_port} (Java {java_major(java_home)}, "
        f"heap {engine.heap}{', as ' + user if user else ''})")
    started = time.monotonic()
    with open(run_dir / "logs" / "startup.out", "wb") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=run_dir,
                                start_new_session=True)   # not in the caller's process group: a ^C there is ours to handle
    url = f"http://127.0.0.1:{http_port}"
    if result.returncode != 0:
        raise NodeFailed(f"{engine.name} exited with {result.returncode} while starting:\n{tail(run_dir)}")
    pid = wait_for_pid(pid_file, run_dir)
    node = RunningNode(engine, folder, run_dir, url, pid)
    wait_healthy(node, timeout)
    log(f"{engine.name} ready at {url} after {time.monotonic() - started:.0f}s")
    return node


def wait_for_pid(pid_file: Path, run_dir: Path, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text().strip().isdigit():
            return int(pid_file.read_text().strip())
        time.sleep(0.1)
    raise NodeFailed(f"the node wrote no pid file within {timeout:.0f}s:\n{tail(run_dir)}")


def wait_healthy(node: RunningNode, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive(node.pid):
            raise NodeFailed(f"{node.engine.name} died while starting:\n{tail(node.run_dir)}")
        try:
            with urllib.request.urlopen(f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=5s",
                                        timeout=10) as answer:
                status = json.loads(answer.read()).get("status")
                if status in ("green", "yellow"):
                    return
                last = f"cluster status {status}"
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.5)
    stop_pid(node.pid)
    raise NodeFailed(f"{node.engine.name} not healthy within {timeout:.0f}s ({last}):\n{tail(node.run_dir)}")


def tail(run_dir: Path, lines: int = 40) -> str:
    texts = []
    for path in [run_dir / "logs" / "startup.out", *sorted((run_dir / "logs").glob("*.log"))]:
        if path.exists() and path.stat().st_size:
            texts.append(f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(texts) or f"(no logs under {run_dir})"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pid(pid: int, timeout: float = 30.0) -> None:
    if not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def log(message: str) -> None:
    print(f"[node] {message}", file=sys.stderr, flush=True)


# ---- command line ----------------------------------------------------------------------------------------------
def state_file(engine: Engine, home: Path) -> Path:
    return home / f"{engine.label}.json"


def run_with_node(engine: Engine, command: Sequence[str], *, home: Path, port: int, required: bool) -> int:
    """Run `command` with the engine's URL variable set to a node started for it, then stop the node.

    A URL already in the environment is the user's own cluster: use it, start nothing. A machine that cannot run
    the node (no Java or Maven) runs the command without it, saying why in RERANK_NODE_UNAVAILABLE, unless
    `required` (CI), where that is a failure.
    """
    env = dict(os.environ)
    if env.get(engine.url_variable):
        log(f"{engine.url_variable}={env[engine.url_variable]} is set: testing against that cluster")
        return subprocess.call(command, env=env)
    try:
        node = start(engine, home=home, port=port)
    except NodeUnavailable as exc:
        if required:
            log(f"cannot run {engine.name}, and this run requires it: {exc}")
            return 2
        log(f"running without a real {engine.name} node: {exc}")
        env[f"RERANK_NO_{engine.label.upper()}_REASON"] = str(exc)
        return subprocess.call(command, env=env)
    except NodeFailed as exc:
        log(f"{engine.name} did not start: {exc}")
        return 2
    env[engine.url_variable] = node.url
    state = state_file(engine, home)
    owns_state = not state.exists()   # a node `start`ed from this home keeps its file, so `stop` still finds it
    if owns_state:                    # ours lets `stop` end this node should this process be killed
        state.write_text(json.dumps(node.state()))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the node when CI or a user stops us
    try:
        return subprocess.call(command, env=env)
    finally:
        stop_pid(node.pid)
        if owns_state:
            state.unlink(missing_ok=True)
        log(f"stopped {engine.name} (logs under {node.run_dir / 'logs'})")


def main(engine: Engine, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"A {engine.name} {engine.version} node on loopback for tests.")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("RERANK_NODES_DIR", DEFAULT_HOME)),
                        help="where the node is installed and runs (default: .nodes in the repository)")
    parser.add_argument("--port", type=int, default=int(os.environ.get(f"RERANK_{engine.label.upper()}_PORT", engine.default_port)),
                        help="HTTP port to try first (a free one is taken if it is busy)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="fetch and unpack the node and its plugins")
    start_cmd = commands.add_parser("start", help="start a node in the background and print its URL")
    start_cmd.add_argument("--keep-data", action="store_true", help="keep the data of an earlier run on this port")
    commands.add_parser("stop", help="stop the node that `start` started")
    run_cmd = commands.add_parser("run", help="start a node, run a command with its URL set, stop the node")
    run_cmd.add_argument("--required", action="store_true",
                         default=os.environ.get("RERANK_REQUIRE_NODES") == "1",
                         help="fail when this machine cannot run the node (CI sets RERANK_REQUIRE_NODES=1)")
    run_cmd.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args(argv)
    home = args.home.resolve()
    try:
        if args.command == "install":
            home.mkdir(parents=True, exist_ok=True)
            print(install(engine, home, find_java(engine)))
        elif args.command == "start":
            node = start(engine, home=home, port=args.port, keep_data=args.keep_data)
            state_file(engine, home).write_text(json.dumps(node.state()))
            print(f"{engine.url_variable}={node.url}")
        elif args.command == "stop":
            path = state_file(engine, home)
            if not path.exists():
                log(f"no {engine.name} node started from {home}")
                return 0
            stop_pid(int(json.loads(path.read_text())["pid"]))
            path.unlink()
        else:
            command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            if not command:
                parser.error("run needs a command after --")
            return run_with_node(engine, command, home=home, port=args.port, required=args.required)
    except (NodeUnavailable, NodeFailed) as exc:
        log(str(exc))
        return 2
    return 0
