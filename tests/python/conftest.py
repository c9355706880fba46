"""pytest fixtures: a real `txnchain dev` process for the web3.py suite.

One node serves the whole session (`node` fixture). It is started as

    $TXNCHAIN_BIN dev --port 0 --data-dir <fresh temp dir>

and is ready once it prints `Listening on 127.0.0.1:<port>` on stdout. Teardown sends
SIGTERM, then SIGKILL after a timeout, and removes the data dir. Besides the fixture's
teardown (which pytest runs whether tests pass or fail), an atexit hook, SIGTERM/SIGINT/SIGHUP
handlers and, on Linux, PR_SET_PDEATHSIG make sure no node outlives the test process.

TXNCHAIN_BIN: relative paths resolve from the current directory; default
<repo>/target/checked/txnchain (= ../../target/checked/txnchain from tests/python).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_BIN = REPO_ROOT / "target" / "checked" / "txnchain"
ARTIFACTS = REPO_ROOT / "contracts" / "artifacts"

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

CHAIN_ID = 424242
MNEMONIC = "test test test test test test test test test test test junk"
DEV_BALANCE = 10_000 * 10**18
# m/44'/60'/0'/0/{0..9} of the mnemonic above (the well-known anvil/hardhat addresses).
DEV_ADDRESSES = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
]

LISTENING_RE = re.compile(r"Listening on (?:https?://)?(\d{1,3}(?:\.\d{1,3}){3}|localhost):(\d+)")


def txnchain_bin() -> Path:
    env = os.environ.get("TXNCHAIN_BIN")
    if env:
        return (Path.cwd() / env).resolve()
    return DEFAULT_BIN


# ---------------------------------------------------------------- never leave a node behind

_live: set[subprocess.Popen] = set()
_live_dirs: set[str] = set()
_live_lock = threading.RLock()  # re-entrant: the signal handler runs on the main thread


def _kill_all_live() -> None:
    """SIGKILLs every node still running and removes their data dirs (exit / signal path)."""
    with _live_lock:
        procs = list(_live)
        dirs = list(_live_dirs)
        _live.clear()
        _live_dirs.clear()
    for p in procs:
        try:
            p.kill()
            p.wait(timeout=5)
        except Exception:  # already gone / best effort
            pass
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_kill_all_live)


def _install_signal_handlers() -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):  # SIGINT: KeyboardInterrupt, then teardown/atexit
        previous = signal.getsignal(sig)
        if previous == signal.SIG_IGN:  # e.g. SIGHUP under nohup: keep ignoring it
            continue

        def handler(signum, frame, _previous=previous, _sig=sig):
            _kill_all_live()
            if callable(_previous):
                _previous(signum, frame)
            else:
                signal.signal(_sig, signal.SIG_DFL)
                os.kill(os.getpid(), _sig)

        try:
            signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass


_install_signal_handlers()


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up here, not in the child: between fork and exec only the call itself runs.
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    # Linux: the node gets SIGKILL if the (forking thread of the) test process dies,
    # even by SIGKILL, when neither atexit hooks nor signal handlers can run.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


# ---------------------------------------------------------------- the node process


@dataclass
class DevNode:
    proc: subprocess.Popen
    data_dir: str
    host: str
    port: int
    _lines: deque = field(default_factory=lambda: deque(maxlen=5000))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def output(self) -> str:
        return "".join(self._lines)


def _drain(stream, name: str, lines: deque, on_line) -> None:
    """Reads `stream` to EOF so the pipe never fills; keeps the last lines."""
    try:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            lines.append(f"[{name}] {line}" if name != "stdout" else line)
            on_line(name, line)
    except (ValueError, OSError):
        pass
    finally:
        try:
            stream.close()
        except Exception:
            pass


def stop_process(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
    finally:
        with _live_lock:
            _live.discard(proc)


def start_dev_node(extra_args: list[str] | None = None) -> DevNode:
    binary = txnchain_bin()
    if not binary.exists():
        pytest.exit(
            f"txnchain binary not found at {binary}; build it or set TXNCHAIN_BIN", returncode=2
        )
    data_dir = tempfile.mkdtemp(prefix="txnchain-py-")
    with _live_lock:
        _live_dirs.add(data_dir)
    args = [str(binary), "dev", "--port", "0", "--data-dir", data_dir, *(extra_args or [])]
    lines: deque = deque(maxlen=5000)
    ready = threading.Event()
    found: dict[str, object] = {}

    def on_line(name: str, line: str) -> None:
        if name == "stdout" and not ready.is_set():
            m = LISTENING_RE.search(line)
            if m:
                found["host"], found["port"] = m.group(1), int(m.group(2))
                ready.set()

    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            preexec_fn=_child_setup,
        )
    except BaseException:
        _remove_dir(data_dir)
        raise
    with _live_lock:
        _live.add(proc)
    for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
        threading.Thread(
            target=_drain, args=(stream, name, lines, on_line), name=f"txnchain-{name}", daemon=True
        ).start()

    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.wait(0.05):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"txnchain exited with {proc.returncode} before listening:\n" + "".join(lines)
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"txnchain did not print 'Listening on' within {START_TIMEOUT_S} s:\n" + "".join(lines)
                )
    except BaseException:
        stop_process(proc)
        _remove_dir(data_dir)
        raise
    host = "127.0.0.1" if found["host"] == "localhost" else str(found["host"])
    return DevNode(proc=proc, data_dir=data_dir, host=host, port=int(found["port"]), _lines=lines)


def _remove_dir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    with _live_lock:
        _live_dirs.discard(path)


def destroy_dev_node(node: DevNode) -> None:
    """Stops the node (SIGTERM, then SIGKILL) and removes its data dir."""
    try:
        stop_process(node.proc)
    finally:
        _remove_dir(node.data_dir)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def node():
    """A running `txnchain dev` (session-wide). Fails the session if it died on its own."""
    n = start_dev_node()
    try:
        yield n
    finally:
        crashed = n.proc.poll()
        destroy_dev_node(n)
        panics = [l for l in n.output().splitlines() if "panicked" in l]
        if crashed is not None or panics:
            pytest.fail(
                f"txnchain exited on its own (status {crashed}) or panicked:\n" + n.output()[-20000:],
                pytrace=False,
            )


@pytest.fixture(scope="session")
def url(node) -> str:
    """The node's HTTP JSON-RPC URL."""
    return node.url


@pytest.fixture(scope="session")
def ws_url(node) -> str:
    """The node's WebSocket URL (same port, path /)."""
    return node.ws_url


@pytest.fixture(scope="session")
def w3(url) -> Web3:
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
    assert w3.is_connected(), f"cannot reach {url}"
    return w3


@pytest.fixture(scope="session")
def dev_accounts():
    """eth_account LocalAccounts of the 10 dev accounts, derived from the mnemonic."""
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10)]


def load_artifact(name: str) -> dict:
    with open(ARTIFACTS / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def token_artifact() -> dict:
    art = load_artifact("TestToken")
    assert art["abi"] and art["bytecode"].startswith("0x")
    return art
