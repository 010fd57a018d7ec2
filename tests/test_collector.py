"""The cycle collector around a streaming reply: no full pass while it streams or ends, one (then a freeze) once idle."""

from __future__ import annotations

import gc

from appdriver import connected, is_streaming, make_app, send, wait_for

from zorac_tui.ui import collector


def test_a_hold_stops_only_the_full_pass_until_the_full_pass_itself() -> None:
    young, middle, full = gc.get_threshold()
    try:
        collector.hold()
        assert gc.get_threshold() == (young, middle, collector.NEVER)
        collector.full_pass()
        assert gc.get_threshold() == (young, middle, full) and gc.get_freeze_count() > 0
        collector.hold()
    finally:
        collector.thaw()
    assert gc.get_threshold() == (young, middle, full) and gc.get_freeze_count() == 0


async def test_a_reply_streams_without_full_passes_and_one_runs_when_idle(sim_factory) -> None:
    sim = sim_factory(rate=400, answer_tokens=600)  # ~1.5 s of streaming
    full_passes: list[bool] = []  # one entry per full pass: whether a reply streamed then

    def watch(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            full_passes.append(streaming())

    app = make_app(sim)

    def streaming() -> bool:
        return is_streaming(app)

    gc.callbacks.append(watch)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await connected(pilot)
            send(pilot, "a long answer please")
            await wait_for(pilot, streaming, what="the reply to stream")
            assert gc.get_threshold()[2] == collector.NEVER
            full_passes.clear()
            await wait_for(pilot, lambda: not streaming(), timeout=20, what="the reply to end")
            assert not full_passes and gc.get_threshold()[2] == collector.NEVER  # held while it is drawn, too
            await wait_for(pilot, lambda: full_passes, timeout=collector.FULL_PASS_AFTER + 10,
                           what="the held full pass once idle")
            assert not any(full_passes)  # none while the reply streamed
            assert gc.get_freeze_count() > 0 and gc.get_threshold()[2] != collector.NEVER
        assert gc.get_freeze_count() == 0  # the app ended: nothing stays frozen
    finally:
        gc.callbacks.remove(watch)
