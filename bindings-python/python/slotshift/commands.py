"""redis-py's command methods: names, arguments and reply conversions.

Every method builds the command's arguments and hands them, with the conversion to apply to
the raw reply, to ``self._run``: a client sends at once, a pipeline queues. The conversions
follow redis-py's RESP2 callbacks, so a ``Client`` returns what ``redis.Redis`` returns.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Optional, Union

KeyT = Union[bytes, str]
"""A key: bytes, or str (sent as UTF-8)."""
EncodableT = Union[bytes, str, int, float]
"""A value: bytes, str (UTF-8), int (decimal) or float (``repr``)."""
ExpiryT = Union[int, datetime.timedelta]
AbsExpiryT = Union[int, datetime.datetime]
Callback = Optional[Callable[[Any], Any]]

__all__ = ["Commands", "KeyT", "EncodableT", "ExpiryT", "AbsExpiryT", "CALLBACKS"]


def _text(r: Any) -> Any:
    return r.decode() if isinstance(r, bytes) else r


def bool_ok(r: Any) -> bool:
    """``OK`` → True (redis-py's ``bool_ok``)."""
    return bool(_text(r) == "OK")


def _set_result(r: Any) -> Optional[bool]:
    return (r and _text(r) == "OK") or None


def _float_or_none(r: Any) -> Optional[float]:
    return None if r is None else float(r)


def _pairs_to_dict(r: Any) -> dict[Any, Any]:
    if not r:
        return {}
    it = iter(r)
    return dict(zip(it, it))


def _as_set(r: Any) -> set[Any]:
    return set(r) if r else set()


def _score_pairs(r: Any, cast: Callable[[Any], Any] = float) -> list[tuple[Any, Any]]:
    it = iter(r)
    return list(zip(it, map(cast, it)))


def _tuple_or_none(r: Any) -> Optional[tuple[Any, ...]]:
    return tuple(r) if r else None


def _scan(r: Any) -> tuple[int, list[Any]]:
    cursor, keys = r
    return int(cursor), keys


def _time(r: Any) -> tuple[int, int]:
    return int(r[0]), int(r[1])


def _zmscore(r: Any) -> list[Optional[float]]:
    return [None if s is None else float(s) for s in r]


CALLBACKS: dict[str, Callable[[Any], Any]] = {
    **{c: bool for c in "COPY EXPIRE EXPIREAT HEXISTS MOVE MSETNX PERSIST PSETEX PEXPIRE "
       "PEXPIREAT RENAMENX SETEX SETNX SMOVE".split()},
    **{c: float for c in ("HINCRBYFLOAT", "INCRBYFLOAT")},
    **{c: bool_ok for c in "FLUSHALL FLUSHDB LSET LTRIM MSET PFMERGE RENAME SELECT WATCH "
       "UNWATCH".split()},
    **{c: _as_set for c in ("SDIFF", "SINTER", "SMEMBERS", "SUNION")},
    **{c: _float_or_none for c in ("ZINCRBY", "ZSCORE")},
    **{c: _tuple_or_none for c in ("BLPOP", "BRPOP")},
    "PING": lambda r: _text(r) == "PONG",
    "SET": _set_result,
    "SCAN": _scan,
    "TIME": _time,
    "HGETALL": _pairs_to_dict,
    "ZMSCORE": _zmscore,
}
"""The conversions ``execute_command`` applies by command name, as redis-py does."""


def _seconds(value: ExpiryT, what: str) -> int:
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds())
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int or a timedelta, not {type(value).__name__}")
    return value


def _millis(value: ExpiryT, what: str) -> int:
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int or a timedelta, not {type(value).__name__}")
    return value


def _unix(value: AbsExpiryT, what: str, scale: int) -> int:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * scale)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int or a datetime, not {type(value).__name__}")
    return value


def _keys(keys: Union[KeyT, Iterable[KeyT]], args: tuple[KeyT, ...]) -> list[KeyT]:
    if isinstance(keys, (bytes, str)):
        out: list[KeyT] = [keys]
    else:
        out = list(keys)
    out.extend(args)
    return out


