"""Public entry points under anyio (trio backend), with anyio task groups and cancel scopes."""

from __future__ import annotations

from pathlib import Path

import anyio

from trio_locksync import open_store

from .storehelpers import read_json


def test_store_under_anyio_task_group_and_cancel_scope(tmp_path: Path) -> None:
    path = tmp_path / "anyio.json"
    saved: list[int] = []

    async def writer(store: object, n: int) -> None:
        await store.save({"n": n})  # type: ignore[attr-defined]
        saved.append(n)

    async def main() -> None:
        async with open_store(path) as store:
            async with anyio.create_task_group() as tg:
                for n in range(3):
                    tg.start_soon(writer, store, n)
            assert sorted(saved) == [0, 1, 2]
            with anyio.move_on_after(0.05) as scope:
                store.delay_save(lambda: {"delayed": True}, 30)
                await anyio.sleep_forever()
            assert scope.cancelled_caught
        # leaving the block flushed the 30 s delayed save
        assert read_json(path) == {"delayed": True}

        with anyio.CancelScope() as outer:
            async with open_store(path) as store:
                store.delay_save(lambda: {"cancelled": "flushed"}, 30)
                outer.cancel()
                await anyio.sleep_forever()
        assert read_json(path) == {"cancelled": "flushed"}

    anyio.run(main, backend="trio")


def test_autolock_under_anyio(tmp_path: Path) -> None:
    from trio_locksync import TimerState, open_autolock

    path = tmp_path / "timers.json"
    fired: list[str] = []

    async def action(timer_id: str) -> None:
        fired.append(timer_id)

    async def main() -> None:
        async with open_autolock(path, action=action) as service:
            await service.recover()
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.timer("a").start, 0.05)
                tg.start_soon(service.timer("b").start, 3600)
            timer = service.timer("a")
            changes = timer.changes()  # made in the same step as the check below: no lost change
            latest = service.timer("b").values()
            seen: list[TimerState] = []
            with anyio.fail_after(5):
                if timer.state is not TimerState.DONE:
                    async for state in changes:
                        seen.append(state)
                        if state is TimerState.DONE:
                            break
            assert seen in ([], [TimerState.FIRING, TimerState.DONE])
            with anyio.move_on_after(0.01):
                await service.timer("b").cancel()
            with anyio.fail_after(5):
                assert await anext(latest) is TimerState.DONE
        assert fired == ["a"]

    anyio.run(main, backend="trio")


def test_event_stream_under_anyio_task_group_and_cancel_scope() -> None:
    """A real trio-websocket server and the stream, driven by anyio task groups/cancel scopes."""
    from trio_locksync import (
        Backoff,
        EventStreamStatus,
        Jitter,
        open_isy_event_stream,
    )

    from .wshelpers import isy_frame, isy_replay, open_isy_server

    async def main() -> None:
        async with open_isy_server(replay=isy_replay(20)) as server:
            base = f"http://127.0.0.1:{server.port}"
            options = {
                "quiet": 0.1,
                "backoff": Backoff(initial=0.05, maximum=0.1, jitter=Jitter.NONE),
            }
            async with open_isy_event_stream(base, **options) as stream:
                seen: list[bool] = []

                async def consume() -> None:
                    async for event in stream:
                        seen.append(event.replayed)
                        if len(seen) == 21:
                            return

                async with anyio.create_task_group() as tg:
                    tg.start_soon(consume)
                    await stream.wait_status(EventStreamStatus.CONNECTED)
                    await server.broadcast(isy_frame(99))
                assert seen == [True] * 20 + [False]

            assert stream.status is EventStreamStatus.DISCONNECTED

            # an anyio cancel scope around the block: everything inside is torn down
            with anyio.move_on_after(0.3) as scope:
                async with open_isy_event_stream(base, **options) as stream:
                    await anyio.sleep_forever()
            assert scope.cancelled_caught
            assert stream.status is EventStreamStatus.DISCONNECTED
            assert stream.statistics().connections == 1

    anyio.run(main, backend="trio")
