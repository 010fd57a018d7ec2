"""`zorac-tui bench` against the simulator over real HTTP on 127.0.0.1: the figures' math, concurrency, JSON, exits, app.

The figures come from the app's ThroughputMeter; their math is checked with injected event times
(exact), and against the simulator only at low rates with tolerances a loaded 2-core machine meets:
how fast this machine is belongs in benchmarks/, not in a test. The only stand-in is FakePynvml (hardware).
"""

from __future__ import annotations

import json
import socket
import stat

import pytest
from appdriver import SIZE, connected, fast_config, make_app, quiet_gc, running_simulator, wait_for
from fakes.fake_pynvml import FakePynvml

from zorac_tui import cli
from zorac_tui.bench import history, report
from zorac_tui.bench.gpu import REMOTE_NOTE, make_watch
from zorac_tui.bench.runner import BenchConfig, BenchError, run_bench, stream_result
from zorac_tui.demo.simulator import Faults, SimConfig
from zorac_tui.server.events import Delta, Failed, FailureKind, Finished, Recast, Usage
from zorac_tui.ui.bench_screen import BenchScreen

TOLERANCE = 0.25  # timing against a live simulator on a loaded machine: the math is checked exactly below


def sim_config(rate: float, ttft: float, **overrides) -> SimConfig:
    """A simulator whose replies always run to max_tokens (like vLLM with ignore_eos)."""
    return SimConfig(rate=rate, ttft=ttft, answer_tokens=5000, **overrides)


