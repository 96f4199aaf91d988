"""`make screenshots`: photograph the Airflow UI's "Add Connection" form for each connection type.

Starts a real ``airflow api-server`` on loopback (a throw-away AIRFLOW_HOME with SQLite, the simple
auth manager with everyone an admin), opens ``/connections`` in headless Chromium (Debian's
``chromium`` package, driven by Python Playwright), clicks "Add Connection", picks the type and
saves a PNG of the dialog (``docs/img/connection-<type>.png``); where Airflow draws the declared extras
(3.2+), opens "Extra Fields" and saves ``connection-<type>-fields.png``; then types an example into
"Extra Fields JSON" and saves ``connection-<type>-extra.png``.

Needs ``apt-get install -y chromium`` and ``pip install -e '.[screenshots]'``; nothing is downloaded
at run time. :class:`ApiServer` is also used by ``tests/forms/test_connection_forms.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
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
#: Connection type -> (connection id, example extras typed into the form).
FORMS: dict[str, tuple[str, dict[str, object]]] = {
    "waylay": ("waylay_default", {"auth": "token", "timeout": 30}),
    "mammoth": ("mammoth_default", {"workspace_id": 4}),
    "superoffice": ("superoffice_default", {"auth": "bearer", "accept_language": "en"}),
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiServer:
    """A real ``airflow api-server`` on 127.0.0.1 with its own throw-away AIRFLOW_HOME.

    :param python: the interpreter whose Airflow (and installed providers) to run.
    :param startup_timeout: longest wait for the server to answer its health check, in seconds.
    """

    def __init__(self, python: str = sys.executable, startup_timeout: float = 180.0) -> None:
        self.python = python
        self.startup_timeout = startup_timeout
        self.home = Path(tempfile.mkdtemp(prefix="batchops-api-server-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home / "api-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
        (self.home / "dags").mkdir(exist_ok=True)
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.home / "dags"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.home / 'airflow.db'}",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            NO_PROXY="127.0.0.1,localhost",
        )
        return env

    def __enter__(self) -> ApiServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        env = self.env()
        migrated = subprocess.run([self.python, "-m", "airflow", "db", "migrate"], env=env, capture_output=True,
                                  timeout=300, check=False)
        if migrated.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrated.stderr.decode()[-3000:]}")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [self.python, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", "1"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airflow api-server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"airflow api-server did not answer within {self.startup_timeout:g} s:\n{self.log_tail()}")

    def token(self) -> str:
        """A JWT from the simple auth manager (``GET /auth/token`` works while everyone is an admin)."""
        with urllib.request.urlopen(f"{self.url}/auth/token", timeout=30) as resp:
            return str(json.load(resp)["access_token"])

    def get_json(self, path: str) -> object:
        """``GET`` a path of the API as an admin (Airflow 3.1 asks for a token; 3.3 needs none)."""
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token()}"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.load(resp)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server and every process it started (its own process group), then remove the home."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)


def screenshot_forms(base_url: str, out_dir: Path, chromium: str = CHROMIUM) -> list[Path]:
    """Open the "Add Connection" dialog for each type and save a PNG of it; return the files."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    profile = tempfile.mkdtemp(prefix="batchops-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1100, "height": 1300}, device_scale_factor=1,
            )
            try:
                for conn_type, (conn_id, extras) in FORMS.items():
                    page = context.new_page()
                    page.set_default_timeout(30_000)
                    page.goto(f"{base_url}/connections")
                    page.get_by_role("button", name="Add Connection").click()
                    dialog = page.get_by_role("dialog")
                    dialog.locator("input[name=connection_id]").fill(conn_id)
                    combo = dialog.get_by_role("combobox")
                    combo.click()
                    label = _type_label(conn_type)  # the list shows the hook name, e.g. "Mammoth Analytics"
                    combo.type(label)
                    page.get_by_role("option", name=label, exact=True).click()
                    dialog.get_by_text("Standard Fields").wait_for()
                    page.wait_for_timeout(300)
                    target = out_dir / f"connection-{conn_type}.png"
                    dialog.screenshot(path=str(target))
                    written.append(target)
                    # Airflow 3.2+ draws the declared extras (``conn-fields``) as typed fields in an
                    # "Extra Fields" section; older versions have only the JSON editor.
                    fields_section = dialog.get_by_text("Extra Fields", exact=True)
                    if fields_section.count():
                        fields_section.click()
                        page.wait_for_timeout(500)
                        target = out_dir / f"connection-{conn_type}-fields.png"
                        dialog.screenshot(path=str(target))
                        written.append(target)
                    # The extras live in another accordion section (only one section is open at a time).
                    dialog.get_by_text("Extra Fields JSON").click()
                    dialog.locator(".monaco-editor .view-lines").last.click()
                    page.keyboard.press("Control+A")
                    page.keyboard.press("Delete")
                    page.keyboard.insert_text(json.dumps(extras))  # as pasted: no auto-closed quotes
                    dialog.get_by_text("Add Connection").click()  # leave the editor: no cursor in the picture
                    page.wait_for_timeout(500)
                    if "Invalid JSON" in dialog.inner_text():
                        raise RuntimeError(f"the extras typed into the {conn_type} form are not valid JSON")
                    target = out_dir / f"connection-{conn_type}-extra.png"
                    dialog.screenshot(path=str(target))
                    written.append(target)
                    page.close()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return written



def _type_label(conn_type: str) -> str:
    from airflow_provider_batchops.get_provider_info import get_provider_info

    names = {c["connection-type"]: c.get("hook-name", conn_type) for c in get_provider_info()["connection-types"]}
    return str(names[conn_type])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMG, help="where the PNGs go (default docs/img)")
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium binary (default /usr/bin/chromium)")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"{args.chromium} not found: install Debian's chromium (apt-get install -y chromium)", file=sys.stderr)
        return 2
    with ApiServer() as server:
        print(f"airflow api-server at {server.url} (AIRFLOW_HOME {server.home})")
        for path in screenshot_forms(server.url, args.out, args.chromium):
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
