"""workers.backoff: how long to wait before the next attempt."""

import random

from workers.backoff import Backoff


def test_backoff_grows_to_the_cap_with_jitter_and_starts_again_after_a_success():
    random.seed(7)
    backoff = Backoff(base=1, cap=60)
    delays = [backoff.next() for _ in range(12)]
    assert 0.5 <= delays[0] <= 1
    assert all(ceiling / 2 <= d <= ceiling for d, ceiling in zip(delays, [1, 2, 4, 8, 16, 32] + [60] * 6, strict=True))
    assert len(set(delays[6:])) > 1, "jitter: a fleet must not retry in step"
    backoff.reset()
    assert backoff.next() <= 1
