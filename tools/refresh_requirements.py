"""Refresh the exact pins of requirements.txt / requirements-dev.txt from the unpinned requirements*.in.

Installs the direct dependencies named in ``requirements.in`` and ``requirements-dev.in`` into a new virtual
environment (the newest releases the index offers, torch excepted: it stays pinned in the .in file), runs the test
suite there, and only when it passes rewrites the two requirements files with ``name==version`` for every direct
dependency. Usage, from the repository root (takes a few minutes; needs the package index)::

    python tools/refresh_requirements.py            # resolve, test, write
    python tools/refresh_requirements.py --no-test  # resolve and write without running the tests
    python tools/refresh_requirements.py --check    # exit 1 if the pins differ from what the index offers now

The comment lines at the top of each requirements file are kept.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PAIRS = {  # unpinned input -> pinned output
    REPO_ROOT / "requirements.in": REPO_ROOT / "requirements.txt",
    REPO_ROOT / "requirements-dev.in": REPO_ROOT / "requirements-dev.txt",
}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def direct_names(path: Path) -> list[str]:
    """Package names listed in a requirements .in file (comments and blank lines skipped), in file order."""
    names = []
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-"):
            match = _NAME.match(text)
            if match is None:
                raise SystemExit(f"error: {path.name}: cannot read a package name in {line!r}")
            names.append(match.group(1))
    return names


def normalise(name: str) -> str:
    """PEP 503 normalised name: lower case, runs of -, _ and . as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_text(source: Path, target: Path, versions: dict[str, str]) -> str:
    """The new content of ``target``: its leading comments and -r lines, then ``name==version`` per direct name."""
    header = []
    if target.is_file():
        for line in target.read_text().splitlines():
            if line.startswith("#") or line.startswith("-r"):
                header.append(line)
            else:
                break
    pins = []
    for name in direct_names(source):
        version = versions.get(normalise(name))
        if version is None:
            raise SystemExit(f"error: {name} (from {source.name}) was not installed in the fresh environment")
        pins.append(f"{name}=={version}")
    return "\n".join(header + pins) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-test", action="store_true", help="write the pins without running the test suite")
    parser.add_argument("--check", action="store_true", help="only report whether the pins are current (exit 1 if not)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mgn-pins-") as scratch:
        env_dir = Path(scratch) / "venv"
        venv.EnvBuilder(with_pip=True).create(env_dir)
        python = str(env_dir / "bin" / "python")
        inputs = [arg for source in PAIRS for arg in ("-r", str(source))]
        subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", *inputs], check=True)
        listed = subprocess.run(
            [python, "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True
        ).stdout
        versions = {normalise(item["name"]): item["version"] for item in json.loads(listed)}
        texts = {target: pinned_text(source, target, versions) for source, target in PAIRS.items()}
        stale = [target.name for target, text in texts.items() if not target.is_file() or target.read_text() != text]
        if args.check:
            print("pins are current" if not stale else f"pins differ from the newest releases in: {', '.join(stale)}")
            return 1 if stale else 0
        if not args.no_test:
            subprocess.run([python, "-m", "pytest", "-q", "-x"], cwd=REPO_ROOT, check=True)
        for target, text in texts.items():
            target.write_text(text)
        print(f"wrote {', '.join(target.name for target in texts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
