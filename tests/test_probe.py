"""probe / choose_model / tokenize_messages / fetch_metrics_text against replayed vLLM and llama.cpp."""

from __future__ import annotations

import socket

from replay import ReplayServer, Reply, fixture_bytes, raw_reply

from zorac_tui.server.metrics import parse_metrics
from zorac_tui.server.probe import (
    ModelInfo,
    ServerInfo,
    choose_model,
    fetch_metrics_text,
    probe,
    tokenize_messages,
)

MESSAGES = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hello"}]
KEY = "sk-SECRET-0123456789"


def imitate_vllm(srv: ReplayServer) -> None:
    """Routes answered like vLLM 0.32 did in the captures."""
    srv.set("GET", "/v1/models", raw_reply("vllm", "models.json"))
    srv.set("GET", "/version", raw_reply("vllm", "version.json"))
    srv.set("GET", "/health", Reply(body=b"", status=200))
    srv.set("GET", "/metrics", raw_reply("vllm", "metrics_after.txt", "text/plain; version=0.0.4; charset=utf-8"))
    srv.set("POST", "/tokenize", raw_reply("vllm", "tokenize_messages.raw.json"))


def imitate_llamacpp(srv: ReplayServer) -> None:
    """llama-cpp-python: /v1/models only; the replay server's default is its 404 {"detail":"Not Found"}."""
    srv.set("GET", "/v1/models", raw_reply("llamacpp", "models.json"))


async def test_probe_vllm() -> None:
    async with ReplayServer() as srv:
        imitate_vllm(srv)
        info = await probe(srv.base_url, KEY)
    assert info.reachable and info.error is None
    assert info.base_url == srv.base_url
    assert info.models == [
        ModelInfo(id="smollm2", max_model_len=4096, owned_by="vllm", root="models/smollm2-135m-instruct")
    ]
    assert info.version == "0.32.0"
    assert info.has_health and info.has_metrics and info.has_tokenize
    assert info.flavor == "vllm"
    assert all(r.headers.get("Authorization") == f"Bearer {KEY}" for r in srv.requests)
    tok = next(r for r in srv.requests if r.path == "/tokenize")
    assert tok.method == "POST" and tok.json()["model"] == "smollm2"


async def test_probe_llamacpp() -> None:
    async with ReplayServer() as srv:
        imitate_llamacpp(srv)
        info = await probe(srv.root_url)  # a bare host URL gets /v1
    assert info.reachable and info.error is None
    assert info.base_url == srv.base_url
    assert info.models == [ModelInfo(id="smollm2", max_model_len=None, owned_by="me", root=None)]
    assert info.version is None
    assert not info.has_health and not info.has_metrics and not info.has_tokenize
    assert info.flavor == "llamacpp"
    assert {r.path for r in srv.requests} == {"/v1/models", "/version", "/health", "/metrics", "/tokenize"}
    assert all("Authorization" not in r.headers for r in srv.requests)


async def test_probe_generic_server_405_tokenize() -> None:
    async with ReplayServer() as srv:
        srv.set("GET", "/v1/models", Reply(body=b'{"object":"list","data":[{"id":"a"},{"id":"b"}]}'))
        srv.set("POST", "/tokenize", Reply(body=b'{"detail":"Method Not Allowed"}', status=405))
        srv.set("GET", "/metrics", Reply(body=b"<html>hi</html>", content_type="text/html"))
        info = await probe(srv.base_url + "/")
    assert [m.id for m in info.models] == ["a", "b"]
    assert not info.has_tokenize and not info.has_metrics
    assert info.flavor == "openai-compatible"


def free_port() -> int:
    """A TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_probe_unreachable() -> None:
    base = f"http://127.0.0.1:{free_port()}/v1"
    info = await probe(base, KEY, timeout=1.0)
    assert not info.reachable and info.models == []
    assert info.error is not None and info.error.startswith(f"Cannot reach the server at {base} — is vLLM running?")
    assert "\n" not in info.error and KEY not in info.error


async def test_probe_models_401() -> None:
    async with ReplayServer() as srv:
        srv.set("GET", "/v1/models", Reply(body=b'{"error":"Unauthorized"}', status=401))
        info = await probe(srv.base_url, "wrong")
    assert info.reachable and info.models == []
    assert info.error == "HTTP 401: Unauthorized — check the API key (ZORAC_API_KEY or api_key in the config file)"


async def test_probe_models_not_a_list() -> None:
    async with ReplayServer() as srv:
        srv.set("GET", "/v1/models", Reply(body=b"<html></html>", content_type="text/html"))
        info = await probe(srv.base_url)
    assert info.reachable and info.models == [] and "not a model list" in (info.error or "")


def served(*ids: str) -> ServerInfo:
    """A ServerInfo serving these model ids."""
    return ServerInfo(base_url="http://x/v1", reachable=True, models=[ModelInfo(i) for i in ids])


def test_choose_model() -> None:
    assert choose_model(served("smollm2"), "") == ("smollm2", "auto-detected (only model served)")
    assert choose_model(served("smollm2"), "smollm2") == ("smollm2", "configured")
    model, why = choose_model(served("smollm2"), "mistral-awq")
    assert model == "smollm2" and why.startswith("configured model 'mistral-awq' not served; using smollm2")
    assert choose_model(served("a", "b"), "b") == ("b", "configured")
    model, why = choose_model(served("a", "b"), "c")
    assert model == "c" and "a, b" in why
    model, why = choose_model(ServerInfo(base_url="http://x/v1"), "c")
    assert model == "c" and "did not list" in why


async def test_tokenize_messages_vllm() -> None:
    async with ReplayServer() as srv:
        imitate_vllm(srv)
        count = await tokenize_messages(srv.base_url, MESSAGES, "smollm2", KEY)
    assert count == 19
    (req,) = srv.requests
    assert req.path == "/tokenize"
    assert req.json() == {"model": "smollm2", "messages": MESSAGES, "add_generation_prompt": True}
    assert req.headers["Authorization"] == f"Bearer {KEY}"


async def test_tokenize_messages_unavailable() -> None:
    async with ReplayServer() as srv:
        imitate_llamacpp(srv)
        assert await tokenize_messages(srv.base_url, MESSAGES, "smollm2") is None
    assert await tokenize_messages(f"http://127.0.0.1:{free_port()}/v1", MESSAGES, "m", timeout=1) is None


async def test_fetch_metrics_text() -> None:
    async with ReplayServer() as srv:
        imitate_vllm(srv)
        text = await fetch_metrics_text(srv.base_url)
        assert text == fixture_bytes("vllm", "metrics_after.txt").decode()
        assert parse_metrics(text, "smollm2").generation_tokens_total == 1106
    async with ReplayServer() as srv:
        imitate_llamacpp(srv)
        assert await fetch_metrics_text(srv.base_url) is None
