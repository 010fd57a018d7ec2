"""Pure logic: conversation payload, throughput meter, prompt history, settings layers."""

from __future__ import annotations

import os
import stat

import pytest

from zorac_tui import config
from zorac_tui.core.conversation import Conversation, Message, ReplyStats, Status
from zorac_tui.core.throughput import ThroughputMeter
from zorac_tui.ui.prompt import PromptHistory


def test_payload_uses_chat_format_and_merges_roles():
    conv = Conversation()
    conv.add(Message("user", "first"))
    conv.add(Message("assistant", "", status=Status.ERROR, error="boom"))
    conv.add(Message("user", "second"))
    conv.add(Message("assistant", "partial", status=Status.CANCELLED))
    conv.add(Message("notice", "not sent"))
    payload = conv.payload("Be brief.")
    assert payload == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first\n\nsecond"},
        {"role": "assistant", "content": "partial"},
    ]


def test_payload_puts_summary_in_system_message():
    conv = Conversation()
    conv.add(Message("summary", "We chose AWQ."))
    conv.add(Message("user", "and then?"))
    payload = conv.payload("")
    assert payload[0] == {"role": "system", "content": "Summary of the earlier conversation:\nWe chose AWQ."}
    assert payload[1]["role"] == "user"


def test_meter_excludes_ttft_from_decode_rate():
    meter = ThroughputMeter(started_at=100.0)
    # first token after 0.5 s, then 60 tokens/s with server counts
    for i in range(121):
        meter.add(100.5 + i / 60, server_count=i + 1)
    r = meter.reading()
    assert r.ttft_s == pytest.approx(0.5)
    assert r.average_tok_s == pytest.approx(60.0)
    assert r.live_tok_s == pytest.approx(60.0)
    assert r.tokens == 121 and not r.estimated


def test_meter_estimates_without_server_counts_and_goes_quiet():
    meter = ThroughputMeter(started_at=0.0)
    for i in range(31):
        meter.add(1.0 + i / 30, None)
    r = meter.reading(now=2.0)
    assert r.estimated and r.tokens == 31
    assert r.average_tok_s == pytest.approx(30.0)
    assert meter.live_tok_s(now=5.0) == 0.0
    meter.correct_total(35)
    assert not meter.reading().estimated


def test_stats_line_marks_estimates():
    assert ReplyStats(412, 30, 61.84, 0.31).line() == "412 tokens · 61.8 tok/s · TTFT 310 ms · prompt 30"
    assert ReplyStats(10, None, 5.0, 1.5, estimated=True).line().startswith("≈10 tokens · ≈5.0 tok/s · TTFT 1.50 s")


def test_prompt_history_recall():
    h = PromptHistory()
    h.push("one")
    h.push("two")
    assert h.older("draft") == "two"
    assert h.older("two") == "one"
    assert h.older("one") is None
    assert h.newer() == "two"
    assert h.newer() == "draft"
    assert h.newer() is None


def test_settings_layers(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('model = "from-file"\ntemperature = 0.5\nmax_tokens = 100\n')
    env = {"ZORAC_MODEL": "from-env", "ZORAC_AUTO_SUMMARIZE": "off"}
    s = config.load({"max_tokens": 7, "model": None}, config_path=cfg, environ=env)
    assert (s.model, s.temperature, s.max_tokens, s.auto_summarize) == ("from-env", 0.5, 7, False)
    assert config.load({}, config_path=tmp_path / "missing.toml", environ={}).model == config.DEFAULT_MODEL


def test_corrupt_config_names_file_and_line(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('model = "x"\ntemperature = = 3\n')
    with pytest.raises(config.ConfigError) as err:
        config.load({}, config_path=cfg, environ={})
    assert str(cfg) in str(err.value) and "line 2" in str(err.value)


def test_bad_env_value_is_named():
    with pytest.raises(config.ConfigError, match="ZORAC_MAX_TOKENS"):
        config.read_env({"ZORAC_MAX_TOKENS": "lots"})


def test_saved_config_is_private(tmp_path):
    cfg = tmp_path / "sub" / "config.toml"
    config.save_value("api_key", "sk-secret-123456", config_path=cfg)
    config.save_value("theme", "nord", config_path=cfg)
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    loaded = config.read_file(cfg)
    assert loaded == {"api_key": "sk-secret-123456", "theme": "nord"}


def test_displayable_strips_terminal_control():
    from zorac_tui.core.text import displayable

    raw = "a\x1b[31mred\x1b[0m b\x00c\r\nd \x1b]0;title\x07e \x9bx \x07bell\ttab [bold]x[/bold]"
    out = displayable(raw)
    assert "\x1b" not in out and "\x00" not in out and "\x07" not in out and "\x9b" not in out
    assert out == "ared b\ufffdc\nd e \ufffdx \ufffdbell\ttab [bold]x[/bold]"
    assert displayable("plain\nand ✓ unicode") == "plain\nand ✓ unicode"


def test_stream_sanitizer_drops_sequences_split_across_pieces():
    import random

    from zorac_tui.core.text import StreamSanitizer, displayable

    raw = "a\x1b[31mred\x1b[0m b\x00c\r\nd \x1b]0;title\x07e \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ end\x1b["
    for seed in range(50):
        rng, sanitizer, out, i = random.Random(seed), StreamSanitizer(), [], 0
        while i < len(raw):
            n = rng.randint(1, 4)
            out.append(sanitizer.feed(raw[i:i + n]))
            i += n
        out.append(sanitizer.flush())
        assert "".join(out) == displayable(raw), seed
    sanitizer = StreamSanitizer()
    assert sanitizer.feed("x\x1b" + "]" + "y" * 300) != ""  # an endless OSC is not held back forever


def test_config_file_with_key_is_made_private(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('api_key = "sk-123456789"\n')
    os.chmod(cfg, 0o644)
    assert config.read_file(cfg)["api_key"] == "sk-123456789"
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600


def test_startup_objects_are_frozen_once_per_process(monkeypatch):
    import gc

    from zorac_tui.ui import app as app_module

    monkeypatch.setattr(app_module, "_startup_frozen", False)
    before = gc.get_freeze_count()
    app_module.freeze_startup_objects()
    frozen = gc.get_freeze_count()
    assert frozen > before
    junk = [object() for _ in range(10)] + [[] for _ in range(1000)]  # tracked containers made afterwards
    app_module.freeze_startup_objects()
    assert gc.get_freeze_count() == frozen and junk  # the second call freezes nothing new
    gc.unfreeze()
