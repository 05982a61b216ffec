"""Set-up and packaging: the README's commands are the ones CI runs, the install
pins the CPU build of torch, and ``import diffusion`` exposes its public names
without pulling in the app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import diffusion

REPO = Path(__file__).resolve().parents[1]


def _first_code_block(markdown: str) -> list[str]:
    block = re.search(r"```\w*\n(.*?)```", markdown, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_opens_with_app_and_test_commands_and_ci_runs_the_test_one():
    commands = _first_code_block((REPO / "README.md").read_text())
    assert commands == ["./dev app", "./dev test"]
    ci = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))
    ]
    assert ci == ["./dev test"]


def test_dev_installs_the_cpu_torch_and_skips_when_installed():
    dev = (REPO / "dev").read_text()
    assert 'pip install --disable-pip-version-check torch==2.13.0 -e ".[test]"' in dev
    assert "STAMP" in dev  # the install is skipped while pyproject.toml is unchanged
    assert (REPO / "dev").stat().st_mode & 0o111
    result = subprocess.run(["bash", "-n", str(REPO / "dev")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_dependencies_leave_torch_open_and_have_no_torchvision():
    # The quoted requirement strings of pyproject.toml (tomllib needs Python 3.11).
    text = (REPO / "pyproject.toml").read_text()
    deps = re.findall(r'^\s*"([A-Za-z][\w.-]*[^"]*)",?\s*$', text, re.M)
    assert "numpy>=1.24" in deps  # the pattern does find the requirements
    assert [d for d in deps if re.match(r"torch\b", d)] == ["torch>=2.3"]
    assert not any(d.startswith("torchvision") for d in deps)


def test_every_public_name_resolves():
    for name in diffusion.__all__:
        assert getattr(diffusion, name) is not None, name
    assert set(diffusion.__all__) <= set(dir(diffusion))


def test_importing_the_package_and_cli_never_imports_streamlit():
    code = (
        "import sys, diffusion, diffusion.cli; diffusion.cli.build_parser(); "
        "diffusion.sample; diffusion.load_model; "
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "False"
