"""Run the simulator standalone in the foreground: `python -m zorac_tui.demo --port 8000`."""

from __future__ import annotations

import argparse
import asyncio
import json

from .simulator import Faults, SimConfig, Simulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m zorac_tui.demo",
                                description="Simulated vLLM (or llama-cpp-python) chat server on 127.0.0.1.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--profile", choices=("vllm", "llamacpp"), default="vllm")
    p.add_argument("--model", default=SimConfig.model)
    p.add_argument("--rate", type=float, default=62.0, help="decode tokens per second")
    p.add_argument("--ttft", type=float, default=0.3, help="seconds to the first token")
    p.add_argument("--answer-tokens", type=int, default=None, help="exact completion tokens per reply")
    p.add_argument("--max-model-len", type=int, default=16384)
    p.add_argument("--api-key", default=None, help="require Authorization: Bearer <key>")
    p.add_argument("--gpu-box", type=int, default=0, metavar="N",
                   help="also serve N simulated GPUs in dcgm-exporter format on another port (busy while replying)")
    p.add_argument("--config-json", default=None, help=argparse.SUPPRESS)  # a whole SimConfig (SimulatorProcess)
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> SimConfig:
    """The SimConfig the options describe."""
    if args.config_json:
        data = json.loads(args.config_json)
        data["faults"] = Faults(**data.get("faults", {}))
        return SimConfig(**data)
    return SimConfig(profile=args.profile, model=args.model, rate=args.rate, ttft=args.ttft,
                     answer_tokens=args.answer_tokens, max_model_len=args.max_model_len, api_key=args.api_key)


async def serve(args: argparse.Namespace) -> None:
    """Start the server, print its URL and run until interrupted."""
    config = config_from(args)
    sim = Simulator(config)
    url = await sim.start(args.host, args.port)
    print(f"Simulated {config.profile} server (model {config.model}) at {url} — Ctrl+C to stop", flush=True)
    box = None
    if args.gpu_box > 0:
        from .exporter import GpuBox

        box = GpuBox(args.gpu_box, busy=lambda: bool(sim.active))
        print(f"Simulated GPU box (dcgm-exporter format) at {await box.start(args.host, 0)}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        if box is not None:
            await box.stop()
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    try:
        asyncio.run(serve(parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
