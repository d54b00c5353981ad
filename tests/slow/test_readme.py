"""Every code block in README.md runs, in order, as a user following it would.

The first block holds the two set-up commands (`make demo`, `make test`); `make test` is what runs this very
test, and CI runs `make demo` too, so that block is checked for its shape only. All other ```bash and
```python blocks run in one scratch directory (with the repo's examples/, configs/, training/, tests/data and
tools/ linked in) so files one block writes are there for the next, as in a terminal session.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)


def readme_blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer((ROOT / "README.md").read_text())]


def test_readme_opens_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    first = BLOCK.search(text)
    assert first is not None and first.group(1) == "bash"
    commands = [line.split("#")[0].strip() for line in first.group(2).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    # Nothing but the title and a short pitch before it.
    assert text.index(first.group(0)) < 1200


@pytest.mark.slow
@pytest.mark.opensearch
def test_readme_blocks_run_in_order(tmp_path, opensearch_url):
    blocks = readme_blocks()[1:]
    assert blocks, "README has no examples besides the set-up commands"
    for name in ("examples", "configs", "training", "tools", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    bin_dir = Path(sys.executable).parent
    # As in a fresh terminal: no OPENSEARCH_URL until the README's OpenSearch section exports it (the local
    # examples would otherwise go to OpenSearch). That section starts the node on 9250, which `make test`
    # already runs, so it finds it healthy.
    env = {k: v for k, v in os.environ.items() if k != "OPENSEARCH_URL"}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    )
    for i, (lang, code) in enumerate(blocks, start=2):
        if lang == "bash":
            cmd = ["bash", "-euo", "pipefail", "-c", code]
        else:
            cmd = [sys.executable, "-c", code]
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, (
            f"README block {i} ({lang}) failed with {proc.returncode}:\n{code}\n"
            f"--- stdout\n{proc.stdout[-3000:]}"
            f"\n--- stderr\n{proc.stderr[-3000:]}"
        )
