"""The peers' own Python environment: a venv under the bench's output folder.

The peers are not project dependencies: the bench installs them into ``<out>/peers/venv``
with the venv's own pip, once; a marker naming the requirements lets reruns reuse it. A
package that cannot be installed costs only the peers that need it, and the reason is
one line for the bench to print.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: What the peers' environment holds; chatpack is pinned to the version the issue measured.
REQUIREMENTS = ("chatpack==0.1.0", "ijson", "beautifulsoup4", "lxml", "selectolax")
#: The modules each peer imports; a peer runs only when all of them import.
PEER_MODULES = {
    "chatpack": ("chatpack",),
    "ijson": ("ijson",),
    "selectolax": ("selectolax.lexbor",),
    "bs4-lxml": ("bs4", "lxml.etree"),
    "bs4-html.parser": ("bs4",),
}
MARKER = "READY"
PIP_TIMEOUT_S = 600


@dataclass
class PeerEnv:
    """The environment's interpreter, the peers it can run, and what went wrong."""

    python: Path | None
    runnable: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
    )


def _pip_install(python: Path, requirements: list[str]) -> subprocess.CompletedProcess[str]:
    return _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--retries",
            "1",
            "--timeout",
            "30",
            *requirements,
        ]
    )


def _importable(python: Path) -> dict[str, bool]:
    modules = sorted({m for names in PEER_MODULES.values() for m in names})
    probe = (
        "import importlib, json, sys\n"
        "found = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        found[name] = True\n"
        "    except ImportError:\n"
        "        found[name] = False\n"
        "print(json.dumps(found))\n"
    )
    done = _run([str(python), "-c", probe, *modules])
    if done.returncode != 0:
        return {}
    found: dict[str, bool] = json.loads(done.stdout)
    return found


def ensure_peer_env(out: Path) -> PeerEnv:
    """The peers' venv under ``out``, created and filled if missing or out of date."""
    folder = out / "peers" / "venv"
    python = folder / "bin" / "python"
    marker = folder / MARKER
    wanted = "\n".join(REQUIREMENTS)
    problems: list[str] = []
    if not (marker.exists() and marker.read_text() == wanted and python.exists()):
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        print(f"installing the peers into {folder} …", file=sys.stderr, flush=True)
        made = _run([sys.executable, "-m", "venv", str(folder)])
        if made.returncode != 0:
            return PeerEnv(None, problems=[f"python -m venv failed: {_last_line(made.stderr)}"])
        installed = _pip_install(python, list(REQUIREMENTS))
        if installed.returncode == 0:
            marker.write_text(wanted)
        else:
            # One package missing (say, no wheel for this platform) need not cost the rest.
            for requirement in REQUIREMENTS:
                alone = _pip_install(python, [requirement])
                if alone.returncode != 0:
                    problems.append(f"{requirement}: {_last_line(alone.stderr)}")
    found = _importable(python)
    runnable = [
        peer
        for peer, modules in PEER_MODULES.items()
        if all(found.get(module, False) for module in modules)
    ]
    if not runnable and not problems:
        problems.append("no peer package imports in the peers' environment")
    return PeerEnv(python, runnable, problems)
