"""slotshift: a redis-py-shaped client on a Rust core — cluster slot routing, CrossSlot
pipeline batching, the MultiStore for zero-downtime migrations, the keyspace analyzer,
``diff`` and ``migrate`` between deployments.

    >>> import slotshift
    >>> slotshift.key_slot("{user1000}.following") == slotshift.key_slot("{user1000}.followers")
    True
"""

from __future__ import annotations

from ._slotshift import (
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
    __version__ as __version__,
    error_class as error_class,
    key_slot as key_slot,
    key_slots as key_slots,
    metrics_text as metrics_text,
)
from .client import Client as Client, Pipeline as Pipeline
from .instrument import (
    Recorded as Recorded,
    Recorder as Recorder,
    Report as Report,
    allow_cross_slot as allow_cross_slot,
    analyze as analyze,
    report_dict as report_dict,
)
from .migration import (
    DiffReport as DiffReport,
    MigrateReport as MigrateReport,
    diff as diff,
    migrate as migrate,
)
from .multistore import PHASES as PHASES, MultiStore as MultiStore

__all__ = [
    "AnalyzerError", "Client", "ConfigError", "ConnectionError", "CrossSlotError",
    "DiffReport", "EmbeddedServerError", "InvalidCommandError", "MigrateError", "MigrateReport",
    "MultiStore", "MultiStoreError", "PHASES",
    "Pipeline", "PipelineError", "Recorded", "Recorder", "Report", "ResponseError",
    "RoutingError", "SlotError", "SlotshiftError", "__version__", "allow_cross_slot", "analyze",
    "diff", "error_class", "key_slot", "key_slots", "metrics_text", "migrate", "report_dict",
]
