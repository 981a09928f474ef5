"""Packaging files that can be checked without building the bundle (README: "Desktop bundle").

The bundle itself is checked by packaging/check_bundle.py and packaging/smoke_test.sh after
`make package`; these tests keep the .desktop entry, the window's identity and the ELF reader
behind the glibc figure honest on every `make test`.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from desktop_app.app import APP_NAME

ROOT = Path(__file__).resolve().parents[1]
DESKTOP = ROOT / "packaging" / "transfer-studio.desktop"


def _check_bundle() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_bundle", ROOT / "packaging" / "check_bundle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_runs_the_gui_executable_without_file_arguments():
    entry = _entry()
    gui_scripts = (ROOT / "pyproject.toml").read_text().split("[project.gui-scripts]")[1].split("\n[")[0]
    assert entry["Exec"] == "transfer-studio-gui" and 'transfer-studio-gui = "desktop_app.app:main"' in gui_scripts
    assert not re.search(r"%[fFuU]", DESKTOP.read_text()), "the app takes no file arguments"
    assert entry["Terminal"] == "false" and entry["Type"] == "Application"


def test_desktop_entry_icon_and_window_class_match_the_app():
    entry = _entry()
    # The .deb installs resources/icons/transfer-studio.{png,svg} under this name.
    assert (ROOT / "resources" / "icons" / f"{entry['Icon']}.png").is_file()
    assert (ROOT / "resources" / "icons" / f"{entry['Icon']}.svg").is_file()
    # Qt sets WM_CLASS's class to the application name: the launcher matches windows by it.
    assert entry["StartupWMClass"] == APP_NAME


def test_window_uses_the_icon_and_the_desktop_file_name(tmp_path):
    """main() sets the window icon and the Wayland app id (= the .desktop file's name)."""
    code = (
        "from PySide6.QtWidgets import QApplication\n"
        "from desktop_app import app\n"
        "app.load_engine = lambda: {'torch': 'test', 'device': 'cpu', 'seconds': 0.0}\n"
        "code = app.main(['--timings'])\n"  # --timings: quit as soon as the engine is ready
        "qt = QApplication.instance()\n"
        "print('RESULT', code, qt.desktopFileName(), qt.windowIcon().isNull(), qt.windowIcon().availableSizes())\n"
    )
    home = tmp_path / "home"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
    }
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = next(line for line in out.stdout.splitlines() if line.startswith("RESULT"))
    assert result.startswith(f"RESULT 0 {DESKTOP.stem} False"), result
    assert "256, 256" in result, result  # the 256 px PNG from resources/


def test_elf_reader_finds_the_glibc_versions_python_needs():
    check_bundle = _check_bundle()
    versions = check_bundle.needed_versions(Path(sys.executable).resolve())
    libpython = Path(sys.executable).resolve().parent.parent / "lib"
    for lib in libpython.glob("libpython3*.so*"):
        versions |= check_bundle.needed_versions(lib)
    glibc = [v for v in versions if v.startswith("GLIBC_")]
    assert "GLIBC_2.2.5" in glibc  # the x86-64 baseline every glibc program references
    assert check_bundle.needed_versions(DESKTOP) == set()  # not ELF: nothing


def test_glibc_report_takes_the_highest_version_and_names_its_files(tmp_path):
    check_bundle = _check_bundle()
    exe = Path(sys.executable).resolve()
    expected = max(
        (v for v in check_bundle.needed_versions(exe) if v.startswith("GLIBC_")),
        key=lambda v: tuple(int(n) for n in v[6:].split(".")),
    )
    (tmp_path / "bin").mkdir()
    shutil.copy(exe, tmp_path / "bin" / "python")
    (tmp_path / "link").symlink_to(exe)  # links are not followed (their targets are counted once)
    (tmp_path / "notes.txt").write_text("GLIBC_9.99")  # not ELF: ignored
    best, files, _ = check_bundle.glibc_report(tmp_path)
    assert (best, files) == (expected, ["bin/python"])
