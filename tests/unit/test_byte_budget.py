"""The writer queue's byte bound (server/pipeline/byte_budget.py): it holds at most its
limit, lets one item through when nothing is held however big, and lets a waiting item
in as soon as bytes are given back."""

from __future__ import annotations

import threading

import pytest

from sluice.server.pipeline.byte_budget import ByteBudget
from sluice.server.settings import PIPELINE_QUEUE_BYTES, SettingsError, load_settings


def test_holds_at_most_its_limit() -> None:
    budget = ByteBudget(100)
    assert budget.take(60, timeout=0)
    assert budget.take(40, timeout=0)
    assert not budget.take(1, timeout=0.01)
    assert budget.held == 100


def test_one_item_larger_than_the_limit_still_moves_alone() -> None:
    budget = ByteBudget(100)
    assert budget.take(500, timeout=0)
    assert not budget.take(1, timeout=0.01)
    budget.give_back(500)
    assert budget.take(1, timeout=0)


def test_zero_is_no_limit() -> None:
    budget = ByteBudget(0)
    assert all(budget.take(1 << 30, timeout=0) for _ in range(4))


def test_a_waiting_take_goes_in_when_bytes_come_back() -> None:
    budget = ByteBudget(100)
    assert budget.take(80, timeout=0)
    taken: list[bool] = []
    waiter = threading.Thread(target=lambda: taken.append(budget.take(50, timeout=30)))
    waiter.start()
    budget.give_back(80)
    waiter.join(30)
    assert taken == [True]
    assert budget.held == 50


def test_the_bound_is_a_setting() -> None:
    assert load_settings(environ={}).pipeline_queue_bytes == PIPELINE_QUEUE_BYTES
    unbounded = load_settings(environ={"SLUICE_PIPELINE_QUEUE_BYTES": "0"})
    assert unbounded.pipeline_queue_bytes == 0
    with pytest.raises(SettingsError, match="pipeline_queue_bytes"):
        load_settings(environ={"SLUICE_PIPELINE_QUEUE_BYTES": "-1"})
