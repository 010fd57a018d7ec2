"""The header line fits any width: the DEMO badge and the server state never fall off the edge."""

from __future__ import annotations

from appdriver import SIZE, connected, header_text, make_app, wait_for

from zorac_tui.ui.header import BADGE, header_line

MODEL = "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ"
DETAIL = "vllm 0.32.0 · http://127.0.0.1:8000/v1"


def line(width: int, **kw) -> str:
    """The header's plain text at `width`."""
    args = {"model": MODEL, "state": "connected", "detail": DETAIL, "demo": True, **kw}
    return header_line(width, **args).plain


def test_everything_shows_when_wide():
    text = line(200)
    assert text == f" zorac-tui  {BADGE}  {MODEL}  ● connected · {DETAIL}"


def test_narrowing_drops_the_detail_part_by_part_then_shortens_badge_and_model():
    assert line(130).endswith("● connected · vllm 0.32.0")  # the URL does not fit whole: left out, not cut
    assert "DEMO · simulated" not in line(100) and " DEMO " in line(100) and MODEL in line(100)
    assert line(80).endswith("● connected") and MODEL in line(80)
    narrow = line(60)
    assert "stelterlab/" not in narrow and narrow.startswith(" zorac-tui   DEMO   Mistral-Small")
    assert "…" in narrow and narrow.endswith("● connected")


def test_never_wider_than_the_terminal_and_state_always_last_whole():
    for width in range(50, 220):
        for state in ("connected", "unreachable", "streaming", "connecting"):
            for demo in (True, False):
                text = line(width, state=state, demo=demo)
                assert len(text) <= width, (width, text)
                assert f"● {state}" in text, (width, text)
                assert ("DEMO" in text) is demo


def test_unreachable_url_is_cut_visibly_rather_than_dropped_when_it_is_all_there_is():
    url = "http://gpu-box.lan:8000/v1"
    assert line(110, state="unreachable", detail=url, demo=False).endswith(f"{MODEL}  ● unreachable · {url}")
    text = line(90, state="unreachable", detail=url, demo=False)  # the org goes first, then the URL is cut
    assert text.startswith(" zorac-tui   Mistral-Small") and "● unreachable · http://gpu-box" in text
    assert text.endswith("…") and len(text) == 90


async def test_the_app_header_shows_the_state_at_80_columns_with_a_long_model_name(sim_factory):
    sim = sim_factory(model=MODEL)
    app = make_app(sim.base_url, model=MODEL)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await wait_for(pilot, lambda: "● connected" in header_text(app), what="state in the header")
        text = header_text(app)
        assert MODEL in text and len(text) <= 80
        await pilot.resize_terminal(*SIZE)
        await wait_for(pilot, lambda: "vllm 0.32.0" in header_text(app), what="detail once there is room")
        await pilot.resize_terminal(60, 24)
        await wait_for(pilot, lambda: "stelterlab/" not in header_text(app), what="refit when narrower")
        assert "● connected" in header_text(app)