def within(measured: float | None, configured: float, tolerance: float = TOLERANCE) -> bool:
    return measured is not None and abs(measured - configured) <= tolerance * configured


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """`zorac-tui <args>` in-process: (exit code, stdout, stderr)."""
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    """The single stderr line of a failed bench."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("zorac-tui bench: "), err
    return lines[0]


# ------------------------------------------------------------------------------------------ accuracy
async def events(*items):
    """The given events as a stream (their times injected)."""
    for item in items:
        yield item


async def test_the_figures_follow_the_meters_definitions_with_injected_times():
    sent, rate = 100.0, 50.0
    thinking = [Delta("t", 100.4 + i / rate, i + 1, 200, thinking=True) for i in range(20)]
    answer = [Delta("a", 100.4 + i / rate, i + 1, 200) for i in range(21, 51)]  # token 21: `</think>`, no text
    end = Finished("stop", Usage(200, 52, 252), 101.5)  # + the end-of-sequence token
    r = await stream_result(events(*thinking, *answer, end), sent, max_tokens=60)
    assert r.ttft_s == pytest.approx(0.4)  # the first token of any kind
    assert r.ttfa_s == pytest.approx(0.4 + 21 / rate) and r.thinking_s == pytest.approx(21 / rate)
    assert r.decode_tok_s == pytest.approx(rate)  # every generated token, TTFT excluded
    assert (r.completion_tokens, r.thinking_tokens, r.answer_tokens) == (52, 20, 32)
    assert r.counts == "server" and r.e2e_s == pytest.approx(1.5) and r.prompt_tokens == 200


async def test_without_counts_each_chunk_is_a_token_and_a_recast_moves_the_answer_to_thinking():
    early = [Delta("x", 1.0 + i / 30, None) for i in range(9)]
    rest = [Delta("y", 1.0 + 9 / 30, None, thinking=True)] + [Delta("z", 1.0 + i / 30, None) for i in range(10, 30)]
    r = await stream_result(events(*early, Recast(1.3), *rest, Finished("stop", None, 2.0)), 0.5, max_tokens=40)
    assert r.counts == "estimated" and r.completion_tokens == 30 and r.decode_tok_s == pytest.approx(30.0)
    assert (r.thinking_tokens, r.answer_tokens) == (10, 20)
    assert r.ttft_s == pytest.approx(0.5) and r.thinking_s == pytest.approx(10 / 30)


async def test_a_failed_stream_is_a_bench_error():
    fail = Failed(FailureKind.DROPPED, "The connection to the server was lost", 1.0)
    with pytest.raises(BenchError) as info:
        await stream_result(events(Delta("a", 0.9, 1), fail), 0.5, max_tokens=10)
    assert info.value.code == 1 and "connection" in info.value.message


async def test_measured_figures_follow_a_thinking_simulator():
    rate, ttft, max_tokens = 40.0, 0.2, 24
    seen = []
    with running_simulator(sim_config(rate, ttft, thinking_tokens=10)) as sim:
        result = await run_bench(BenchConfig(sim.base_url, runs=2, prompt_tokens=120, max_tokens=max_tokens,
                                             concurrency=(1,), gpu=False), seen.append)
    streams = result.levels[0].streams
    assert len(streams) == 2
    for s in streams:  # counts from the server: 10 thinking, `</think>` + blank line + answer up to max_tokens
        assert (s.completion_tokens, s.thinking_tokens, s.answer_tokens) == (max_tokens, 10, 14)
        assert s.prompt_tokens == 120 and s.counts == "server" and s.finish_reason == "length"
        assert s.ttft_s >= ttft  # the client cannot see a token before the server sends it
        assert s.ttfa_s - s.ttft_s == pytest.approx(s.thinking_s)  # thinking came first
        assert within(s.thinking_s, 12 / rate)  # the answer's first text is token 13
        assert within(s.decode_tok_s, rate)
    assert result.prompt.exact and result.prompt.tokens == 120 and result.token_counts == "server"
    phases = [p.phase for p in seen]
    assert phases[0] == "probe" and phases[-1] == "done" and "warmup" in phases and "measure" in phases
    assert seen[-1].completed == seen[-1].total > 0 and seen[-1].requests_done == seen[-1].requests_total == 3
    doc = report.to_json(result)
    assert doc["levels"][0]["summary"]["thinking_tokens"]["median"] == 10
    assert doc["definitions"]["ttft_s"].startswith("request sent -> first token of any kind")
    labels = [row[1] for row in report.summary_rows(result)]
    assert labels[:3] == ["TTFT (s)", "time to first answer (s)", "thinking (s)"]
    assert "tokens thinking / answer (median)" in labels
    assert any("first token of any kind" in line for line in report.definition_lines(result))


async def test_concurrent_streams_aggregate():
    rate, ttft, max_tokens = 100.0, 0.15, 30
    with running_simulator(sim_config(rate, ttft)) as sim, quiet_gc():
        result = await run_bench(BenchConfig(sim.base_url, runs=2, prompt_tokens=100, max_tokens=max_tokens,
                                             concurrency=(1, 2, 4), gpu=False))
    assert [lv.concurrency for lv in result.levels] == [1, 2, 4]
    single = result.levels[0].summary()["aggregate_tok_s"].median
    # One stream: its tokens over ttft + (n - 1) / rate.
    assert within(single, max_tokens / (ttft + (max_tokens - 1) / rate))
    for level in result.levels:
        for run in level.runs:
            assert len(run.streams) == level.concurrency
            assert run.completion_tokens == level.concurrency * max_tokens
            assert run.aggregate_tok_s == pytest.approx(run.completion_tokens / run.wall_s)
            assert run.wall_s >= max(s.e2e_s for s in run.streams) - 1e-6
        summary = level.summary()
        # The simulator serves streams independently: each keeps its own rate, so the batch adds up.
        assert within(summary["decode_tok_s"].median, rate), (level.concurrency, summary["decode_tok_s"])
        assert within(summary["aggregate_tok_s"].median, level.concurrency * single), level.concurrency


async def test_a_server_without_counts_or_tokenize_is_labelled_estimated():
    config = sim_config(100.0, 0.15, profile="llamacpp")  # no /tokenize, no usage in streams
    with running_simulator(config) as sim:
        result = await run_bench(BenchConfig(sim.base_url, runs=1, prompt_tokens=120, max_tokens=60,
                                             concurrency=(1,), gpu=False))
    assert not result.prompt.exact and result.prompt.source.startswith("≈ estimated with ")
    assert result.token_counts == "estimated"
    stream = result.levels[0].streams[0]
    assert stream.counts == "estimated" and stream.prompt_tokens is None
    assert within(stream.decode_tok_s, 100.0)  # one chunk per token in the simulator: still right
    doc = report.to_json(result)
    assert doc["token_counts"] == "estimated" and doc["prompt"]["exact"] is False
    assert any("no token counts" in n for n in doc["notes"]) and any("estimate" in n for n in doc["notes"])
    assert report.summary_rows(result)[1][2].startswith("≈")  # decode shown as an estimate


async def test_usage_from_the_final_chunk_only():
    with running_simulator(sim_config(100.0, 0.15, faults=Faults(no_usage=True))) as sim:
        result = await run_bench(BenchConfig(sim.base_url, runs=1, prompt_tokens=80, max_tokens=50,
                                             concurrency=(1,), gpu=False, warmup=False))
    assert result.token_counts == "estimated"
    assert within(result.levels[0].streams[0].decode_tok_s, 100.0)


# ------------------------------------------------------------------------------------------ JSON + CLI
EXPECTED_KEYS = {
    "schema", "zorac_tui_version", "date", "duration_s", "simulated",
    "server", "server.base_url", "server.flavor", "server.version", "server.model", "server.max_model_len",
    "settings", "settings.runs", "settings.prompt_tokens", "settings.max_tokens", "settings.concurrency",
    "settings.warmup", "settings.ignore_eos",
    "prompt", "prompt.requested_tokens", "prompt.tokens", "prompt.exact", "prompt.source",
    "token_counts",
    "definitions", *(f"definitions.{k}" for k in ("ttft_s", "ttfa_s", "thinking_s", "decode_tok_s")),
    "levels", "levels[].concurrency", "levels[].summary",
    *(f"levels[].summary.{k}{s}" for k in ("ttft_s", "ttfa_s", "thinking_s", "decode_tok_s", "e2e_s",
                                          "aggregate_tok_s", "prompt_tokens", "completion_tokens",
                                          "thinking_tokens", "answer_tokens") for s in ("", ".median", ".min", ".max")),
    "levels[].runs", "levels[].runs[].run", "levels[].runs[].wall_s", "levels[].runs[].aggregate_tok_s",
    "levels[].runs[].completion_tokens", "levels[].runs[].streams",
    *(f"levels[].runs[].streams[].{k}" for k in ("ttft_s", "ttfa_s", "thinking_s", "decode_tok_s", "e2e_s",
                                                 "prompt_tokens", "completion_tokens", "thinking_tokens",
                                                 "answer_tokens", "finish_reason", "counts")),
    "gpu", *(f"gpu.{k}" for k in ("available", "simulated", "note", "name", "peak_vram_bytes", "peak_vram_gib",
                                  "vram_total_bytes", "peak_server_vram_bytes", "peak_power_w", "power_limit_w",
                                  "samples")),
    "requirements", *(f"requirements.{k}" for k in ("ttft_s_below", "decode_tok_s_above", "judged_at_concurrency",
                                                    "ttft_s", "decode_tok_s", "ttft_pass", "decode_pass", "pass")),
    "reference", *(f"reference[].{k}" for k in ("setup", "decode_tok_s_low", "decode_tok_s_high", "ttft_s",
                                               "vram_gib")),
    "notes",
}


def key_paths(doc, prefix: str = "") -> set[str]:
    """Every key path in a JSON document (list items as [])."""
    paths: set[str] = set()
    if isinstance(doc, dict):
        for key, value in doc.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= key_paths(value, path)
    elif isinstance(doc, list):
        for item in doc:
            paths |= key_paths(item, prefix + "[]")
    return paths


def test_cli_json_schema_is_stable_and_history_lists_runs(tmp_path, capsys, isolated_home):
    out_file = tmp_path / "bench.json"
    with running_simulator(sim_config(1000.0, 0.05)) as sim:
        args = ["bench", "--base-url", sim.base_url, "--runs", "1", "--concurrency", "1,2",
                "--prompt-tokens", "64", "--max-tokens", "20"]
        code, out, err = run_cli([*args, "--json", str(out_file)], capsys)
        assert code == 0, err
        code2, out2, _ = run_cli([*args[:-2], "--max-tokens", "30", "--json", "-"], capsys)
    assert code2 == 0
    doc = json.loads(out_file.read_text())
    assert doc["schema"] == "zorac-tui-bench/1"
    assert key_paths(doc) == EXPECTED_KEYS
    assert key_paths(json.loads(out2)) == EXPECTED_KEYS  # `--json -`: the document alone on stdout
    assert doc["server"]["version"] == "0.32.0" and doc["server"]["flavor"] == "vllm"
    assert doc["settings"]["concurrency"] == [1, 2] and doc["prompt"]["tokens"] == 64
    assert doc["requirements"]["pass"] is True and doc["simulated"] is False
    assert [r["setup"] for r in doc["reference"]][0].startswith("AWQ + Marlin")
    # The terminal table: reference rows beside the user's figures, and the verdict.
    for text in ("median", "decode tok/s per stream", "aggregate tok/s", "reference: AWQ + Marlin", "60–65",
                 "reference: GGUF (generic kernels)", "PASS", "TTFT < 1 s", "decode > 30 tok/s"):
        assert text in out, text
    # Both results are in the history, in a private directory.
    saved = history.history_file()
    assert saved.parent == isolated_home / "data" / "bench"
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700 and stat.S_IMODE(saved.stat().st_mode) == 0o600
    docs, bad = history.load()
    assert len(docs) == 2 and bad == 0 and [d["settings"]["max_tokens"] for d in docs] == [20, 30]
    code, out, _ = run_cli(["bench", "--history"], capsys)
    assert code == 0
    assert out.count("Mistral-Small") == 2 and "vllm 0.32.0" in out and "2 result(s)" in out
    assert "64/20" in out and "64/30" in out


def test_history_when_empty_and_with_a_broken_line(capsys):
    code, out, _ = run_cli(["bench", "--history"], capsys)
    assert code == 0 and "No saved bench results yet" in out
    history.history_file().parent.mkdir(parents=True)
    history.history_file().write_text("{not json\n")
    code, out, err = run_cli(["bench", "--history"], capsys)
    assert code == 0 and "skipped 1 unreadable line" in err


def test_demo_is_labelled_simulated(capsys):
    code, out, err = run_cli(["bench", "--demo", "--runs", "1", "--concurrency", "1", "--max-tokens", "8",
                              "--prompt-tokens", "40", "--json", "-"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["simulated"] is True and doc["gpu"]["simulated"] is True and doc["gpu"]["available"] is True
    assert doc["gpu"]["name"] == "NVIDIA GeForce RTX 4090" and doc["gpu"]["peak_power_w"] > 0
    assert any(n.startswith("SIMULATED") for n in doc["notes"])


# ------------------------------------------------------------------------------------------ errors
def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_exit_3_when_the_server_is_unreachable(capsys):
    code, out, err = run_cli(["bench", "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--runs", "1"], capsys)
    assert code == 3 and out == ""
    assert "Cannot reach the server" in one_line_error(err)


def test_exit_4_when_the_model_is_not_served(capsys):
    with running_simulator(fast_config()) as sim:
        code, _, err = run_cli(["bench", "--base-url", sim.base_url, "--model", "no/such-model"], capsys)
    assert code == 4
    line = one_line_error(err)
    assert "'no/such-model' is not served" in line and "Mistral-Small" in line


def test_exit_4_when_several_models_and_none_chosen(capsys, monkeypatch):
    monkeypatch.setenv("ZORAC_MODEL", "not/served")
    with running_simulator(fast_config(extra_models=["other/model"])) as sim:
        code, _, err = run_cli(["bench", "--base-url", sim.base_url], capsys)
    assert code == 4 and "--model" in one_line_error(err)


def test_exit_5_when_the_context_is_too_small(capsys):
    with running_simulator(fast_config(max_model_len=1024)) as sim:
        code, _, err = run_cli(["bench", "--base-url", sim.base_url, "--prompt-tokens", "800",
                                "--max-tokens", "500"], capsys)
        assert sim.simulator.requests == []  # checked before any request
    assert code == 5
    line = one_line_error(err)
    assert "Context too small" in line and "1,300" in line and "1,024" in line


@pytest.mark.parametrize("flags", [["--runs", "0"], ["--concurrency", "1,x"], ["--max-tokens", "-3"]])
def test_exit_2_on_bad_flags(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", *flags])
    assert exit_info.value.code == 2
    assert "zorac-tui bench: error: argument" in capsys.readouterr().err


async def test_run_bench_rejects_unmeasurable_settings():
    with pytest.raises(BenchError) as info:
        await run_bench(BenchConfig("http://127.0.0.1:9/v1", max_tokens=1))
    assert info.value.code == 2


def test_remote_server_has_no_gpu_figures():
    watch = make_watch("http://gpu-box.invalid:8000/v1", demo=False)
    peaks = watch.stop()
    assert not peaks.available and peaks.note == REMOTE_NOTE == "remote server: GPU figures not available"


# ------------------------------------------------------------------------------------------ the app
async def test_bench_screen_from_the_app_shows_the_table():
    with running_simulator(fast_config(answer_tokens=5000)) as sim:
        app = make_app(sim, nvml=FakePynvml())
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "Benchmark the server" in titles
            await app.run_action("bench")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, BenchScreen)
            assert screen.config.runs == 3 and screen.config.concurrency == (1, 2)
            await wait_for(pilot, lambda: screen.result is not None or screen.error, timeout=20, what="bench result")
            assert screen.error is None
            await pilot.pause()
            table = screen.query_one("#bench-table")
            assert table.display and table.row_count == 10  # 5 rows per concurrency level
            cells = [str(c) for row in range(table.row_count) for c in table.get_row_at(row)]
            assert "TTFT (s)" in cells and "decode tok/s per stream" in cells
            reference = screen.query_one("#bench-reference")
            setups = [str(reference.get_row_at(i)[0]) for i in range(reference.row_count)]
            assert setups[0].startswith("yours") and "reference: AWQ + Marlin (RTX 4090, Mistral-Small-24B)" in setups
            verdict = str(screen.query_one("#bench-verdict").render())
            assert "PASS" in verdict and "TTFT < 1 s" in verdict
            assert screen.result.gpu.available  # local server: NVML (the fake card) sampled
            assert len(history.load()[0]) == 1
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, BenchScreen)


async def test_bench_screen_shows_an_error_in_one_line():
    with running_simulator(fast_config(max_model_len=300)) as sim:
        app = make_app(sim, nvml=FakePynvml())
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await app.run_action("bench")
            screen = app.screen
            await wait_for(pilot, lambda: screen.error, timeout=10, what="bench error")
            assert screen.error.startswith("Context too small") and "\n" not in screen.error
            assert not screen.query_one("#bench-table").display
