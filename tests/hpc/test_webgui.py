"""``lpad webgui`` serves the workflows from the wire server, to HTTP and to headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fireworks import Firework, LaunchPad, ScriptTask, Workflow
from fireworks.core.rocket_launcher import launch_rocket

from tests.hpc.conftest import REPO
from tests.hpc.fw_tools import fw_env, fw_states, kill_group, start_tool, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Set to a folder (docs/img) to keep the screenshot for the documentation.
SCREENSHOT_DIR_VARIABLE = "PYACEMAKER_SCREENSHOT_DIR"
# The home page lists each Firework of the newest workflows as <a class="fw-link STATE" title=NAME>.
FW_LINK = re.compile(r'<a class="fw-link (\w+)" href="/fw/\d+" title="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _answers(url: str) -> bool:
    try:
        _fetch(url)
    except (urllib.error.URLError, ConnectionError):
        return False
    return True


@pytest.fixture
def webgui_url(
    launchpad_file: Path, fw_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A workflow in three states, served by ``lpad webgui --server_mode``."""
    launchpad = LaunchPad.from_file(str(launchpad_file))
    launchpad.reset("", require_password=False)
    select = Firework(ScriptTask.from_str("echo select"), name="generate_select")
    label = Firework(ScriptTask.from_str("echo label"), name="dft_label_0")
    fit = Firework(ScriptTask.from_str("echo fit"), name="fit_ace")
    launchpad.add_wf(
        Workflow([select, label, fit], {select: [label], label: [fit]}, name="si_probe")
    )
    monkeypatch.chdir(tmp_path)
    assert launch_rocket(launchpad)
    port = _free_port()
    args = ["-l", str(launchpad_file), "webgui", "--server_mode", "--nworkers", "1"]
    args += ["--port", str(port)]
    server = start_tool("lpad", args, fw_env(fw_config), tmp_path, tmp_path / "webgui.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url + "/"), timeout=60, what="lpad webgui to answer")
        yield url
    finally:
        kill_group(server)


def test_lpad_webgui_serves_the_workflows_from_the_wire_server(
    webgui_url: str, launchpad_file: Path
) -> None:
    workflows = _fetch(webgui_url + "/wf/")
    assert "si_probe" in workflows
    fireworks = _fetch(webgui_url + "/fw/")
    for name in ("generate_select", "dft_label_0", "fit_ace"):
        assert name in fireworks


def test_headless_chromium_shows_every_firework_in_its_state(
    webgui_url: str, launchpad_file: Path, tmp_path: Path
) -> None:
    assert CHROMIUM.is_file(), "Debian chromium is missing: run scripts/setup_services.sh"
    profile = tmp_path / "chromium-profile"
    browser = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*browser, "--dump-dom", webgui_url + "/"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    shown = {name: state for state, name in FW_LINK.findall(dom)}
    expected = fw_states(LaunchPad.from_file(str(launchpad_file)))
    assert expected == {
        "generate_select": "COMPLETED",
        "dft_label_0": "READY",
        "fit_ace": "WAITING",
    }
    assert shown == expected
    assert "si_probe" in dom

    screenshot = tmp_path / "fireworks_webgui.png"
    subprocess.run(
        [*browser, f"--screenshot={screenshot}", "--window-size=1280,760", webgui_url + "/"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
    keep = os.environ.get(SCREENSHOT_DIR_VARIABLE)
    if keep:
        shutil.copy(screenshot, REPO / keep / screenshot.name)  # a relative folder: in the repo
