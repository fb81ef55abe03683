"""Live updates over /ws/live/: who hears which push, on the real Redis channel layer.

Announcements are created by a real Celery worker process (automation.tasks.announce_to_account),
so the push crosses processes through Redis before it reaches the socket. The worker reads the
test's rows, hence committed data: these tests use the transactional database.

"Did not arrive" is proved by order, not by waiting: every channel of this process shares one
Redis queue, so after an account push has reached a member, a second push sent to a non-member
must be the first thing the non-member hears. Anything the account push had left for them
would have come first.
"""

import pytest
from channels.layers import channel_layers

from automation.models import Membership, Notification, Role
from automation.services.accounts import add_member, remove_member
from automation.services.actor import Actor
from automation.services.notifications import create_notification
from automation.tasks import announce_to_account
from tests.support.processes import start_celery_worker
from tests.support.waiting import wait_until
from tests.support.websocket import Sockets, headers_for, in_thread, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each scenario runs on its own event loop; give it a layer object of its own."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def celery_worker(server_env, log_dir):
    worker = start_celery_worker(server_env, log_dir)
    yield worker
    worker.stop()


def announce(account, title: str, message: str = "", level: str = "info"):
    """Queue the announcement for the worker process (never run eagerly here)."""
    return in_thread(announce_to_account.delay)(str(account.pk), title, message, level)


def tell_only(user, title: str):
    """A push to one user's sockets, created in this process."""
    return in_thread(create_notification)(recipient=user, title=title)


def test_a_socket_without_a_signed_in_session_is_refused(people):
    member = headers_for(people.owner)
    anonymous = headers_for(None)
    bogus_cookie = headers_for(None, cookie="not-a-session-key")
    other_site = headers_for(people.owner, origin="https://evil.example")

    async def scenario():
        async with Sockets() as sockets:
            results = {}
            for name, headers in [
                ("member", member),
                ("anonymous", anonymous),
                ("bogus cookie", bogus_cookie),
                ("other site", other_site),
            ]:
                _, accepted, detail = await sockets.try_open(headers, name)
                results[name] = (accepted, detail)
            return results

    results = run(scenario)
    assert results["member"][0] is True  # the control: the same handshake with a session is accepted
    assert results["anonymous"] == (False, 4401)
    assert results["bogus cookie"] == (False, 4401)
    assert results["other site"][0] is False  # SameOriginValidator refuses a foreign Origin


def test_an_announcement_from_a_celery_worker_reaches_members_and_no_one_else(people, celery_worker):
    account = people.account
    headers = {name: headers_for(user) for name, user in people.by_role.items()}

    async def scenario():
        async with Sockets() as sockets:
            members = [await sockets.open(headers[name], name) for name in ("owner", "operator", "reader")]
            stranger = await sockets.open(headers["stranger"], "stranger")

            await announce(account, "Maintenance tonight", "The portal restarts at 22:00.", "warning")
            received = [await member.next() for member in members]

            await tell_only(people.stranger, "Only for sam")
            first = await stranger.next()
            assert first["notification"]["title"] == "Only for sam", f"the stranger heard {first}"
            # The pong is the next thing it hears: nothing more was queued for it (no timed silence to wait out).
            await stranger.ping()
            return received

    received = run(scenario)
    for push in received:
        assert push["type"] == "notification"
        assert push["event"] == "created"
        assert push["notification"]["account_id"] == str(account.pk)
        assert push["notification"]["title"] == "Maintenance tonight"
        assert push["notification"]["message"] == "The portal restarts at 22:00."
        assert push["notification"]["level"] == "warning"
    assert len({push["notification"]["id"] for push in received}) == 1
    # The row the push describes was written by the worker process, and the worker ran the task.
    notification = Notification.objects.get(pk=received[0]["notification"]["id"])
    assert notification.account_id == account.pk
    assert notification.recipient_id is None
    wait_until(
        lambda: "automation.announce_to_account" in celery_worker.output(),
        "the worker to log automation.announce_to_account",
        timeout=30,
        context=lambda: celery_worker.output()[-3000:],
    )


