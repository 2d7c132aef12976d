"""A real Fog network for the tests: `fogd local-network` as a subprocess.

The fogd binary is named by $FOG_FOGD (scripts/bindings.sh sets it to the one cargo built);
without it, the debug build under $CARGO_TARGET_DIR (else ~/.cache/fog-target) is used. A
missing binary fails the tests: nothing here is skipped.
"""

import json
import os
import pathlib
import re
import signal
import subprocess
import tempfile
import threading
import time

import pytest

# How long a new network may take to create its ledger and have every service caught up
# (fogd's own limit is 180 s; a debug build on two cores is slow to start).
READY_TIMEOUT_S = 300
STOP_TIMEOUT_S = 60


# The tests share one network and spend from its demo wallets, so a module may depend on what
# an earlier one left: test_wallet.py checks alice's MOB as fogd funded it, and test_swap.py
# (which trades alice's MOB for token 1) measures every balance from where it finds it. They
# run in this order; other modules after them.
MODULE_ORDER = ["test_wallet.py", "test_swap.py"]


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        module = item.nodeid.split("::")[0].rsplit("/", 1)[-1]
        return MODULE_ORDER.index(module) if module in MODULE_ORDER else len(MODULE_ORDER)

    items.sort(key=rank)  # stable: tests keep their order within a module


def fogd_path() -> pathlib.Path:
    given = os.environ.get("FOG_FOGD")
    if given:
        path = pathlib.Path(given)
    else:
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/fog-target")
        path = pathlib.Path(target) / "debug" / "fogd"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise RuntimeError(
            f"no fogd binary at {path}: build it (cargo build -p fogd) or set FOG_FOGD"
        )
    return path


class LocalNetwork:
    """A running `fogd local-network` and what it wrote into its directory."""

    def __init__(self, directory: pathlib.Path, summary: str):
        self.dir = directory
        self.summary = summary
        layout = json.loads((directory / "local-network.json").read_text())
        self.node_url = f"http://{layout['node']}"
        self.view_url = f"http://{layout['view']}"
        self.ledger_url = f"http://{layout['ledger']}"
        self.report_url = f"insecure-fog://{layout['report']}"
        self.wallet_names = list(layout["wallets"])
        self.attestation_policy = (directory / "state" / "attestation-policy.toml").read_text()
        self.authority_spki = (directory / "authority" / "root-spki.der").read_bytes()
        # "Demo wallets (each funded with 100 MOB at creation; ...)": what each demo wallet
        # starts with in MOB, as fogd says it (other tokens may follow: " and N (token 1)").
        match = re.search(r"each funded with ([0-9.]+ MOB)\b", summary)
        if match is None:
            raise RuntimeError(f"fogd's summary does not say the demo funding:\n{summary}")
        self.demo_funding_text = match.group(1)

    def wallet_path(self, name: str) -> str:
        return str(self.dir / "wallets" / f"{name}.json")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)
        raise RuntimeError("fogd local-network did not stop on SIGINT; killed it")


@pytest.fixture(scope="session")
def network():
    fogd = fogd_path()
    with tempfile.TemporaryDirectory(prefix="fog-ffi-pytest-") as tmp:
        directory = pathlib.Path(tmp) / "net"
        log_path = pathlib.Path(tmp) / "fogd.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [str(fogd), "local-network", "--dir", str(directory), "--base-port", "0"],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
            lines = []
            ready = threading.Event()

            def read_stdout():
                # The summary ends with the line about Ctrl-C; keep draining after it so
                # fogd never blocks on a full pipe.
                for raw in proc.stdout:
                    lines.append(raw.decode("utf-8", "replace"))
                    if raw.startswith(b"Ctrl-C stops the network"):
                        ready.set()
                ready.set()

            reader = threading.Thread(target=read_stdout, daemon=True)
            reader.start()
            started = time.monotonic()
            try:
                if not ready.wait(READY_TIMEOUT_S) or proc.poll() is not None:
                    raise RuntimeError(
                        f"fogd local-network was not ready within {READY_TIMEOUT_S} s "
                        f"(exit code {proc.poll()}); stdout:\n{''.join(lines)}\n"
                        f"stderr:\n{log_path.read_text(errors='replace')[-4000:]}"
                    )
                print(f"fogd local-network ready in {time.monotonic() - started:.1f} s")
                yield LocalNetwork(directory, "".join(lines))
            finally:
                _stop(proc)
                reader.join(timeout=5)
