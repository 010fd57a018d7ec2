"""The help screen (F1, or ? in an empty prompt): every key, every slash command, what the numbers mean."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

FIGURES = [
    ("tok/s", "Decode speed: tokens after the first ÷ time since the first token. TTFT is never in it. "
              "'now' is a rolling ~1 s window; ≈ means the server sent no token counts and chunks were counted."),
    ("TTFT", "Time from sending the request to the first token of the reply (prefill + queueing)."),
    ("context", "Tokens the next request's prompt takes (system, summary, history, your draft) against the "
                "window; the shaded part is the reply reserve (max_tokens). Exact when the server has /tokenize, "
                "else ≈ an estimate calibrated by the server's reported prompt_tokens."),
    ("KV cache", "From the server's /metrics: share of the KV cache in use and its capacity in tokens "
                 "(num_gpu_blocks × block_size)."),
    ("efficiency", "Achieved decode tok/s ÷ the ideal for this GPU: peak memory bandwidth (bus width × max "
                   "memory clock × 2) ÷ bytes read per token (≈ the weights). Decode is memory-bound."),
    ("thinking", "A reasoning model's thinking counts in tok/s (the GPU decodes it) and is shown apart: "
                 "thinking N · answer M; '1st answer' is the time to the first answer token. Thinking is kept "
                 "and exported, never sent back to the model."),
    ("over the ideal", "Decode faster than the bandwidth allows for the weights: weights_gb is set too high "
                       "(or the server decodes speculatively)."),
    ("SIMULATED", "Figures from the built-in simulator (--demo), not from real hardware."),
    ("GPU source", "The GPU panel's first line says where its figures come from: NVML (this machine's driver), "
                   "dcgm-exporter or nvitop-exporter on the GPU box (gpu_metrics_url, or the server's host:9400 "
                   "tried once), or SIMULATED. With several GPUs: their total, then one line each (VRAM, util, "
                   "power)."),
    ("×N, (spec)", "Memory budget with N GPUs: the KV cache is one tensor-parallel worker's /metrics figure times N. "
                   "(spec): the card's peak bandwidth from NVIDIA's published figure for its name (an exporter "
                   "does not report bus width and clock)."),
    ("memory sources", "(derived) / calc: worked out from the other figures; (/metrics) / metrics: the server's "
                       "own report; (config) / cfg: your weights_gb setting; SIM: simulated. The short forms "
                       "are what the sidebar uses on a terminal under 100 columns."),
]

PROMPT_KEYS = [
    ("enter", "send"),
    ("shift+enter / ctrl+j", "new line"),
    ("up / down", "recall earlier prompts (at the first / last line)"),
    ("?", "this help (when the prompt is empty)"),
]


class HelpScreen(ModalScreen[None]):
    """A scrollable modal listing bindings, slash commands and the meaning of each figure."""

    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, bindings: list[tuple[str, str]], commands: dict[str, tuple[str, str]],
                 conversation: list[tuple[str, str]] | None = None) -> None:
        """`bindings` as (keys, description); `commands` as the app's slash-command table; `conversation` the
        keys of the conversation once Tab moved there."""
        super().__init__()
        self.bindings_list = bindings
        self.commands = commands
        self.conversation = conversation or []

    def compose(self) -> ComposeResult:
        """One scrolling column of tables."""
        with VerticalScroll(id="help-body"):
            yield Static(Text("zorac-tui — keys, commands and figures   (Esc closes)", style="bold"))
            yield Static(self._table("Keys", self.bindings_list + PROMPT_KEYS))
            if self.conversation:
                yield Static(self._table("In the conversation (Tab to it; other keys go to the prompt)",
                                         self.conversation))
            yield Static(self._table("Slash commands (type in the prompt)",
                                     [(name, doc) for name, (_, doc) in self.commands.items()]))
            yield Static(self._table("What the numbers mean", FIGURES))

    @staticmethod
    def _table(title: str, rows: list[tuple[str, str]]) -> Table:
        """A two-column table."""
        table = Table(title=title, title_justify="left", show_header=False, expand=True, box=None)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, doc in rows:
            table.add_row(Text(key), Text(doc))
        return table

    def action_dismiss(self) -> None:
        """Close."""
        self.dismiss()
