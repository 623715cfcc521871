"""Finding 12 of issue 16: every dependency of the layer and of the tools is pinned with its hashes, the
locks agree with the direct pins they were compiled from, and the installs check the hashes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"layers/shared/requirements.txt": "layers/shared/requirements.in",
         "requirements-dev.txt": "requirements-dev.in", "requirements-sam.txt": "requirements-sam.in"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a compiled lock (a requirement continues over backslashed lines)."""
    found: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = PIN.match(stripped)
        if match:
            current = normalise(match.group(1))
            found[current] = (match.group(2), [])
        elif stripped.startswith("--hash=sha256:") and current is not None:
            found[current][1].append(stripped.split(":", 1)[1].rstrip(" \\"))
        else:
            raise AssertionError(f"{path.name}: not a pinned requirement or a hash: {stripped}")
    return found


def direct_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        stripped = line.split("#", 1)[0].strip()
        if not stripped or stripped.startswith(("-r", "-c")):
            continue
        match = PIN.match(stripped)
        pins[normalise(match.group(1) if match else re.split(r"[\[<>=~ ]", stripped)[0])] = \
            match.group(2) if match else ""
    return pins


@pytest.mark.parametrize(("lock", "source"), sorted(LOCKS.items()))
def test_every_package_is_pinned_with_hashes(lock, source):
    locked = entries(ROOT / lock)
    assert locked, lock
    for name, (version, hashes) in locked.items():
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{lock}: {name}=={version}"
    for name, version in direct_pins(ROOT / source).items():
        assert name in locked, f"{source} names {name}, which {lock} lacks: run `make lock`"
        assert not version or locked[name][0] == version, f"{lock} has {name}=={locked[name][0]}, {source} {version}"


def test_the_dev_lock_agrees_with_the_layer_lock():
    layer, dev = entries(ROOT / "layers/shared/requirements.txt"), entries(ROOT / "requirements-dev.txt")
    for name, (version, _) in layer.items():
        assert dev.get(name, (version,))[0] == version, f"{name}: layer {version}, dev {dev[name][0]}"
    assert set(direct_pins(ROOT / "layers/shared/requirements.in")) <= set(dev)


def test_installs_check_the_hashes():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines() if "pip install" in line]
    assert installs
    for line in installs:
        assert "--require-hashes" in line or ("--no-deps" in line and "-e ." in line), line
    # the SAM CLI's lock goes in without resolution, so the installed set is proven complete afterwards
    assert "$(SAM_VENV)/bin/pip check" in makefile
    assert "--upgrade pip" not in makefile
