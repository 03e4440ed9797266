"""Write requirements/lock.txt from a virtual environment in which the whole suite passed (`make lock`).

    python scripts/write_lock.py VENV LOCK

The lock holds the exact version of every installed distribution except migr-hf itself and torch (installed
first, from the Makefile's TORCH_SPEC, so that the CPU wheel is used). `make install` passes it to pip as
constraints (`-c`), so extras that are not installed cost nothing.
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

# Installed from TORCH_SPEC before the lock is applied; a CPU build's local version (+cpu) is machine-specific.
UNLOCKED = ("torch", "migr-hf", "migr_hf")


def locked_lines(venv: Path) -> list[str]:
    """`name==version` of every distribution in ``venv`` except `UNLOCKED`, sorted case-insensitively."""
    python = venv / "bin" / "python"
    frozen = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--exclude-editable"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    lines = []
    for line in frozen:
        if "==" not in line:
            raise SystemExit(f"{venv}: cannot lock a distribution that is not pinned by version: {line!r}")
        if line.split("==")[0].lower() not in UNLOCKED:
            lines.append(line.strip())
    return sorted(lines, key=str.lower)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venv", type=Path, help="virtual environment in which the suite passed")
    parser.add_argument("lock", type=Path, help="lock file to (re)write")
    args = parser.parse_args()
    header = [
        "# Exact versions `make test` / `make quickstart` / `make bench` install (pip constraints).",
        f"# Written by `make lock` on {datetime.date.today().isoformat()} with Python {platform.python_version()},"
        " after the whole suite passed on them.",
        "# torch comes from the Makefile's TORCH_SPEC (CPU wheel), installed before these.",
    ]
    text = "\n".join(header + locked_lines(args.venv)) + "\n"
    args.lock.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.lock.parent, prefix=f".{args.lock.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, args.lock)
    print(f"wrote {args.lock} ({len(text.splitlines()) - len(header)} pinned distributions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
