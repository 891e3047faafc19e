"""What pip does with slotshift's sources on a machine without Rust: it stops at once with an
error that says Rust is needed (maturin's own backend would download a toolchain of about
900 MB, unasked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_a_build_without_rust_says_it_needs_rust(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO", "RUSTUP_HOME", "CARGO_HOME")}
    env["PATH"] = str(tmp_path)  # an empty directory: no cargo (pip runs sys.executable)
    env.pop("SLOTSHIFT_FETCH_RUST", None)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir",
         "--disable-pip-version-check", str(REPO / "bindings-python")],
        env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "needs Rust to build" in text, text
    assert "rustup" in text and "puccinialin" not in text, text
