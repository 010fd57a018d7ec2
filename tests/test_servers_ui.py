"""Several servers and GPUs in the app: switching server and model, who answered each reply, and GPU figures from
a GPU box's exporter (one line per GPU, totals, the memory budget) — real app, simulator and demo GPU box over HTTP."""

from __future__ import annotations

import pytest
from appdriver import (
    SIZE,
    ask,
    chat_requests,
    connected,
    fast_config,
    footer_text,
    header_text,
    main_screen,
    make_app,
    notices,
    panel_text,
    running_simulator,
    wait_for,
)

from zorac_tui.demo.exporter import GpuBoxThread
from zorac_tui.profiles import ServerProfile
from zorac_tui.ui import switching
from zorac_tui.ui.gpu_panel import GpuPanel
from zorac_tui.ui.memory_panel import MemoryPanel


async def test_switching_server_keeps_the_conversation_and_records_who_answered() -> None:
    with running_simulator(fast_config(reply_text="from A", model="org/model-a", max_model_len=8192)) as a, \
            running_simulator(fast_config(reply_text="from B", model="org/model-b", max_model_len=4096)) as b:
        profiles = (ServerProfile("alpha", a.base_url), ServerProfile("beta", b.base_url))
        app = make_app(a, servers=profiles, server="alpha", model="org/model-a")
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            first = await ask(pilot, "hello A")
            assert first.content == "from A" and first.server == "alpha" and first.model == "org/model-a"
            assert "model-a @ alpha" in footer_text(app, first)
            switching.switch_server(main_screen(app), "beta")
            await wait_for(pilot, lambda: (c := main_screen(app).server.connection) is not None
                           and c.model == "org/model-b", what="the switch to beta")
            await wait_for(pilot, lambda: main_screen(app).budget.budget is not None
                           and main_screen(app).budget.budget.window == 4096, what="the gauge on beta's window")
            assert "beta" in header_text(app)
            second = await ask(pilot, "hello B")
            assert second.content == "from B" and second.server == "beta"
            sent = chat_requests(b)[-1]["messages"]
            assert [m["content"] for m in sent if m["role"] != "system"] == ["hello A", "from A", "hello B"]
            assert any("Switching to server beta" in n for n in notices(app))


async def test_another_model_of_the_server_is_used_once_picked(sim_factory) -> None:
    sim = sim_factory(model="org/main", extra_models=["org/other"], reply_text="ok")
    app = make_app(sim, model="org/main")
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await switching.use_model(main_screen(app), "org/other")
        await wait_for(pilot, lambda: main_screen(app).server.connection.model == "org/other", what="the model")
        reply = await ask(pilot, "hi")
        assert chat_requests(sim)[-1]["model"] == "org/other" and reply.model == "org/other"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_gpu_box_over_the_network_shows_every_gpu_and_their_total(sim_factory, size) -> None:
    box = GpuBoxThread(8)
    url = box.start()
    try:
        sim = sim_factory(reply_text="ok")
        app = make_app(sim, gpu_metrics_url=url, telemetry_interval=0.2)
        async with app.run_test(size=size) as pilot:
            await connected(pilot)
            gpu = await wait_for(pilot, lambda: (t := panel_text(app, GpuPanel)) and "Σ 8" in t and t,
                                 what="eight GPUs from the exporter")
            assert "dcgm-exporter on gpubox" in " ".join(gpu.split())  # two lines on the 80-column sidebar
            lines = gpu.splitlines()
            for index in range(8):
                assert any(line.strip().startswith(f"{index} ") for line in lines)
            width = main_screen(app).query_one(GpuPanel).content_size.width
            assert all(len(line.rstrip()) <= width for line in lines), "a GPU line wraps"
            memory = await wait_for(pilot, lambda: (t := panel_text(app, MemoryPanel)) and "8 GPUs" in t and t,
                                    what="the fleet's memory budget")
            assert "(spec)" in memory or "bandwidth" in memory
    finally:
        box.stop()


async def test_a_dead_gpu_exporter_is_one_line_and_chatting_works(sim_factory) -> None:
    box = GpuBoxThread(2)
    url = box.start()
    box.stop()  # nothing listens there any more
    sim = sim_factory(reply_text="still here")
    app = make_app(sim, gpu_metrics_url=url, telemetry_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await wait_for(pilot, lambda: "refused" in panel_text(app, GpuPanel) or "did not answer"
                       in panel_text(app, GpuPanel), what="the dead exporter said in the GPU panel")
        reply = await ask(pilot, "still works?")
        assert reply.content == "still here"
