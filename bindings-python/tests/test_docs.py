"""Every Python example of docs/python.md runs as written against the suite's servers."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from redis.observability import recorder

from conftest import REPO

import slotshift

EXAMPLES = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "python.md").read_text(), re.S)


@pytest.fixture()
def doc_env(standalone_url: str, cluster_urls: list[str],
            sentinel_set: dict[str, Any]) -> Iterator[None]:
    os.environ["REDIS_URL"] = standalone_url
    os.environ["REDIS_CLUSTER_URLS"] = ",".join(cluster_urls)
    os.environ["REDIS_SENTINELS"] = ",".join(sentinel_set["sentinels"])
    for c in (slotshift.Client.from_url(standalone_url), slotshift.RedisCluster.from_urls(cluster_urls)):
        c.flushdb()
        c.close()
    yield
    del os.environ["REDIS_URL"], os.environ["REDIS_CLUSTER_URLS"], os.environ["REDIS_SENTINELS"]
    # An example that turned redis-py's observability on and shut it down leaves its collector
    # in redis-py's recorder, which would go on recording into it.
    recorder.reset_collector()


def test_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_doc_example_runs(doc_env: None, code: str) -> None:
    exec(compile(code, "docs/python.md", "exec"), {"__name__": "docs_example"})
