"""slotshift's exceptions, each also a subclass of redis-py's matching class.

``except redis.RedisError`` catches every error slotshift raises, and ``except
redis.ResponseError`` / ``redis.ConnectionError`` / ``redis.TimeoutError`` /
``redis.exceptions.NoScriptError`` … keep working after the swap to slotshift. The core's error
families (``tests/fixtures/errors.json``) map one-to-one onto the classes named there; the
native module raises them from this module, which imports nothing of slotshift's own.

An error reply from a server is classified exactly as redis-py classifies it (its parser's
``parse_error``: ``NOSCRIPT`` → ``NoScriptError``, ``ERR`` stripped from the message …) and
raised as the slotshift subclass of that class (``slotshift.exceptions.NoScriptError`` is a
``slotshift.ResponseError`` and a ``redis.exceptions.NoScriptError``).
"""

from __future__ import annotations

from typing import Optional

import redis.exceptions as rx
from redis._parsers.base import BaseParser

__all__ = [
    "AnalyzerError", "AskError", "AuthenticationError", "AuthenticationWrongNumberOfArgsError",
    "BusyLoadingError", "ClusterCrossSlotError", "ClusterDownError", "ClusterPipelineError",
    "ConfigError",
    "ConnectionError", "CrossSlotError", "CrossSlotTransactionError", "DataError",
    "DedicatedConnectionError", "EmbeddedServerError", "ExecAbortError", "InvalidCommandError",
    "MasterDownError", "MigrateError", "ModuleError", "MovedError", "MultiStoreError",
    "NoPermissionError", "NoScriptError", "OutOfMemoryError", "PipelineError", "ReadOnlyError",
    "ResponseError", "RoutingError", "SlotError", "SlotNotServedError", "SlotshiftError",
    "TimeoutError",
    "TryAgainError", "UnknownNodeError", "WatchError", "server_error",
]


class SlotshiftError(rx.RedisError):
    """Base class of every error slotshift raises (a ``redis.RedisError``)."""


# --- the core's error families (tests/fixtures/errors.json, column "python") -------------

class SlotError(SlotshiftError, rx.DataError):
    """Core family ``slot``: a hash slot out of range."""


class InvalidCommandError(SlotshiftError, rx.ResponseError):
    """Core family ``command``: an unknown command, a wrong arity, a malformed numkeys."""


class ConfigError(SlotshiftError, rx.DataError, ValueError):
    """Core family ``config``: a bad URL, seed list, config file or environment value (a
    ``ValueError`` too, as redis-py raises for a bad URL)."""


class ResponseError(SlotshiftError, rx.ResponseError):
    """Core family ``server``: an error reply from the server (``WRONGTYPE …``, ``ERR …``).

    A transaction the server discarded at ``EXEC`` (``EXECABORT``) raises, as redis-py does,
    the error of the first command it refused when queued, and that one has
    ``command_index``: the command's index among the transaction's commands."""

    #: For the error of a command refused in a transaction: its index among the
    #: transaction's commands (``None`` otherwise).
    command_index: Optional[int] = None


class ConnectionError(SlotshiftError, rx.ConnectionError):
    """Core family ``connection``: a connection could not be opened or broke (names the node,
    never a password)."""


class RoutingError(SlotshiftError, rx.ClusterError):
    """Core family ``routing``: redirect loops, unknown nodes, uncovered slots, cross-slot
    transactions, the retry deadline."""


class PipelineError(SlotshiftError, rx.DataError):
    """Core family ``pipeline``: a bad batch limit, a command that cannot be split across
    slots, a split command of which some parts failed."""


class CrossSlotError(SlotshiftError, rx.ResponseError):
    """Core family ``validator``: the cross-slot validator refused a command (mode
    ``raise``)."""


class AnalyzerError(SlotshiftError):
    """Core family ``analyzer``: analyzer options, rules, checkpoints."""


class MultiStoreError(SlotshiftError):
    """Core family ``multistore``: an unknown command in strict mode, bad flags or options."""


class EmbeddedServerError(SlotshiftError):
    """Core family ``embedded``: the embedded test servers could not be started or driven."""


class MigrateError(SlotshiftError):
    """Core family ``migrate``: diff and migrate options, checkpoints, refused copies."""


# --- finer classes within a family ---------------------------------------------------------

class TimeoutError(SlotshiftError, rx.TimeoutError):
    """No reply within ``socket_timeout`` (or no connection within
    ``socket_connect_timeout``): family ``connection``, redis-py's ``TimeoutError``."""


class AuthenticationError(ConnectionError, rx.AuthenticationError):
    """The server refused the credentials (``WRONGPASS``, ``NOAUTH``)."""


class DataError(SlotshiftError, rx.DataError, TypeError):
    """An argument slotshift cannot send (None, bool, a list …): redis-py's ``DataError``, and
    a ``TypeError``."""


