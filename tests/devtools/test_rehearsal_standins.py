"""The stand-in commands written into a rehearsal instance's image name nothing outside it.

An instance runs chrooted into its own overlay with a /tmp of its own: a checkout under the system temporary
directory (where CI and `tempfile` put clones) is not there, so a wrapper that reached into the checkout's
devtools failed with "No module named 'turbine_dev'".
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from turbine_dev.rehearsal.host.image import INSTANCE_PYTHON, STANDIN_SCRIPT, write_standin_commands

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_every_wrapper_runs_code_inside_the_instance_image(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    write_standin_commands(upper)
    wrappers = [path for path in upper.rglob("*") if path.is_file() and path.read_text().startswith("#!")]
    assert len(wrappers) >= 5
    for wrapper in wrappers:
        text = wrapper.read_text()
        assert str(REPO_ROOT) not in text, f"{wrapper} names the checkout"
        assert "PYTHONPATH" not in text
        for named in re.findall(r"(/\S+)", text):
            if named in {"/bin/sh", INSTANCE_PYTHON}:
                continue  # the instance's own shell and interpreter (the AMI's)
            assert (upper / named.lstrip("/")).is_file(), f"{wrapper} runs {named}, not in the image"


def test_the_copied_stand_in_runs_without_the_checkout_on_the_path(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    write_standin_commands(upper)
    # -I: no PYTHONPATH, no user site, no current directory; only the copy in the image.
    done = subprocess.run(
        [sys.executable, "-I", str(upper / STANDIN_SCRIPT), "nonesuch"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert "No module named" not in done.stderr, done.stderr
    assert "KeyError: 'nonesuch'" in done.stderr
