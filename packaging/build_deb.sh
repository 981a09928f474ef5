#!/usr/bin/env bash
# Turn the bundle (dist/transfer-studio/, from packaging/build.sh) into a Debian package:
#   packaging/build_deb.sh stage   write the package's file tree to build/deb/root
#   packaging/build_deb.sh deb     build dist/transfer-studio_<version>_amd64.deb from that tree
#   packaging/build_deb.sh         both
# The tree: /opt/transfer-studio/ (the bundle), /usr/bin/transfer-studio and transfer-studio-gui
# (relative links into it), the .desktop entry and the icons (hicolor 256x256 and scalable).
# dpkg's triggers refresh the icon cache and the desktop database: no maintainer scripts.
set -euo pipefail
cd "$(dirname "$0")/.."

WHAT=${1:-all}
BUNDLE=dist/transfer-studio
ROOT=build/deb/root
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
DEB=dist/transfer-studio_${VERSION}_amd64.deb
PY=${PYTHON3:-python3}

fail() {
    echo "build_deb.sh: $*" >&2
    exit 1
}

stage() {
    [[ -x $BUNDLE/transfer-studio ]] || fail "$BUNDLE/transfer-studio is missing: run packaging/build.sh first"
    rm -rf "$ROOT"
    mkdir -p "$ROOT/opt" "$ROOT/usr/bin" "$ROOT/usr/share/applications" "$ROOT/DEBIAN" \
        "$ROOT/usr/share/icons/hicolor/256x256/apps" "$ROOT/usr/share/icons/hicolor/scalable/apps" \
        "$ROOT/usr/share/doc/transfer-studio"
    # Hard links: the multi-GB bundle is not copied (falls back to a copy across file systems).
    cp -al "$BUNDLE" "$ROOT/opt/transfer-studio" 2>/dev/null || cp -a "$BUNDLE" "$ROOT/opt/transfer-studio"
    for exe in transfer-studio transfer-studio-gui; do
        ln -s "../../opt/transfer-studio/$exe" "$ROOT/usr/bin/$exe"
    done
    install -m 644 packaging/transfer-studio.desktop "$ROOT/usr/share/applications/transfer-studio.desktop"
    install -m 644 resources/icons/transfer-studio.png "$ROOT/usr/share/icons/hicolor/256x256/apps/transfer-studio.png"
    install -m 644 resources/icons/transfer-studio.svg "$ROOT/usr/share/icons/hicolor/scalable/apps/transfer-studio.svg"
    cat >"$ROOT/usr/share/doc/transfer-studio/copyright" <<'EOF'
Transfer Studio: MIT license.
/opt/transfer-studio/_internal holds the Python runtime and the third-party packages the app
runs on (PyTorch, torchvision, NVIDIA CUDA libraries from the nvidia-* wheels, Qt for Python,
ONNX, onnxruntime, scikit-learn and their dependencies), each under its own license, shipped
as published on PyPI; their license files are in the *.dist-info folders there.
EOF

    if command -v desktop-file-validate >/dev/null; then
        desktop-file-validate "$ROOT/usr/share/applications/transfer-studio.desktop" ||
            fail "the .desktop entry is not valid (messages above)"
    else
        echo "build_deb.sh: desktop-file-validate not found (apt-get install desktop-file-utils): entry not validated" >&2
    fi

    # The oldest glibc the bundle runs on becomes the package's libc6 dependency.
    local glibc
    glibc=$("$PY" packaging/check_bundle.py --glibc-only "$BUNDLE" | sed -n 's/^glibc minimum: \([0-9.]*\).*/\1/p')
    [[ -n $glibc ]] || fail "could not measure the bundle's glibc minimum"
    # The system libraries the bundle leaves to the system (the spec's "pruning"): what the
    # PySide6 wheel's Qt links (found with readelf: NEEDED names no file in the bundle provides).
    # GLIBCXX_3.4.29 (check_bundle.py's libstdc++ minimum) is GCC 11's libstdc++.
    local qt="libstdc++6 (>= 11), libgcc-s1, libglib2.0-0, libfontconfig1, libfreetype6, libdbus-1-3"
    qt+=", libzstd1, libbrotli1, libgssapi-krb5-2, libgl1, libegl1, libx11-6, libx11-xcb1, libxkbcommon0"
    # Qt's xcb platform plugin (X11); desktop_app.app names any that are missing at start-up.
    local xcb="libxcb1, libxcb-cursor0, libxcb-glx0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1"
    xcb+=", libxcb-randr0, libxcb-render0, libxcb-render-util0, libxcb-shape0, libxcb-shm0, libxcb-sync1"
    xcb+=", libxcb-util1, libxcb-xfixes0, libxcb-xkb1, libxkbcommon-x11-0"
    cat >"$ROOT/DEBIAN/control" <<EOF
Package: transfer-studio
Version: $VERSION
Architecture: amd64
Maintainer: Transfer Studio developers <transfer-studio@users.noreply.github.com>
Installed-Size: $(du -sk "$ROOT" | cut -f1)
Depends: libc6 (>= $glibc), $qt, $xcb
Recommends: hicolor-icon-theme, libwayland-client0, libwayland-cursor0, libwayland-egl1
Section: science
Priority: optional
Description: desktop workbench for transfer learning on images
 Fine-tune image classifiers, adapt them to new domains (DANN, CORAL and more),
 harden them against adversarial attacks and export them to ONNX, from a desktop
 app (transfer-studio-gui) or the command line (transfer-studio).
 .
 Self-contained: ships Python, PyTorch with its CUDA libraries (it trains on an
 NVIDIA GPU when a driver is present, on the CPU otherwise), onnxruntime and Qt.
EOF
    echo "build_deb.sh: staged $ROOT ($(du -sh "$ROOT" | cut -f1), glibc >= $glibc)"
}

deb() {
    [[ -f $ROOT/DEBIAN/control ]] || fail "$ROOT is not staged: run packaging/build_deb.sh stage"
    rm -f "$DEB"
    local start
    start=$(date +%s)
    # zstd at a low level: the payload is GBs (dpkg reads zstd since Debian 12 and Ubuntu 18.04).
    dpkg-deb --root-owner-group -Zzstd -z3 --build "$ROOT" "$DEB"
    dpkg-deb --info "$DEB" >/dev/null || fail "$DEB is not a readable package"
    echo "build_deb.sh: $DEB ($(du -h "$DEB" | cut -f1), $(($(date +%s) - start)) s)"
    echo "install: sudo apt install ./$DEB"
}

case $WHAT in
stage) stage ;;
deb) deb ;;
all) stage && deb ;;
*) fail "usage: packaging/build_deb.sh [stage|deb]" ;;
esac
