"""Check the built distributions before anyone installs them: one wheel and one
sdist of the version in src/smtpstate/_version.py; the wheel ships the package with
its py.typed marker and the license, and nothing else (no tests, no examples).

Usage: python .ci/check_dist.py DIST_DIR
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(dist_dir: Path) -> None:
    match = re.search(
        r'__version__ = "([^"]+)"',
        (ROOT / "src" / "smtpstate" / "_version.py").read_text(encoding="utf-8"),
    )
    assert match is not None, "no __version__ in _version.py"
    version = match.group(1)

    wheels = sorted(dist_dir.glob("*.whl"))
    sdists = sorted(dist_dir.glob("*.tar.gz"))
    assert [w.name for w in wheels] == [f"smtpstate-{version}-py3-none-any.whl"], wheels
    assert [s.name for s in sdists] == [f"smtpstate-{version}.tar.gz"], sdists

    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
    assert "smtpstate/py.typed" in names, "the wheel lacks smtpstate/py.typed"
    assert "smtpstate/__init__.py" in names
    assert f"smtpstate-{version}.dist-info/licenses/LICENSE" in names, "no LICENSE in the wheel"
    top = {name.split("/", 1)[0] for name in names}
    assert top == {"smtpstate", f"smtpstate-{version}.dist-info"}, f"unexpected in wheel: {top}"
    tests = [name for name in names if re.search(r"(^|/)(tests?|conftest)(/|\.py$)|/test_", name)]
    assert not tests, f"tests in the wheel: {tests}"

    with tarfile.open(sdists[0]) as sdist:
        members = set(sdist.getnames())
    for required in ("LICENSE", "README.md", "pyproject.toml", "src/smtpstate/py.typed"):
        assert f"smtpstate-{version}/{required}" in members, f"the sdist lacks {required}"

    print(f"dist ok: {wheels[0].name} ({len(names)} files), {sdists[0].name}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
