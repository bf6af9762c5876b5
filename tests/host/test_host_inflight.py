"""host.InFlight: the bound on requests answered at once (in-process)."""

from __future__ import annotations

import asyncio

from pixelwarden.host import InFlight


def test_waits_for_room_by_count_and_by_bytes() -> None:
    async def scenario() -> list[str]:
        budget = InFlight(max_requests=2, max_bytes=100)
        events: list[str] = []
        await budget.acquire(10)
        await budget.acquire(10)

        async def third() -> None:
            await budget.acquire(10)
            events.append("third in")

        waiting = asyncio.create_task(third())
        await asyncio.sleep(0.01)
        events.append("count full")
        budget.release(10)
        await asyncio.wait_for(waiting, 1)
        # Now 2 in flight, 20 bytes: a 90-byte request must wait for bytes, not only count.
        budget.release(10)  # 1 in flight, 10 bytes
        big = asyncio.create_task(budget.acquire(95))
        await asyncio.sleep(0.01)
        events.append(f"big waiting {not big.done()}")
        budget.release(10)  # nothing in flight: the big one goes, alone
        await asyncio.wait_for(big, 1)
        events.append(f"big in, {budget.requests} request, {budget.bytes} bytes")
        return events

    assert asyncio.run(scenario()) == [
        "count full",
        "third in",
        "big waiting True",
        "big in, 1 request, 95 bytes",
    ]


def test_a_request_over_the_byte_budget_is_taken_alone() -> None:
    async def scenario() -> int:
        budget = InFlight(max_requests=10, max_bytes=100)
        await budget.acquire(1000)
        return budget.requests

    assert asyncio.run(scenario()) == 1
