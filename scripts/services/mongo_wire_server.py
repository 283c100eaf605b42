"""A MongoDB-wire server for tests and single-machine campaigns, served by mongoeco.

Runs under ``.venv-mongo`` (Python >= 3.13; mongoeco does not support 3.11), never under the
project venv. Any pymongo client (FireWorks' ``lpad``, ``rlaunch``, the webgui, our store)
talks to it over TCP, so several processes share one database.

    serve  --port 0 [--dbpath DIR] [--state-dir DIR]    run in the foreground
    start  --state-dir DIR [--port 0] [--dbpath DIR]    run as a daemon; prints the URI once
                                                        a pymongo ping answers
    stop   --state-dir DIR                              SIGTERM, wait, then SIGKILL

With ``--dbpath`` the data live in ``DIR/mongoeco.sqlite`` (mongoeco's SQLite engine) and
survive a restart of the server; without it they live in memory and die with the server.
The state folder holds ``mongo.pid``, ``mongo.uri`` and ``mongo.log``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mongoeco.engines import MemoryEngine, SQLiteEngine
from mongoeco.wire import AsyncMongoEcoProxyServer
from pymongo import MongoClient
from pymongo.errors import PyMongoError

SQLITE_FILE = "mongoeco.sqlite"


def _engine(dbpath: Path | None) -> MemoryEngine | SQLiteEngine:
    if dbpath is None:
        return MemoryEngine()
    dbpath.mkdir(parents=True, exist_ok=True)
    return SQLiteEngine(str(dbpath / SQLITE_FILE))


async def _serve(host: str, port: int, dbpath: Path | None, state_dir: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncMongoEcoProxyServer(engine=_engine(dbpath), host=host, port=port) as server:
        uri = f"mongodb://{server.address.host}:{server.address.port}/"
        if state_dir is not None:
            (state_dir / "mongo.uri").write_text(uri + "\n")
        print(uri, flush=True)
        await stop.wait()


def _ping(uri: str) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=500)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    uri_file = state_dir / "mongo.uri"
    uri_file.unlink(missing_ok=True)
    command = [sys.executable, __file__, "serve", "--host", args.host, "--port", str(args.port)]
    command += ["--state-dir", str(state_dir)]
    if args.dbpath is not None:
        command += ["--dbpath", str(args.dbpath.resolve())]
    with (state_dir / "mongo.log").open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    (state_dir / "mongo.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_text = (state_dir / "mongo.log").read_text(errors="replace")[-2000:]
            print(
                f"mongo wire server exited with {process.returncode}:\n{log_text}", file=sys.stderr
            )
            return 1
        if uri_file.exists() and _ping(uri := uri_file.read_text().strip()):
            print(uri)
            return 0
        time.sleep(0.1)
    print(f"mongo wire server did not answer a ping within {args.timeout} s", file=sys.stderr)
    process.kill()
    return 1


def stop(args: argparse.Namespace) -> int:
    pid_file: Path = args.state_dir / "mongo.pid"
    if not pid_file.exists():
        return 0
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + args.timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    (args.state_dir / "mongo.uri").unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "start", "stop"):
        sub = commands.add_parser(name)
        sub.add_argument("--state-dir", type=Path, required=name != "serve")
        sub.add_argument("--timeout", type=float, default=30.0)
        if name != "stop":
            sub.add_argument("--host", default="127.0.0.1")
            sub.add_argument("--port", type=int, default=0, help="0 picks a free port")
            sub.add_argument("--dbpath", type=Path, help="folder for on-disk data (SQLite)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(_serve(args.host, args.port, args.dbpath, args.state_dir))
        return 0
    return start(args) if args.command == "start" else stop(args)


if __name__ == "__main__":
    sys.exit(main())