def test_a_notification_for_one_recipient_reaches_only_that_user(people):
    account = people.account
    headers = {name: headers_for(user) for name, user in people.by_role.items()}
    second_tab = headers_for(people.operator)

    async def scenario():
        async with Sockets() as sockets:
            operator_tabs = [
                await sockets.open(headers["operator"], "operator"),
                await sockets.open(second_tab, "operator, second tab"),
            ]
            others = [await sockets.open(headers[name], name) for name in ("owner", "reader", "stranger")]

            # Scoped to the account, but addressed to Oscar: the other members must not hear it.
            await in_thread(create_notification)(account=account, recipient=people.operator, title="Your job finished")
            for tab in operator_tabs:
                push = await tab.next()
                assert push["notification"]["title"] == "Your job finished"
                assert push["notification"]["account_id"] == str(account.pk)

            await in_thread(create_notification)(account=account, title="For every member")
            await tell_only(people.stranger, "For sam")
            owner, reader, stranger = others
            for member in (owner, reader):
                first = await member.next()
                assert first["notification"]["title"] == "For every member", f"{member.name} heard {first}"
            first = await stranger.next()
            assert first["notification"]["title"] == "For sam", f"the stranger heard {first}"
            for tab in operator_tabs:
                assert (await tab.next())["notification"]["title"] == "For every member"
            for socket in [*operator_tabs, *others]:
                await socket.ping()  # the pong comes next: it heard nothing more

    run(scenario)


def test_a_removed_member_stops_hearing_the_account_on_an_open_socket(people, celery_worker):
    account = people.account
    owner_headers, reader_headers = headers_for(people.owner), headers_for(people.reader)
    membership = Membership.objects.get(account=account, user=people.reader)

    async def scenario():
        async with Sockets() as sockets:
            owner = await sockets.open(owner_headers, "owner")
            reader = await sockets.open(reader_headers, "reader")

            await announce(account, "Before the removal")
            assert (await reader.next())["notification"]["title"] == "Before the removal"
            assert (await owner.next())["notification"]["title"] == "Before the removal"

            await in_thread(remove_member)(account=account, membership_id=membership.pk, actor=Actor.for_system())
            told = await reader.next()
            assert told == {"type": "membership", "account_id": str(account.pk), "joined": False}

            await announce(account, "After the removal")
            assert (await owner.next())["notification"]["title"] == "After the removal"

            # Same socket, still open: it hears its own user's pushes, and nothing of the account.
            await tell_only(people.reader, "Just for rita")
            first = await reader.next()
            assert first["notification"]["title"] == "Just for rita", f"the removed member heard {first}"
            await reader.ping()  # the pong comes next: nothing of the account was queued behind the marker

    run(scenario)
    assert not Membership.objects.filter(account=account, user=people.reader).exists()


def test_an_added_member_starts_hearing_the_account_without_reconnecting(people, celery_worker):
    account = people.account
    owner_headers, newcomer_headers = headers_for(people.owner), headers_for(people.stranger)

    async def scenario():
        async with Sockets() as sockets:
            owner = await sockets.open(owner_headers, "owner")
            newcomer = await sockets.open(newcomer_headers, "newcomer")

            await announce(account, "Before sam joined")
            assert (await owner.next())["notification"]["title"] == "Before sam joined"
            await tell_only(people.stranger, "Marker")
            assert (await newcomer.next())["notification"]["title"] == "Marker"

            await in_thread(add_member)(
                account=account, username=people.stranger.username, role=Role.READER, actor=Actor.for_system()
            )
            told = await newcomer.next()
            assert told == {"type": "membership", "account_id": str(account.pk), "joined": True}

            await announce(account, "Welcome aboard")
            push = await newcomer.next()
            assert push["notification"]["title"] == "Welcome aboard"
            assert push["notification"]["account_id"] == str(account.pk)
            assert (await owner.next())["notification"]["title"] == "Welcome aboard"

    run(scenario)


def test_an_idle_socket_stays_open_past_the_channel_layers_blocking_reads(people):
    """channels-redis waits on Redis with blocking reads of several seconds; a client library that
    times them out (redis-py 8) drops every idle socket. An idle tab must still hear the next push."""

    headers = headers_for(people.owner)

    async def scenario():
        async with Sockets() as sockets:
            owner = await sockets.open(headers, "owner")
            await owner.nothing_pending(timeout=12)
            await in_thread(create_notification)(account=people.account, title="Still here?")
            message = await owner.next()
            assert message["notification"]["title"] == "Still here?"

    run(scenario)
