"""End-to-end Debian packaging test: build, lint, install, serve, purge.

Runs `make deb` (which apt-installs missing build dependencies), so it needs
root, apt/dpkg and a few minutes; it skips with the reason otherwise. It
installs the package on this machine and always purges it again. Deselect
with `-m "not packaging"` (or MODELMUX_SKIP_PACKAGING=1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNITS = REPO / "contrib" / "systemd"
# Left by this test while its package is installed: a package found installed
# together with this stamp is a leftover of an interrupted run, safe to purge.
STAMP = Path("/var/tmp/modelmux-packaging-test.stamp")
MAX_EXPOSURE = 2.0
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def _registered_marks() -> list[pytest.MarkDecorator]:
    """`packaging` once it is registered in pyproject.toml (--strict-markers)."""
    try:
        cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
        markers = cfg["tool"]["pytest"]["ini_options"].get("markers", [])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return []
    names = {m.split(":", 1)[0].strip() for m in markers}
    return [getattr(pytest.mark, n) for n in ("packaging", "slow") if n in names]


pytestmark = [*_registered_marks(), pytest.mark.timeout(900)]


def _run(
    cmd: list[str], *, check: bool = True, timeout: float = 600, **kw
) -> subprocess.CompletedProcess:
    env = kw.pop("env", None) or {
        **os.environ,
        "PATH": SYSTEM_PATH,
        "DEBIAN_FRONTEND": "noninteractive",
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def _installed_version() -> str | None:
    proc = _run(["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Version}", "modelmux"], check=False)
    if proc.returncode != 0 or not proc.stdout.startswith(("ii", "iF", "iU", "rc")):
        return None
    return proc.stdout.split()[-1]


def _purge() -> None:
    _run(["dpkg", "--purge", "modelmux"], check=False, timeout=120)
    STAMP.unlink(missing_ok=True)


def _skip_reason() -> str | None:
    if os.environ.get("MODELMUX_SKIP_PACKAGING"):
        return "MODELMUX_SKIP_PACKAGING is set"
    if sys.platform != "linux" or not hasattr(os, "geteuid"):
        return "Debian packaging needs Linux"
    if os.geteuid() != 0:
        return "needs root: `make deb` apt-installs build dependencies and the test dpkg -i's the package"
    if not shutil.which("dpkg", path=SYSTEM_PATH):
        return "dpkg is not available (not a Debian system)"
    if not shutil.which("dpkg-buildpackage", path=SYSTEM_PATH) and not shutil.which(
        "apt-get", path=SYSTEM_PATH
    ):
        return "neither dpkg-buildpackage nor apt-get (to install it) is available"
    if not (REPO / "contrib" / "modelmux.toml").exists():
        return "contrib/modelmux.toml (the packaged sample config) is missing"
    if _installed_version() is not None and not STAMP.exists():
        return "a modelmux package is already installed on this machine; this test would purge it (dpkg --purge modelmux to allow)"
    return None


@pytest.fixture(scope="module")
def deb() -> Path:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    started = time.monotonic()
    _run(["make", "deb"], cwd=REPO, timeout=900)
    elapsed = time.monotonic() - started
    version = _run(["dpkg-parsechangelog", "-S", "Version"], cwd=REPO).stdout.strip()
    arch = _run(["dpkg", "--print-architecture"]).stdout.strip()
    path = REPO / "dist" / f"modelmux_{version}_{arch}.deb"
    assert path.is_file(), f"make deb did not produce {path}"
    print(
        f"\nmake deb took {elapsed:.1f} s -> {path.relative_to(REPO)} ({path.stat().st_size / 1e6:.1f} MB)"
    )
    return path


@pytest.fixture(scope="module")
def installed(deb: Path):
    if _installed_version() is not None:  # leftover of an interrupted run (STAMP exists)
        _purge()
    STAMP.write_text(f"{os.getpid()}\n")
    try:
        _run(["dpkg", "-i", str(deb)], timeout=300)
        files = [
            p for p in _run(["dpkg", "-L", "modelmux"]).stdout.splitlines() if p.startswith("/")
        ]
        yield files
    finally:
        _purge()


def test_deb_contents(deb: Path) -> None:
    listing = _run(["dpkg-deb", "-c", str(deb)]).stdout
    for path in (
        "./usr/bin/modelmuxd -> ../lib/modelmux/bin/modelmuxd",
        "./usr/bin/modelmux -> ../lib/modelmux/bin/modelmux",
        "./usr/lib/modelmux/bin/python3 -> ../../../bin/python3",
        "./lib/systemd/system/modelmuxd.service",
        "./lib/systemd/system/modelmuxd@.service",
        "./usr/lib/systemd/user/modelmuxd.service",
        "./usr/lib/sysusers.d/modelmux.conf",
        "./etc/modelmux/config.toml",
        "./usr/share/man/man8/modelmuxd.8.gz",
        "./usr/share/man/man1/modelmux.1.gz",
    ):
        assert path in listing, f"{path} missing from the .deb"
    # Pinned dependencies are bundled, at the pinned versions.
    pins = dict(
        line.split("==", 1)
        for line in (REPO / "requirements" / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for dist in ("aiohttp", "orjson", "aiohttp_sse", "google_auth"):
        pin = next(v for k, v in pins.items() if k.lower().replace("-", "_") == dist)
        assert re.search(rf"site-packages/{dist}-{re.escape(pin)}\.dist-info/", listing, re.I), (
            dist,
            pin,
        )
    assert "__pycache__" not in listing
    assert "site-packages/pip/" not in listing

    fields = _run(["dpkg-deb", "-f", str(deb), "Depends", "Architecture"]).stdout
    assert "python3 (>= 3.11~)" in fields and "python3 (<< 3.12)" in fields
    assert "python3-aiohttp" not in fields  # bundled, not from bookworm


def test_lintian_reports_no_errors(deb: Path) -> None:
    if not shutil.which("lintian", path=SYSTEM_PATH):
        pytest.skip("lintian is not installed (make deb-deps installs it)")
    proc = _run(["lintian", "--pedantic", "--info", str(deb)], check=False, timeout=300)
    print("\nlintian:\n" + (proc.stdout or "(no tags)"))
    tags = [line for line in proc.stdout.splitlines() if re.match(r"^[EW]: ", line)]
    assert proc.returncode == 0 and not tags, proc.stdout + proc.stderr


def test_system_unit_exposure_at_most_2() -> None:
    if not shutil.which("systemd-analyze", path=SYSTEM_PATH):
        pytest.skip("systemd-analyze is not installed")
    proc = _run(
        [
            "systemd-analyze",
            "security",
            "--offline=true",
            "--no-pager",
            str(UNITS / "modelmuxd.service"),
        ],
        check=False,
    )
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    exposure = float(m.group(1))
    print(f"\nsystemd-analyze security exposure of modelmuxd.service: {exposure}")
    assert exposure <= MAX_EXPOSURE


def test_installed_files_and_user(installed: list[str]) -> None:
    out = _run(["/usr/bin/modelmuxd", "--version"]).stdout
    version = _run(["dpkg-parsechangelog", "-S", "Version"], cwd=REPO).stdout.strip()
    assert version in out
    _run(["/usr/bin/modelmux", "--help"])
    assert (
        _run(["getent", "passwd", "modelmux"]).stdout.split(":")[6].strip() == "/usr/sbin/nologin"
    )
    st = os.stat("/etc/modelmux/config.toml")
    assert oct(st.st_mode & 0o777) == "0o640"
    assert st.st_uid == 0
    assert _run(["getent", "group", "modelmux"]).stdout.split(":")[2] == str(st.st_gid)
    assert oct(os.stat("/etc/default/modelmux").st_mode & 0o777) == "0o600"
    conffiles = Path("/var/lib/dpkg/info/modelmux.conffiles").read_text().split()
    assert "/etc/modelmux/config.toml" in conffiles
    # The installed units are the contrib/ files, not second copies.
    for src, dst in (
        (UNITS / "modelmuxd.service", "/lib/systemd/system/modelmuxd.service"),
        (UNITS / "modelmuxd@.service", "/lib/systemd/system/modelmuxd@.service"),
        (UNITS / "user" / "modelmuxd.service", "/usr/lib/systemd/user/modelmuxd.service"),
    ):
        assert Path(dst).read_text() == src.read_text()
    # The user unit is opt-in: not enabled for every user.
    assert not Path("/etc/systemd/user/default.target.wants/modelmuxd.service").exists()


def test_unmodified_config_keeps_service_from_starting(installed: list[str]) -> None:
    """ExecCondition= helper: sample config -> skip (1); configured -> start (0)."""
    helper = "/usr/libexec/modelmux/modelmux-configured"
    env = {"PATH": SYSTEM_PATH}
    proc = _run(
        ["runuser", "-u", "modelmux", "--", helper, "/etc/modelmux/config.toml"],
        check=False,
        env=env,
    )
    assert proc.returncode == 1 and "not configured" in proc.stderr
    for extra in ({"MODELMUX_VERTEX_PROJECT": "p"}, {"MODELMUXD_OPTS": "--emulator --port 1"}):
        proc = _run(["runuser", "-u", "modelmux", "--", "/usr/bin/env", *(f"{k}={v}" for k, v in extra.items()),
                     helper, "/etc/modelmux/config.toml"], check=False, env=env)  # fmt: skip
        assert proc.returncode == 0, (extra, proc.stderr)


def test_systemd_analyze_verify_units(installed: list[str], tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze", path=SYSTEM_PATH):
        pytest.skip("systemd-analyze is not installed")
    # A template can only be verified as an instance.
    instance = tmp_path / "modelmuxd@example.service"
    instance.write_text(Path("/lib/systemd/system/modelmuxd@.service").read_text())
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    env = {
        **os.environ,
        "PATH": SYSTEM_PATH,
        "XDG_RUNTIME_DIR": str(runtime),
        "SYSTEMD_LOG_COLOR": "0",
    }
    for args in (
        ["/lib/systemd/system/modelmuxd.service"],
        [str(instance)],
        ["--user", "/usr/lib/systemd/user/modelmuxd.service"],
    ):
        proc = _run(["systemd-analyze", "verify", *args], check=False, env=env)
        # verify only warns (exit 0) on unknown directives: any output is a finding.
        noise = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        assert proc.returncode == 0 and not noise, f"verify {args}:\n" + "\n".join(noise)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Runs the daemon with "refuse W+X memory" (PR_SET_MDWE, Linux >= 6.3), the
# kernel's form of the unit's MemoryDenyWriteExecute=yes, when available.
_MDWE_EXEC = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "ok = libc.prctl(65, 1, 0, 0, 0) == 0\n"
    "print('MDWE', 'on' if ok else 'unavailable', file=sys.stderr, flush=True)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def _http(method: str, url: str, body: dict | None = None, timeout: float = 30) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, {"error_body": err.read().decode(errors="replace")}


def test_installed_daemon_serves_as_modelmux_user(installed: list[str], tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "modelmuxd.log").open("w+")
    cmd = [
        "runuser", "-u", "modelmux", "--",
        "/usr/bin/python3", "-c", _MDWE_EXEC,
        "/usr/bin/modelmuxd", "--config", "/etc/modelmux/config.toml", "--emulator", "--port", str(port),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd="/", start_new_session=True,
                            env={"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"})  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def output() -> str:
        log.flush()
        log.seek(0)
        return log.read()[-8000:]

    try:
        deadline = time.monotonic() + 30
        status, health = 0, None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"modelmuxd exited {proc.returncode}:\n{output()}")
            try:
                status, health = _http("GET", f"{base}/health", timeout=2)
                if status == 200:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        assert status == 200, f"/health never answered 200:\n{output()}"
        assert isinstance(health, dict)
        user = _run(["ps", "-o", "user=", "--ppid", str(proc.pid)], check=False).stdout.split()
        assert "modelmux" in user or not user, user

        status, reply = _http("POST", f"{base}/v1/chat/completions", {
            "model": "claude-sonnet-4",
            "max_tokens": 32,
            "messages": [{"role": "user", "content": "Say hello."}],
        })  # fmt: skip
        assert status == 200, f"{status} {reply}\n{output()}"
        assert reply["object"] == "chat.completion"
        assert isinstance(reply["choices"][0]["message"]["content"], str)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        print(f"\nmodelmuxd log:\n{output()}")
        log.close()


def test_purge_leaves_nothing_behind(installed: list[str]) -> None:
    """Runs last: purges, then checks every packaged path is gone."""
    _purge()
    assert _installed_version() is None
    left = []
    for path in installed:
        p = Path(path)
        if not (p.exists() or p.is_symlink()):
            continue
        # Shared directories (/usr/bin, /lib/systemd/system, ...) stay for
        # the other packages that own them or the files they hold.
        if p.is_dir():
            owned = _run(["dpkg-query", "-S", path], check=False).stdout.strip()
            if owned or any(p.iterdir()):
                continue
        left.append(path)
    assert not left, f"left after purge: {left}"
    for path in (
        "/etc/modelmux",
        "/etc/default/modelmux",
        "/usr/lib/modelmux",
        "/usr/libexec/modelmux",
    ):
        assert not os.path.lexists(path), path
    # Debian practice: the system user stays (files may still carry its IDs).
    assert _run(["getent", "passwd", "modelmux"], check=False).returncode == 0
