"""What `sam build` puts in the Lambda layer: the functions' code and its pinned dependencies, nothing of the
development kit, the CLI or the test harness.

The build is `make template-check`'s (which `make test` runs before pytest); this test reads it and says so
when it is missing or older than the source, rather than building it itself (a build takes minutes and
needs the package index).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "layers" / "shared" / "amazon_sync"
LAYER = ROOT / ".aws-sam" / "build" / "SharedLayer" / "python"
# Top-level packages that only the devkit, the CLI or the tests use.
NOT_DEPLOYED = ("amazon_sync_devkit", "amazon_sync_cli", "werkzeug", "jsonschema", "moto", "pytest", "hypothesis",
                "psutil", "samtranslator", "cfnlint", "mypy")
# What the devkit and the CLI hold, by name, in case any of it crept back into the package itself.
HARNESS_NAMES = ("simulator", "mariadb_server", "local_processes", "catalogue", "expected", "prestashop", "crashes",
                 "aws_fixtures", "stack", "tls", "tcp_proxy", "cli", "cli_commands", "commands")


@pytest.fixture(scope="module")
def layer() -> Path:
    if not (LAYER / "amazon_sync").is_dir():
        pytest.fail(f"{LAYER} is missing: run `make template-check` (sam build) first; `make test` does",
                    pytrace=False)
    return LAYER


def modules(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*.py")}


def test_the_layer_holds_the_current_source_of_amazon_sync(layer):
    built, source = modules(layer / "amazon_sync"), modules(SOURCE)
    assert built == source, (f"the build is not of this source (run `make template-check` again): "
                             f"only built {sorted(built - source)}, only in source {sorted(source - built)}")
    stale = [name for name in source if (SOURCE / name).read_bytes() != (layer / "amazon_sync" / name).read_bytes()]
    assert stale == [], f"built from another version of {stale[:5]}: run `make template-check` again"


def test_the_layer_holds_none_of_the_devkit_the_cli_or_the_test_harness(layer):
    present = [name for name in NOT_DEPLOYED if (layer / name).exists() or (layer / f"{name}.py").exists()]
    assert present == [], f"development-only packages in the layer: {present}"
    harness = [str(path.relative_to(layer)) for path in (layer / "amazon_sync").rglob("*")
               if path.stem in HARNESS_NAMES or path.suffix == ".sql" or path.name == "schemas"]
    assert harness == [], f"test harness in the layer: {harness}"


def test_the_layer_holds_what_the_functions_import(layer):
    for package in ("aws_lambda_powertools", "pydantic", "pymysql", "sp_api", "yaml", "aws_xray_sdk"):
        assert (layer / package).is_dir(), f"{package} is missing from the layer"
    assert (layer / "amazon_sync" / "certs").is_dir()
