"""slotshift's PEP 517 build backend: maturin's, except that a build without Rust stops at
once with an error that says so. (maturin's own backend would download a Rust toolchain of
about 900 MB into a cache, unasked, when `cargo` is missing.)

`SLOTSHIFT_FETCH_RUST=1` lets maturin fetch the toolchain as it would.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import maturin

NEEDS_RUST = (
    "slotshift's source distribution needs Rust to build (cargo and rustc, stable, 1.88 or "
    "newer), and none was found on PATH. Install it (https://rustup.rs, or your "
    "distribution's cargo package) and run pip again; or install a prebuilt wheel "
    "(`pip install --only-binary slotshift slotshift`, or the manylinux wheel `make wheels` "
    "writes to target/wheels). Set SLOTSHIFT_FETCH_RUST=1 to let the build download a "
    "temporary toolchain instead."
)


def _check_rust() -> None:
    """Exits with `NEEDS_RUST` (no traceback) when there is no cargo to build with and
    fetching one was not asked for."""
    if os.environ.get("SLOTSHIFT_FETCH_RUST") == "1":
        return
    os.environ["MATURIN_NO_INSTALL_RUST"] = "1"
    if shutil.which(os.environ.get("CARGO", "cargo")) is None:
        raise SystemExit(f"error: {NEEDS_RUST}")


def get_requires_for_build_wheel(config_settings: Any = None) -> list[str]:
    _check_rust()
    return list(maturin.get_requires_for_build_wheel(config_settings))


def get_requires_for_build_editable(config_settings: Any = None) -> list[str]:
    _check_rust()
    return list(maturin.get_requires_for_build_wheel(config_settings))


def get_requires_for_build_sdist(config_settings: Any = None) -> list[str]:
    return list(maturin.get_requires_for_build_sdist(config_settings))


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: Any = None) -> str:
    _check_rust()
    return str(maturin.prepare_metadata_for_build_wheel(metadata_directory, config_settings))


def build_wheel(wheel_directory: str, config_settings: Any = None,
                metadata_directory: Any = None) -> str:
    _check_rust()
    return str(maturin.build_wheel(wheel_directory, config_settings, metadata_directory))


def build_editable(wheel_directory: str, config_settings: Any = None,
                   metadata_directory: Any = None) -> str:
    _check_rust()
    return str(maturin.build_editable(wheel_directory, config_settings, metadata_directory))


def build_sdist(sdist_directory: str, config_settings: Any = None) -> str:
    return str(maturin.build_sdist(sdist_directory, config_settings))
