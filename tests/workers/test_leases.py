"""workers.leases: the jobs held under a lease, handed over between the heartbeat and the jobs loop."""

import asyncio
import threading

from workers.leases import MAX_LISTED, HeldJobs


def test_held_jobs_are_listed_and_lost_ones_ended_on_the_jobs_loop():
    held = HeldJobs()
    held.hold("a", "lease-a")
    held.hold("b", "lease-b")
    assert held.snapshot() == [{"id": "a", "lease": "lease-a"}, {"id": "b", "lease": "lease-b"}]

    async def scenario():
        loop = asyncio.get_running_loop()
        ended = asyncio.Queue()
        held.attach(loop, lambda lost: ended.put_nowait((threading.current_thread(), lost)))
        # As the heartbeat thread does: a lease of another job under the same id is not this one.
        outcome = await asyncio.to_thread(held.lose, [("a", "lease-a"), ("b", "older-lease"), ("c", "x")])
        thread, lost = await asyncio.wait_for(ended.get(), 5)
        return outcome, thread, lost

    outcome, thread, lost = asyncio.run(scenario())
    assert outcome == lost == [("a", "lease-a")]
    assert thread is threading.main_thread(), "ended on the loop's thread, not the heartbeat's"
    assert held.snapshot() == [{"id": "b", "lease": "lease-b"}], "the next heartbeat goes without it"
    held.release("b", "other")
    assert held.snapshot() == [{"id": "b", "lease": "lease-b"}]
    held.release("b", "lease-b")
    assert held.snapshot() == []
    held.detach()
    held.hold("d", "lease-d")
    assert held.lose([("d", "lease-d")]) == [("d", "lease-d")], "a closed loop is no reason to fail"


def test_a_heartbeat_lists_no_more_held_jobs_than_the_server_takes_the_oldest_first():
    held = HeldJobs()
    for n in range(MAX_LISTED + 6):
        held.hold(f"job-{n}", f"lease-{n}")

    listed = held.snapshot()

    assert MAX_LISTED == 1024
    assert [item["id"] for item in listed] == [f"job-{n}" for n in range(MAX_LISTED)]
    for n in range(6):
        held.release(f"job-{n}", f"lease-{n}")
    assert [item["id"] for item in held.snapshot()][-1] == f"job-{MAX_LISTED + 5}"
