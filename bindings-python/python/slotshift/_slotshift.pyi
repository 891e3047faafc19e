# Hand-written stubs of the native module, checked by `python -m mypy.stubtest slotshift`.
from collections.abc import Sequence
from typing import Any, TypeAlias, final

__version__: str
__all__ = [
    "AnalyzerError",
    "ConfigError",
    "ConnectionError",
    "CrossSlotError",
    "DiffReport",
    "EmbeddedServerError",
    "InvalidCommandError",
    "MigrateError",
    "MigrateReport",
    "MultiStore",
    "MultiStoreError",
    "PipelineError",
    "Recorder",
    "Report",
    "ResponseError",
    "RoutingError",
    "ScanIter",
    "SlotError",
    "SlotshiftError",
    "Store",
    "__version__",
    "allow_active",
    "allow_enter",
    "allow_exit",
    "analyze",
    "diff",
    "error_class",
    "key_slot",
    "key_slots",
    "metrics_text",
    "migrate",
]

_Arg: TypeAlias = bytes | str | int | float | bytearray | memoryview
_Key: TypeAlias = bytes | str

# The exception classes are slotshift.exceptions' (subclasses of redis-py's), re-exported here.
from slotshift.exceptions import (
    AnalyzerError as AnalyzerError,
    ConfigError as ConfigError,
    ConnectionError as ConnectionError,
    CrossSlotError as CrossSlotError,
    EmbeddedServerError as EmbeddedServerError,
    InvalidCommandError as InvalidCommandError,
    MigrateError as MigrateError,
    MultiStoreError as MultiStoreError,
    PipelineError as PipelineError,
    ResponseError as ResponseError,
    RoutingError as RoutingError,
    SlotError as SlotError,
    SlotshiftError as SlotshiftError,
)

def key_slot(key: _Key | bytearray) -> int: ...
def key_slots(keys: Sequence[_Key]) -> list[int]: ...
def metrics_text() -> str: ...
def allow_enter() -> None: ...
def allow_exit() -> None: ...
def allow_active() -> bool: ...
def error_class(family: str) -> type[SlotshiftError]: ...
def analyze(
    store: Store,
    *,
    match: _Key | None = None,
    key_type: str | None = None,
    count: int = 1000,
    samples: int | None = None,
    rate: int | None = None,
    rules: str | None = None,
    show_keys: bool = False,
    top: int = 10,
    digest_key: str | None = None,
) -> Report: ...
def diff(
    source: Store,
    destination: Store,
    *,
    mode: str = "full",
    match: str | None = None,
    key_type: str | None = None,
    slots: str | None = None,
    rate: int | None = None,
    ttl_tolerance_ms: int = 1000,
    reverse: bool = True,
) -> DiffReport: ...
def migrate(
    source: Store,
    destination: Store,
    *,
    match: str | None = None,
    key_type: str | None = None,
    slots: str | None = None,
    rate: int | None = None,
    dry_run: bool = False,
    ttl_tolerance_ms: int = 1000,
    delete_extra: bool = False,
) -> MigrateReport: ...
@final
class Store:
    @staticmethod
    def open(
        url: str | Sequence[str],
        *,
        decode: bool = False,
        connect_timeout: float | None = None,
        response_timeout: float | None = None,
        retry_deadline: float | None = None,
        name: str | None = None,
        read_from_replicas: bool = False,
        idempotent_writes: bool = False,
        instrument: bool = True,
        batch_limit: int | None = None,
        cross_slot_validation: str | None = None,
    ) -> Store: ...
    def with_decode(self, decode: bool) -> Store: ...
    @property
    def decode(self) -> bool: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def call(self, *args: _Arg) -> Any: ...
    def pipeline(self, commands: Sequence[Sequence[_Arg]]) -> list[Any]: ...
    def transaction(self, commands: Sequence[Sequence[_Arg]]) -> list[Any] | None: ...
    def masters(self) -> list[str]: ...
    def scan(
        self, match: _Key | None = None, count: int | None = None, _type: str | None = None
    ) -> ScanIter: ...
    def close(self) -> None: ...

@final
class ScanIter:
    def __iter__(self) -> ScanIter: ...
    def __next__(self) -> list[Any]: ...

@final
class MultiStore:
    def __new__(
        cls,
        name: str,
        primary: Store,
        secondary: Store,
        *,
        decode: bool = False,
        dual_write: bool = False,
        primary_default: bool = False,
        flags_from_env: bool = False,
        flags_key: str | None = None,
        flags_cache_ttl: float = 1.0,
        strict: bool = False,
        async_non_default_writes: bool = False,
        queue_capacity: int | None = None,
        primary_read_percentage: int = 0,
        fallback_reads: bool = False,
        shadow_read_ratio: float = 0.0,
        metrics_prefix: str | None = None,
        non_default_timeout: float | None = None,
    ) -> MultiStore: ...
    def with_decode(self, decode: bool) -> MultiStore: ...
    @property
    def decode(self) -> bool: ...
    @property
    def name(self) -> str: ...
    @property
    def primary(self) -> Store: ...
    @property
    def secondary(self) -> Store: ...
    @property
    def flags(self) -> tuple[bool, bool]: ...
    @property
    def phase(self) -> str: ...
    def set_flags(
        self, dual_write: bool | None = None, primary_default: bool | None = None
    ) -> None: ...
    @property
    def same_server(self) -> bool: ...
    def call(self, *args: _Arg) -> Any: ...
    def pipeline(self, commands: Sequence[Sequence[_Arg]]) -> list[Any]: ...
    def transaction(self, commands: Sequence[Sequence[_Arg]]) -> list[Any] | None: ...
    def metrics(self) -> dict[str, Any]: ...
    def metrics_text(self) -> str: ...
    @property
    def queued(self) -> int: ...
    def drain(self, timeout: float) -> bool: ...

@final
class Recorder:
    def __new__(cls, pattern: _Key | None = None) -> Recorder: ...
    def stop(self) -> None: ...
    @property
    def active(self) -> bool: ...
    @property
    def count(self) -> int: ...
    def log(self) -> list[tuple[str, list[bytes], str]]: ...
    def by_command(self, name: str) -> list[tuple[str, list[bytes], str]]: ...
    def by_key(self, pattern: _Key) -> list[tuple[str, list[bytes], str]]: ...
    def clear(self) -> None: ...

@final
class Report:
    def to_json(self) -> str: ...
    def to_text(self) -> str: ...
    def to_csv(self) -> str: ...
    def to_html(self) -> str: ...
    @property
    def keys(self) -> int: ...
    @property
    def memory(self) -> int: ...
    @property
    def complete(self) -> bool: ...
    @property
    def patterns(self) -> list[str]: ...

@final
class DiffReport:
    def to_json(self) -> str: ...
    def to_text(self) -> str: ...
    @property
    def total_differences(self) -> int: ...
    @property
    def differences(self) -> dict[str, int]: ...
    @property
    def source_keys(self) -> int: ...
    @property
    def destination_keys(self) -> int: ...
    @property
    def complete(self) -> bool: ...

@final
class MigrateReport:
    def to_json(self) -> str: ...
    def to_text(self) -> str: ...
    @property
    def copied(self) -> int: ...
    @property
    def keys_scanned(self) -> int: ...
    @property
    def equal(self) -> int: ...
    @property
    def dry_run(self) -> bool: ...
    @property
    def complete(self) -> bool: ...
    @property
    def final_diff(self) -> DiffReport | None: ...