class DedicatedConnectionError(SlotshiftError, NotImplementedError):
    """A command or feature that holds state on one connection (WATCH/MULTI across calls,
    SELECT, pub/sub, MONITOR, CLIENT REPLY …): the slotshift core multiplexes every command
    over shared connections and has no dedicated-connection API yet, so the command is refused
    before it is sent rather than run on a connection other callers share."""


class CrossSlotTransactionError(RoutingError, rx.CrossSlotTransactionError):
    """A transaction on a cluster whose keys span more than one slot, refused before
    anything is sent (use a hash tag, or ``pipeline(transaction=False)``)."""


class SlotNotServedError(RoutingError, rx.ClusterDownError):
    """A key's slot that no node of the cluster serves, even after the core refreshed its map
    (slots deleted, or a shard lost): redis-py raises ``ClusterDownError`` there, from the
    server's ``CLUSTERDOWN``."""


class ClusterPipelineError(SlotshiftError, rx.RedisClusterException):
    """What only a transaction has, asked of a cluster pipeline that is not one
    (``discard()``); redis-py's ``RedisClusterException`` too."""


class UnknownNodeError(RoutingError, rx.RedisClusterException):
    """A node named (``pubsub(node=)``, ``host=``/``port=``) that the cluster does not have;
    redis-py's ``RedisClusterException`` too."""


class WatchError(SlotshiftError, rx.WatchError):
    """A watched key changed: the transaction was not run."""


class NoScriptError(ResponseError, rx.NoScriptError):
    """``NOSCRIPT``: no script with that SHA1 on the server."""


class ExecAbortError(ResponseError, rx.ExecAbortError):
    """``EXECABORT``: a transaction discarded because a command in it was refused."""


class ReadOnlyError(ResponseError, rx.ReadOnlyError):
    """``READONLY``: a write sent to a replica."""


class NoPermissionError(ResponseError, rx.NoPermissionError):
    """``NOPERM``: the ACL user may not run the command."""


class OutOfMemoryError(ResponseError, rx.OutOfMemoryError):
    """``OOM``: the server is above ``maxmemory``."""


class ModuleError(ResponseError, rx.ModuleError):
    """A module could not be loaded or unloaded."""


class AuthenticationWrongNumberOfArgsError(ResponseError, rx.AuthenticationWrongNumberOfArgsError):
    """``AUTH`` with a wrong number of arguments."""


class BusyLoadingError(ConnectionError, rx.BusyLoadingError):
    """``LOADING``: the server is loading its dataset."""


class AskError(ResponseError, rx.AskError):
    """``ASK``: a redirect the core did not follow."""


class TryAgainError(ResponseError, rx.TryAgainError):
    """``TRYAGAIN``: a multi-key command during a slot migration."""


class ClusterCrossSlotError(ResponseError, rx.ClusterCrossSlotError):
    """``CROSSSLOT``: the server refused keys of more than one slot."""


class ClusterDownError(ResponseError, rx.ClusterDownError):
    """``CLUSTERDOWN``: the cluster cannot serve the slot."""


class MovedError(AskError, rx.MovedError):
    """``MOVED``: a redirect the core did not follow."""


class MasterDownError(ClusterDownError, rx.MasterDownError):
    """``MASTERDOWN``: the replica's master is down."""


#: redis-py's class → slotshift's subclass, for replies redis-py's parser classifies.
_BY_REDIS_CLASS: dict[type[BaseException], type[SlotshiftError]] = {
    rx.ResponseError: ResponseError,
    rx.ConnectionError: ConnectionError,
    rx.AuthenticationError: AuthenticationError,
    rx.AuthenticationWrongNumberOfArgsError: AuthenticationWrongNumberOfArgsError,
    rx.BusyLoadingError: BusyLoadingError,
    rx.NoScriptError: NoScriptError,
    rx.ExecAbortError: ExecAbortError,
    rx.ReadOnlyError: ReadOnlyError,
    rx.NoPermissionError: NoPermissionError,
    rx.OutOfMemoryError: OutOfMemoryError,
    rx.ModuleError: ModuleError,
    rx.AskError: AskError,
    rx.TryAgainError: TryAgainError,
    rx.MovedError: MovedError,
    rx.ClusterDownError: ClusterDownError,
    rx.ClusterCrossSlotError: ClusterCrossSlotError,
    rx.MasterDownError: MasterDownError,
}


def _subclass_of(cls: type[BaseException]) -> type[SlotshiftError]:
    for klass in cls.__mro__:
        mine = _BY_REDIS_CLASS.get(klass)
        if mine is not None:
            return mine
    return ResponseError


def server_error(text: str) -> BaseException:
    """The exception for an error reply ``text`` (``"CODE detail"``): redis-py's parser
    picks the class and the message, the instance is slotshift's subclass of that class
    (same ``args`` and attributes)."""
    parsed: BaseException = BaseParser.parse_error(text)  # type: ignore[no-untyped-call]
    mine = _subclass_of(type(parsed))
    err = mine.__new__(mine, *parsed.args)
    err.__dict__.update(parsed.__dict__)
    err.args = parsed.args
    return err
