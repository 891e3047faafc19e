"""slotshift: redis-py's ``Redis`` / ``RedisCluster`` on a Rust core — cluster slot routing,
CrossSlot pipeline batching, the MultiStore for zero-downtime migrations, the keyspace
analyzer, ``diff`` and ``migrate`` between deployments.

``slotshift.Redis`` and ``slotshift.RedisCluster`` inherit redis-py's command mixins, so every
redis-py command method exists with its signature and return value; every exception is a
subclass of redis-py's (``except redis.RedisError`` keeps working).

    >>> import slotshift
    >>> slotshift.key_slot("{user1000}.following") == slotshift.key_slot("{user1000}.followers")
    True
"""

from __future__ import annotations

from ._slotshift import (
    __version__ as __version__,
    error_class as error_class,
    key_slot as key_slot,
    key_slots as key_slots,
    metrics_text as metrics_text,
)
from .client import (
    Client as Client,
    ClusterPipeline as ClusterPipeline,
    Pipeline as Pipeline,
    Redis as Redis,
    RedisCluster as RedisCluster,
)
from .pubsub import PubSub as PubSub
from .logs import forward_logs as forward_logs, stop_forwarding_logs as stop_forwarding_logs
from .exceptions import (
    AnalyzerError as AnalyzerError,
    AuthenticationError as AuthenticationError,
    ClusterDownError as ClusterDownError,
    ClusterPipelineError as ClusterPipelineError,
    ConfigError as ConfigError,
    ConnectionError as ConnectionError,
    CrossSlotError as CrossSlotError,
    CrossSlotTransactionError as CrossSlotTransactionError,
    DataError as DataError,
    DedicatedConnectionError as DedicatedConnectionError,
    EmbeddedServerError as EmbeddedServerError,
    InvalidCommandError as InvalidCommandError,
    MigrateError as MigrateError,
    MovedError as MovedError,
    MultiStoreError as MultiStoreError,
    NoScriptError as NoScriptError,
    PipelineError as PipelineError,
    ResponseError as ResponseError,
    RoutingError as RoutingError,
    SlotError as SlotError,
    SlotNotServedError as SlotNotServedError,
    SlotshiftError as SlotshiftError,
    TimeoutError as TimeoutError,
    UnknownNodeError as UnknownNodeError,
    WatchError as WatchError,
)
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
from .sentinel import Sentinel as Sentinel

__all__ = [
    "AnalyzerError", "AuthenticationError", "Client", "ClusterDownError", "ClusterPipeline",
    "ClusterPipelineError", "ConfigError", "ConnectionError", "CrossSlotError",
    "CrossSlotTransactionError",
    "DataError", "DedicatedConnectionError", "DiffReport", "EmbeddedServerError",
    "InvalidCommandError", "MigrateError", "MigrateReport", "MovedError", "MultiStore",
    "MultiStoreError", "NoScriptError", "PHASES", "Pipeline", "PipelineError", "PubSub",
    "Recorded", "Recorder", "Redis", "RedisCluster", "Report", "ResponseError", "RoutingError",
    "Sentinel", "SlotError", "SlotNotServedError", "SlotshiftError", "TimeoutError", "UnknownNodeError", "WatchError",
    "__version__",
    "allow_cross_slot", "analyze", "diff", "error_class", "forward_logs", "key_slot",
    "key_slots", "metrics_text", "migrate", "report_dict", "stop_forwarding_logs",
]
