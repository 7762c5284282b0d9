"""The resource's JavaScript type-checks against the official FiveM server typings
(`@citizenfx/server`, `tsc --checkJs`; tools/fivem-typecheck), so a misused native fails."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import unavailable
from tests.live import ROOT

CHECK = ROOT / "tools" / "fivem-typecheck"
TSC = CHECK / "node_modules" / "typescript" / "bin" / "tsc"


@pytest.fixture(scope="module")
def tsc() -> list[str]:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed; the resource's type check runs tsc under Node")
    if not TSC.exists():
        # The test setup installs the pinned typings and compiler (package-lock.json), as
        # .ci/run does; never the platform at runtime.
        npm = shutil.which("npm")
        if npm is None:
            unavailable("npm is not installed; cannot install tools/fivem-typecheck (npm ci)")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CHECK, capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            unavailable(f"npm ci in tools/fivem-typecheck failed: {done.stderr[-500:]}")
    return [node, str(TSC)]


def run(tsc: list[str], config) -> subprocess.CompletedProcess:  # noqa: ANN001
    return subprocess.run([*tsc, "-p", str(config)], cwd=CHECK, capture_output=True, text=True, timeout=300)


def test_the_resource_type_checks(tsc):
    done = run(tsc, CHECK / "tsconfig.json")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_misused_native_fails_the_check(tsc, tmp_path):
    # DropPlayer takes the player's server id as a string (natives_server.d.ts).
    main = (ROOT / "fivem" / "server" / "main.js").read_text()
    assert "DropPlayer(String(source), reason)" in main
    (tmp_path / "main.js").write_text(main.replace("DropPlayer(String(source), reason)", "DropPlayer(Number(source), reason)"))
    modules = CHECK / "node_modules"
    (tmp_path / "tsconfig.json").write_text(json.dumps({
        "extends": str(CHECK / "tsconfig.json"),
        "compilerOptions": {"typeRoots": [str(modules / "@types"), str(modules)]},
        "files": [str(tmp_path / "main.js")],
    }))
    done = run(tsc, tmp_path / "tsconfig.json")
    assert done.returncode != 0
    assert "Argument of type 'number' is not assignable to parameter of type 'string'" in done.stdout, done.stdout
