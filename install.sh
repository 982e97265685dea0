#!/usr/bin/env bash
# Build Keelbase from this checkout and install the binary to $PREFIX/bin (default ~/.local/bin).
# Safe to run again: it rebuilds and replaces the installed binary.
set -euo pipefail
cd "$(dirname "$0")"

PREFIX="${PREFIX:-$HOME/.local}"
BIN_DIR="$PREFIX/bin"

if ! command -v cargo >/dev/null 2>&1; then
    echo "install.sh: cargo not found. Install Rust (https://rustup.rs) and run this again." >&2
    exit 1
fi

echo "Building keelbase (release)…"
cargo build --release --locked
target_dir="${CARGO_TARGET_DIR:-target}"
built="$target_dir/release/keelbase"
[ -x "$built" ] || { echo "install.sh: build finished but $built is missing" >&2; exit 1; }

mkdir -p "$BIN_DIR"
install -m 0755 "$built" "$BIN_DIR/keelbase.new"
mv -f "$BIN_DIR/keelbase.new" "$BIN_DIR/keelbase"
echo "Installed $("$BIN_DIR/keelbase" --version) to $BIN_DIR/keelbase"

case ":$PATH:" in
    *":$BIN_DIR:"*) cmd="keelbase" ;;
    *)
        echo "Note: $BIN_DIR is not on your PATH; add it, e.g.: export PATH=\"$BIN_DIR:\$PATH\""
        cmd="$BIN_DIR/keelbase"
        ;;
esac
echo
echo "Next:"
echo "  $cmd serve                       # API at http://127.0.0.1:8090/api/, dashboard at /_/"
echo "  $cmd superuser upsert EMAIL PASS # create an administrator"