def _one_of(flags: Mapping[str, bool], what: str) -> None:
    on = [k for k, v in flags.items() if v]
    if len(on) > 1:
        raise ValueError(f"{what}: only one of {', '.join(on)} may be set")


class Commands:
    """The redis-py command methods shared by ``Client``, ``Pipeline`` and ``MultiStore``."""

    def _run(self, callback: Callback, *args: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ strings

    def get(self, name: KeyT) -> Any:
        """``GET``: the value, or None."""
        return self._run(None, b"GET", name)

    def set(
        self,
        name: KeyT,
        value: EncodableT,
        ex: Optional[ExpiryT] = None,
        px: Optional[ExpiryT] = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
        exat: Optional[AbsExpiryT] = None,
        pxat: Optional[AbsExpiryT] = None,
    ) -> Any:
        """``SET``: True, or None when ``nx``/``xx`` prevented it; the old value with ``get``."""
        args: list[Any] = [b"SET", name, value]
        if ex is not None or px is not None or exat is not None or pxat is not None or keepttl:
            _one_of({"ex": ex is not None, "px": px is not None, "exat": exat is not None,
                     "pxat": pxat is not None, "keepttl": keepttl}, "set")
            if ex is not None:
                args += [b"EX", _seconds(ex, "ex")]
            elif px is not None:
                args += [b"PX", _millis(px, "px")]
            elif exat is not None:
                args += [b"EXAT", _unix(exat, "exat", 1)]
            elif pxat is not None:
                args += [b"PXAT", _unix(pxat, "pxat", 1000)]
            else:
                args.append(b"KEEPTTL")
        if nx and xx:
            raise ValueError("set: nx and xx are mutually exclusive")
        if nx:
            args.append(b"NX")
        elif xx:
            args.append(b"XX")
        if get:
            args.append(b"GET")
            return self._run(None, *args)
        return self._run(_set_result, *args)

    def mget(self, keys: Union[KeyT, Iterable[KeyT]], *args: KeyT) -> Any:
        """``MGET``: a list of values (None for missing keys); split per slot on a cluster."""
        return self._run(None, b"MGET", *_keys(keys, args))

    def mget_nonatomic(self, keys: Union[KeyT, Iterable[KeyT]], *args: KeyT) -> Any:
        """``RedisCluster.mget_nonatomic``: the same as ``mget`` (which already splits per slot)."""
        return self.mget(keys, *args)

    def mset(self, mapping: Mapping[KeyT, EncodableT]) -> Any:
        """``MSET``: True."""
        args: list[Any] = [b"MSET"]
        for k, v in mapping.items():
            args += [k, v]
        return self._run(bool_ok, *args)

    def msetnx(self, mapping: Mapping[KeyT, EncodableT]) -> Any:
        """``MSETNX``: whether every key was set."""
        args: list[Any] = [b"MSETNX"]
        for k, v in mapping.items():
            args += [k, v]
        return self._run(bool, *args)

    def setnx(self, name: KeyT, value: EncodableT) -> Any:
        """``SETNX``: whether the key was set."""
        return self._run(bool, b"SETNX", name, value)

    def setex(self, name: KeyT, time: ExpiryT, value: EncodableT) -> Any:
        """``SETEX``: True."""
        return self._run(bool, b"SETEX", name, _seconds(time, "time"), value)

    def psetex(self, name: KeyT, time_ms: ExpiryT, value: EncodableT) -> Any:
        """``PSETEX``: True."""
        return self._run(bool, b"PSETEX", name, _millis(time_ms, "time_ms"), value)

    def getdel(self, name: KeyT) -> Any:
        """``GETDEL``: the value, or None."""
        return self._run(None, b"GETDEL", name)

    def getex(
        self,
        name: KeyT,
        ex: Optional[ExpiryT] = None,
        px: Optional[ExpiryT] = None,
        exat: Optional[AbsExpiryT] = None,
        pxat: Optional[AbsExpiryT] = None,
        persist: bool = False,
    ) -> Any:
        """``GETEX``: the value, changing its expiry."""
        _one_of({"ex": ex is not None, "px": px is not None, "exat": exat is not None,
                 "pxat": pxat is not None, "persist": persist}, "getex")
        args: list[Any] = [b"GETEX", name]
        if ex is not None:
            args += [b"EX", _seconds(ex, "ex")]
        elif px is not None:
            args += [b"PX", _millis(px, "px")]
        elif exat is not None:
            args += [b"EXAT", _unix(exat, "exat", 1)]
        elif pxat is not None:
            args += [b"PXAT", _unix(pxat, "pxat", 1000)]
        elif persist:
            args.append(b"PERSIST")
        return self._run(None, *args)

    def incr(self, name: KeyT, amount: int = 1) -> Any:
        """``INCRBY``: the new value."""
        return self._run(None, b"INCRBY", name, amount)

    incrby = incr

    def decr(self, name: KeyT, amount: int = 1) -> Any:
        """``DECRBY``: the new value."""
        return self._run(None, b"DECRBY", name, amount)

    decrby = decr

    def incrbyfloat(self, name: KeyT, amount: float = 1.0) -> Any:
        """``INCRBYFLOAT``: the new value as a float."""
        return self._run(float, b"INCRBYFLOAT", name, amount)

    def append(self, key: KeyT, value: EncodableT) -> Any:
        """``APPEND``: the new length."""
        return self._run(None, b"APPEND", key, value)

    def strlen(self, name: KeyT) -> Any:
        """``STRLEN``."""
        return self._run(None, b"STRLEN", name)

    def getrange(self, key: KeyT, start: int, end: int) -> Any:
        """``GETRANGE``."""
        return self._run(None, b"GETRANGE", key, start, end)

    def setrange(self, name: KeyT, offset: int, value: EncodableT) -> Any:
        """``SETRANGE``: the new length."""
        return self._run(None, b"SETRANGE", name, offset, value)

    # --------------------------------------------------------------------- keys

    def delete(self, *names: KeyT) -> Any:
        """``DEL``: how many keys were removed (split per slot on a cluster)."""
        return self._run(None, b"DEL", *names)

    def __delitem__(self, name: KeyT) -> None:
        self.delete(name)

    def unlink(self, *names: KeyT) -> Any:
        """``UNLINK``: how many keys were removed."""
        return self._run(None, b"UNLINK", *names)

    def exists(self, *names: KeyT) -> Any:
        """``EXISTS``: how many of the keys exist."""
        return self._run(None, b"EXISTS", *names)

    def touch(self, *args: KeyT) -> Any:
        """``TOUCH``: how many keys exist."""
        return self._run(None, b"TOUCH", *args)

    def type(self, name: KeyT) -> Any:
        """``TYPE``: ``b"string"``, ``b"hash"``, … (``b"none"`` for a missing key)."""
        return self._run(None, b"TYPE", name)

    def rename(self, src: KeyT, dst: KeyT) -> Any:
        """``RENAME``: True."""
        return self._run(bool_ok, b"RENAME", src, dst)

    def renamenx(self, src: KeyT, dst: KeyT) -> Any:
        """``RENAMENX``: whether it was renamed."""
        return self._run(bool, b"RENAMENX", src, dst)

    def expire(
        self, name: KeyT, time: ExpiryT, nx: bool = False, xx: bool = False,
        gt: bool = False, lt: bool = False,
    ) -> Any:
        """``EXPIRE``: whether the timeout was set."""
        return self._run(bool, b"EXPIRE", name, _seconds(time, "time"),
                         *_expire_flags(nx, xx, gt, lt))

    def pexpire(
        self, name: KeyT, time: ExpiryT, nx: bool = False, xx: bool = False,
        gt: bool = False, lt: bool = False,
    ) -> Any:
        """``PEXPIRE``: whether the timeout was set."""
        return self._run(bool, b"PEXPIRE", name, _millis(time, "time"),
                         *_expire_flags(nx, xx, gt, lt))

    def expireat(
        self, name: KeyT, when: AbsExpiryT, nx: bool = False, xx: bool = False,
        gt: bool = False, lt: bool = False,
    ) -> Any:
        """``EXPIREAT``: whether the timeout was set."""
        return self._run(bool, b"EXPIREAT", name, _unix(when, "when", 1),
                         *_expire_flags(nx, xx, gt, lt))

    def pexpireat(
        self, name: KeyT, when: AbsExpiryT, nx: bool = False, xx: bool = False,
        gt: bool = False, lt: bool = False,
    ) -> Any:
        """``PEXPIREAT``: whether the timeout was set."""
        return self._run(bool, b"PEXPIREAT", name, _unix(when, "when", 1000),
                         *_expire_flags(nx, xx, gt, lt))

    def ttl(self, name: KeyT) -> Any:
        """``TTL``: seconds left, -1 without expiry, -2 for a missing key."""
        return self._run(None, b"TTL", name)

    def pttl(self, name: KeyT) -> Any:
        """``PTTL``: milliseconds left."""
        return self._run(None, b"PTTL", name)

    def expiretime(self, key: KeyT) -> Any:
        """``EXPIRETIME``: the absolute Unix time in seconds."""
        return self._run(None, b"EXPIRETIME", key)

    def persist(self, name: KeyT) -> Any:
        """``PERSIST``: whether a timeout was removed."""
        return self._run(bool, b"PERSIST", name)

    # ------------------------------------------------------------------- hashes

    def hset(
        self,
        name: KeyT,
        key: Optional[KeyT] = None,
        value: Optional[EncodableT] = None,
        mapping: Optional[Mapping[KeyT, EncodableT]] = None,
        items: Optional[Sequence[Any]] = None,
    ) -> Any:
        """``HSET``: how many fields were added."""
        if key is None and not mapping and not items:
            raise ValueError("'hset' with no key value pairs")
        args: list[Any] = [b"HSET", name]
        if key is not None:
            args += [key, value]
        if items:
            args.extend(items)
        if mapping:
            for k, v in mapping.items():
                args += [k, v]
        return self._run(None, *args)

    def hsetnx(self, name: KeyT, key: KeyT, value: EncodableT) -> Any:
        """``HSETNX``: 1 if the field was set."""
        return self._run(None, b"HSETNX", name, key, value)

    def hget(self, name: KeyT, key: KeyT) -> Any:
        """``HGET``."""
        return self._run(None, b"HGET", name, key)

    def hmget(self, name: KeyT, keys: Union[KeyT, Iterable[KeyT]], *args: KeyT) -> Any:
        """``HMGET``: a list of values."""
        return self._run(None, b"HMGET", name, *_keys(keys, args))

    def hgetall(self, name: KeyT) -> Any:
        """``HGETALL``: a dict."""
        return self._run(_pairs_to_dict, b"HGETALL", name)

    def hdel(self, name: KeyT, *keys: KeyT) -> Any:
        """``HDEL``: how many fields were removed."""
        return self._run(None, b"HDEL", name, *keys)

    def hexists(self, name: KeyT, key: KeyT) -> Any:
        """``HEXISTS``: a bool."""
        return self._run(bool, b"HEXISTS", name, key)

    def hincrby(self, name: KeyT, key: KeyT, amount: int = 1) -> Any:
        """``HINCRBY``: the new value."""
        return self._run(None, b"HINCRBY", name, key, amount)

    def hincrbyfloat(self, name: KeyT, key: KeyT, amount: float = 1.0) -> Any:
        """``HINCRBYFLOAT``: the new value as a float."""
        return self._run(float, b"HINCRBYFLOAT", name, key, amount)

    def hkeys(self, name: KeyT) -> Any:
        """``HKEYS``."""
        return self._run(None, b"HKEYS", name)

    def hvals(self, name: KeyT) -> Any:
        """``HVALS``."""
        return self._run(None, b"HVALS", name)

    def hlen(self, name: KeyT) -> Any:
        """``HLEN``."""
        return self._run(None, b"HLEN", name)

    def hstrlen(self, name: KeyT, key: KeyT) -> Any:
        """``HSTRLEN``."""
        return self._run(None, b"HSTRLEN", name, key)

    # --------------------------------------------------------------------- sets

    def sadd(self, name: KeyT, *values: EncodableT) -> Any:
        """``SADD``: how many members were added."""
        return self._run(None, b"SADD", name, *values)

    def srem(self, name: KeyT, *values: EncodableT) -> Any:
        """``SREM``: how many members were removed."""
        return self._run(None, b"SREM", name, *values)

    def smembers(self, name: KeyT) -> Any:
        """``SMEMBERS``: a set."""
        return self._run(_as_set, b"SMEMBERS", name)

    def sismember(self, name: KeyT, value: EncodableT) -> Any:
        """``SISMEMBER``: 1 or 0."""
        return self._run(None, b"SISMEMBER", name, value)

    def smismember(self, name: KeyT, values: Iterable[EncodableT], *args: EncodableT) -> Any:
        """``SMISMEMBER``: a list of 1/0."""
        return self._run(None, b"SMISMEMBER", name, *_keys(values, args))  # type: ignore[arg-type]

    def scard(self, name: KeyT) -> Any:
        """``SCARD``."""
        return self._run(None, b"SCARD", name)

    def spop(self, name: KeyT, count: Optional[int] = None) -> Any:
        """``SPOP``."""
        if count is None:
            return self._run(None, b"SPOP", name)
        return self._run(None, b"SPOP", name, count)

    def srandmember(self, name: KeyT, number: Optional[int] = None) -> Any:
        """``SRANDMEMBER``."""
        if number is None:
            return self._run(None, b"SRANDMEMBER", name)
        return self._run(None, b"SRANDMEMBER", name, number)

    def smove(self, src: KeyT, dst: KeyT, value: EncodableT) -> Any:
        """``SMOVE``: a bool."""
        return self._run(bool, b"SMOVE", src, dst, value)

    def sinter(self, keys: Union[KeyT, Iterable[KeyT]], *args: KeyT) -> Any:
        """``SINTER``: a set."""
        return self._run(_as_set, b"SINTER", *_keys(keys, args))

    def sunion(self, keys: Union[KeyT, Iterable[KeyT]], *args: KeyT) -> Any:
        """``SUNION``: a set."""
        return self._run(_as_set, b"SUNION", *_keys(keys, args))

    def sdiff(self, keys: Union[KeyT, Iterable[KeyT]], *args: KeyT) -> Any:
        """``SDIFF``: a set."""
        return self._run(_as_set, b"SDIFF", *_keys(keys, args))

    def sinterstore(self, dest: KeyT, keys: Union[KeyT, Iterable[KeyT]], *args: KeyT) -> Any:
        """``SINTERSTORE``: the size of the result."""
        return self._run(None, b"SINTERSTORE", dest, *_keys(keys, args))

    def sunionstore(self, dest: KeyT, keys: Union[KeyT, Iterable[KeyT]], *args: KeyT) -> Any:
        """``SUNIONSTORE``: the size of the result."""
        return self._run(None, b"SUNIONSTORE", dest, *_keys(keys, args))

    def sdiffstore(self, dest: KeyT, keys: Union[KeyT, Iterable[KeyT]], *args: KeyT) -> Any:
        """``SDIFFSTORE``: the size of the result."""
        return self._run(None, b"SDIFFSTORE", dest, *_keys(keys, args))

    # -------------------------------------------------------------- sorted sets

    def zadd(
        self,
        name: KeyT,
        mapping: Mapping[EncodableT, float],
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        incr: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Any:
        """``ZADD``: how many members were added (the new score with ``incr``)."""
        if not mapping:
            raise ValueError("ZADD requires at least one element/score pair")
        if nx and xx:
            raise ValueError("ZADD allows either 'nx' or 'xx', not both")
        if gt and lt:
            raise ValueError("ZADD allows either 'gt' or 'lt', not both")
        if incr and len(mapping) != 1:
            raise ValueError("ZADD option 'incr' only works when passing a single element/score pair")
        if nx and (gt or lt):
            raise ValueError("Only one of 'nx', 'lt', or 'gr' may be defined.")
        args: list[Any] = [b"ZADD", name]
        for flag, word in ((nx, b"NX"), (xx, b"XX"), (gt, b"GT"), (lt, b"LT"), (ch, b"CH"),
                           (incr, b"INCR")):
            if flag:
                args.append(word)
        for member, score in mapping.items():
            args += [score, member]
        if incr:
            return self._run(_float_or_none, *args)
        return self._run(None, *args)

    def zrange(
        self,
        name: KeyT,
        start: Union[int, float, str, bytes],
        end: Union[int, float, str, bytes],
        desc: bool = False,
        withscores: bool = False,
        score_cast_func: Callable[[Any], Any] = float,
        byscore: bool = False,
        bylex: bool = False,
        offset: Optional[int] = None,
        num: Optional[int] = None,
    ) -> Any:
        """``ZRANGE``: members, or (member, score) pairs ``withscores``."""
        if byscore and bylex:
            raise ValueError("``byscore`` and ``bylex`` can not be specified together.")
        if (offset is not None and num is None) or (num is not None and offset is None):
            raise ValueError("``offset`` and ``num`` must both be specified.")
        if bylex and withscores:
            raise ValueError("``withscores`` not supported in combination with ``bylex``.")
        args: list[Any] = [b"ZRANGE", name, start, end]
        if byscore:
            args.append(b"BYSCORE")
        if bylex:
            args.append(b"BYLEX")
        if desc:
            args.append(b"REV")
        if offset is not None and num is not None:
            args += [b"LIMIT", offset, num]
        if withscores:
            args.append(b"WITHSCORES")
            return self._run(lambda r: _score_pairs(r, score_cast_func), *args)
        return self._run(None, *args)

    def zrevrange(
        self, name: KeyT, start: int, end: int, withscores: bool = False,
        score_cast_func: Callable[[Any], Any] = float,
    ) -> Any:
        """``ZREVRANGE``."""
        return self.zrange(name, start, end, desc=True, withscores=withscores,
                           score_cast_func=score_cast_func)

    def zrangebyscore(
        self, name: KeyT, min: Union[float, str], max: Union[float, str],
        start: Optional[int] = None, num: Optional[int] = None, withscores: bool = False,
        score_cast_func: Callable[[Any], Any] = float,
    ) -> Any:
        """``ZRANGEBYSCORE``."""
        if (start is not None and num is None) or (num is not None and start is None):
            raise ValueError("``start`` and ``num`` must both be specified")
        args: list[Any] = [b"ZRANGEBYSCORE", name, min, max]
        if start is not None and num is not None:
            args += [b"LIMIT", start, num]
        if withscores:
            args.append(b"WITHSCORES")
            return self._run(lambda r: _score_pairs(r, score_cast_func), *args)
        return self._run(None, *args)

    def zrevrangebyscore(
        self, name: KeyT, max: Union[float, str], min: Union[float, str],
        start: Optional[int] = None, num: Optional[int] = None, withscores: bool = False,
        score_cast_func: Callable[[Any], Any] = float,
    ) -> Any:
        """``ZREVRANGEBYSCORE``."""
        if (start is not None and num is None) or (num is not None and start is None):
            raise ValueError("``start`` and ``num`` must both be specified")
        args: list[Any] = [b"ZREVRANGEBYSCORE", name, max, min]
        if start is not None and num is not None:
            args += [b"LIMIT", start, num]
        if withscores:
            args.append(b"WITHSCORES")
            return self._run(lambda r: _score_pairs(r, score_cast_func), *args)
        return self._run(None, *args)

    def zscore(self, name: KeyT, value: EncodableT) -> Any:
        """``ZSCORE``: a float, or None."""
        return self._run(_float_or_none, b"ZSCORE", name, value)

    def zmscore(self, key: KeyT, members: Sequence[EncodableT]) -> Any:
        """``ZMSCORE``: a list of floats or None."""
        if not members:
            raise ValueError("ZMSCORE members must be a non-empty list")
        return self._run(_zmscore, b"ZMSCORE", key, *members)

    def zincrby(self, name: KeyT, amount: float, value: EncodableT) -> Any:
        """``ZINCRBY``: the new score."""
        return self._run(_float_or_none, b"ZINCRBY", name, amount, value)

    def zrem(self, name: KeyT, *values: EncodableT) -> Any:
        """``ZREM``: how many members were removed."""
        return self._run(None, b"ZREM", name, *values)

    def zcard(self, name: KeyT) -> Any:
        """``ZCARD``."""
        return self._run(None, b"ZCARD", name)

    def zcount(self, name: KeyT, min: Union[float, str], max: Union[float, str]) -> Any:
        """``ZCOUNT``."""
        return self._run(None, b"ZCOUNT", name, min, max)

    def zrank(self, name: KeyT, value: EncodableT, withscore: bool = False) -> Any:
        """``ZRANK``: the rank, or None; ``[rank, score]`` with ``withscore``."""
        if withscore:
            return self._run(lambda r: r and [r[0], float(r[1])], b"ZRANK", name, value,
                             b"WITHSCORE")
        return self._run(None, b"ZRANK", name, value)

    def zrevrank(self, name: KeyT, value: EncodableT, withscore: bool = False) -> Any:
        """``ZREVRANK``."""
        if withscore:
            return self._run(lambda r: r and [r[0], float(r[1])], b"ZREVRANK", name, value,
                             b"WITHSCORE")
        return self._run(None, b"ZREVRANK", name, value)

    def zpopmin(self, name: KeyT, count: Optional[int] = None) -> Any:
        """``ZPOPMIN``: a list of (member, score)."""
        args: list[Any] = [b"ZPOPMIN", name] + ([] if count is None else [count])
        return self._run(_score_pairs, *args)

    def zpopmax(self, name: KeyT, count: Optional[int] = None) -> Any:
        """``ZPOPMAX``: a list of (member, score)."""
        args: list[Any] = [b"ZPOPMAX", name] + ([] if count is None else [count])
        return self._run(_score_pairs, *args)

    def zremrangebyrank(self, name: KeyT, min: int, max: int) -> Any:
        """``ZREMRANGEBYRANK``."""
        return self._run(None, b"ZREMRANGEBYRANK", name, min, max)

    def zremrangebyscore(self, name: KeyT, min: Union[float, str], max: Union[float, str]) -> Any:
        """``ZREMRANGEBYSCORE``."""
        return self._run(None, b"ZREMRANGEBYSCORE", name, min, max)

    # -------------------------------------------------------------------- lists

    def lpush(self, name: KeyT, *values: EncodableT) -> Any:
        """``LPUSH``: the new length."""
        return self._run(None, b"LPUSH", name, *values)

    def rpush(self, name: KeyT, *values: EncodableT) -> Any:
        """``RPUSH``: the new length."""
        return self._run(None, b"RPUSH", name, *values)

    def lpop(self, name: KeyT, count: Optional[int] = None) -> Any:
        """``LPOP``."""
        if count is None:
            return self._run(None, b"LPOP", name)
        return self._run(None, b"LPOP", name, count)

    def rpop(self, name: KeyT, count: Optional[int] = None) -> Any:
        """``RPOP``."""
        if count is None:
            return self._run(None, b"RPOP", name)
        return self._run(None, b"RPOP", name, count)

    def llen(self, name: KeyT) -> Any:
        """``LLEN``."""
        return self._run(None, b"LLEN", name)

    def lrange(self, name: KeyT, start: int, end: int) -> Any:
        """``LRANGE``."""
        return self._run(None, b"LRANGE", name, start, end)

    def lindex(self, name: KeyT, index: int) -> Any:
        """``LINDEX``."""
        return self._run(None, b"LINDEX", name, index)

    def lset(self, name: KeyT, index: int, value: EncodableT) -> Any:
        """``LSET``: True."""
        return self._run(bool_ok, b"LSET", name, index, value)

    def lrem(self, name: KeyT, count: int, value: EncodableT) -> Any:
        """``LREM``: how many were removed."""
        return self._run(None, b"LREM", name, count, value)

    def ltrim(self, name: KeyT, start: int, end: int) -> Any:
        """``LTRIM``: True."""
        return self._run(bool_ok, b"LTRIM", name, start, end)

    def linsert(self, name: KeyT, where: str, refvalue: EncodableT, value: EncodableT) -> Any:
        """``LINSERT``: the new length (-1 if ``refvalue`` is missing)."""
        return self._run(None, b"LINSERT", name, where, refvalue, value)

    def lmove(self, first_list: KeyT, second_list: KeyT, src: str = "LEFT",
              dest: str = "RIGHT") -> Any:
        """``LMOVE``: the moved element."""
        return self._run(None, b"LMOVE", first_list, second_list, src, dest)

    def rpoplpush(self, src: KeyT, dst: KeyT) -> Any:
        """``RPOPLPUSH``."""
        return self._run(None, b"RPOPLPUSH", src, dst)

    def blpop(self, keys: Union[KeyT, Iterable[KeyT]], timeout: Optional[float] = 0) -> Any:
        """``BLPOP``: ``(key, value)``, or None after ``timeout`` seconds (0 waits forever,
        up to the client's ``socket_timeout``). The GIL is released while it waits."""
        return self._run(_tuple_or_none, b"BLPOP", *_keys(keys, ()), 0 if timeout is None else timeout)

    def brpop(self, keys: Union[KeyT, Iterable[KeyT]], timeout: Optional[float] = 0) -> Any:
        """``BRPOP``: ``(key, value)``, or None."""
        return self._run(_tuple_or_none, b"BRPOP", *_keys(keys, ()), 0 if timeout is None else timeout)

    # -------------------------------------------------------------- hyperloglog

    def pfadd(self, name: KeyT, *values: EncodableT) -> Any:
        """``PFADD``: 1 if the estimate changed."""
        return self._run(None, b"PFADD", name, *values)

    def pfcount(self, *sources: KeyT) -> Any:
        """``PFCOUNT``: the estimated cardinality."""
        return self._run(None, b"PFCOUNT", *sources)

    def pfmerge(self, dest: KeyT, *sources: KeyT) -> Any:
        """``PFMERGE``: True."""
        return self._run(bool_ok, b"PFMERGE", dest, *sources)

    # ------------------------------------------------------------------- server

    def publish(self, channel: KeyT, message: EncodableT) -> Any:
        """``PUBLISH``: how many subscribers received it."""
        return self._run(None, b"PUBLISH", channel, message)

    def ping(self) -> Any:
        """``PING``: True."""
        return self._run(lambda r: _text(r) == "PONG", b"PING")

    def echo(self, value: EncodableT) -> Any:
        """``ECHO``."""
        return self._run(None, b"ECHO", value)

    def time(self) -> Any:
        """``TIME``: ``(seconds, microseconds)``."""
        return self._run(_time, b"TIME")


def _expire_flags(nx: bool, xx: bool, gt: bool, lt: bool) -> list[bytes]:
    out = []
    for flag, word in ((nx, b"NX"), (xx, b"XX"), (gt, b"GT"), (lt, b"LT")):
        if flag:
            out.append(word)
    return out


def flatten_scan(batches: Iterable[list[Any]]) -> Iterator[Any]:
    """Keys from batches of keys."""
    for batch in batches:
        yield from batch
