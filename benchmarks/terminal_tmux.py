"""One run of the terminal benchmark as a user meets the app: zorac-tui in tmux, typed at as it streams and ends.

Built from tuibench's pieces (`tui_lag.py` in the tuibench folder, outside this repository): its tmux
session and control client (the screen is read with `capture-pane` every --poll-ms), its paced fake vLLM
server (`fakevllm.py`: one token per SSE event, marker words, a sentinel as the last token, each logged
when written) and its /proc CPU readers. What differs from tuibench's own loop is the typing: it types
only until the last token is on screen, one word at a time, waiting for each; here, like a person,
words keep coming on a schedule whether or not the last one showed —

- while it streams: --echo-tries words spread over the stream (at least 150 ms apart), every fourth
  typed with a correction (an "edit": checks the keys are applied in order);
- at the finish: a word every 100 ms from 0.5 s before the server wrote the last token until 0.5 s
  after that token is on screen (and at least 0.7 s after it was written).

(A word due while an edit is still being typed, or an erase has not shown yet, waits for it.) What a
word is, how it is timed, lost or garbled, and how the prompt is kept to one line: terminal_typist.py.
The screen at each lost word is kept in the run's folder (--outdir).
"""

from __future__ import annotations

import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from terminal_typist import ERASE_AFTER, Typist

HERE = Path(__file__).resolve().parent
SIZE = (160, 50)  # the terminal, as in tuibench
MODEL = "fake/model"
TTFT = 0.2
PROMPT = "Please explain streaming in detail"
FINISH_BEFORE = 0.5  # seconds before the last token is written: finish keys start
FINISH_AFTER = 0.5  # ... and go on this long after it is on screen
FINISH_MIN = 0.7  # ... and at least this long after it was written
FINISH_GAP = 0.1
CLEAR_BEFORE_FINISH = 0.3  # no stream word this long before the finish window: the prompt is cleared
EDIT_EVERY = 4  # every fourth stream word is typed with a correction (terminal_typist.py)
NO_EDIT_BEFORE_FINISH = 1.5  # a garbled edit holds the typist up; none this long before the finish window
STREAM_MIN_GAP = 0.15


def load_tuibench(path: Path) -> ModuleType:
    """tuibench's tui_lag module from `path`, or exit saying where it was looked for."""
    script = path / "tui_lag.py"
    if not script.is_file() or not (path / "fakevllm.py").is_file():
        raise SystemExit(f"terminal: tuibench not found at {path} (tui_lag.py and fakevllm.py); it lives outside "
                         "the repository (../shared/tuibench on the lead's machine) — pass --tuibench DIR, or "
                         "--runners pty,headless to run without it")
    if not shutil.which("tmux"):
        raise SystemExit("terminal: tmux not found (tuibench needs tmux >= 3.2) — install it, or pass "
                         "--runners pty,headless")
    sys.path.insert(0, str(path))
    import tui_lag

    return tui_lag


class TmuxRun:
    """zorac-tui in a fresh tmux session (fresh HOME) against tuibench's fake vLLM: one reply, typed at."""

    def __init__(self, tb: ModuleType, tokens: int, rate: float, messages: int, env: dict[str, str],
                 outdir: Path, echo_tries: int = 40, poll_ms: float = 15.0) -> None:
        """A run of `tokens` at `rate` tok/s with `messages` already loaded; `env` holds PYTHONPATH."""
        self.tb, self.tokens, self.rate, self.messages = tb, tokens, rate, messages
        self.env, self.echo_tries, self.poll = env, echo_tries, poll_ms / 1000
        self.rundir = Path(tempfile.mkdtemp(prefix=f"tmux-{tokens}-{rate:g}-{messages}-", dir=outdir))
        self.home = Path(tempfile.mkdtemp(prefix="zorac-bench-home-"))
        self.sentinel = "ZZEND" + "".join(random.choice("0123456789ABCDEF") for _ in range(8))
        self.srv = self.tmux = self.ctl = self.typist = None
        self.stream_words = 0
        self.res: dict[str, Any] = {"runner": "tmux", "rundir": str(self.rundir), "load1": os.getloadavg()[0]}

    def run(self) -> dict:
        """Measure; the figures (with "error" when it went wrong)."""
        try:
            self.start()
            if self.wait_ready():
                self.idle_echo()
                self.submit()
                self.watch()
                self.figures()
        except Exception as exc:  # report and go on with the next run
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.res["error"] = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
        finally:
            self.close()
        return self.res

    def app_env(self) -> dict[str, str]:
        """The app's environment: fresh homes, offline, no auto-summary, the checkout under test."""
        return {"HOME": str(self.home), "ZORAC_HOME": str(self.home / "zorac"), "ZORAC_OFFLINE": "1",
                "ZORAC_AUTO_SUMMARIZE": "false", "ZORAC_MAX_TOKENS": str(self.tokens + 100),
                "PYTHONPATH": self.env["PYTHONPATH"]}

    def start(self) -> None:
        """Fake server, seeded home, tmux session running the app, control client."""
        tb = self.tb
        self.srv = tb.FakeServer(str(self.rundir), self.rate, TTFT, self.tokens, 5, MODEL, self.sentinel)
        env = self.app_env()
        if self.messages:
            subprocess.run([sys.executable, str(HERE / "terminal_app.py"), "seed", "--messages", str(self.messages)],
                           env={**os.environ, **env}, check=True, capture_output=True, timeout=120)
        conf = self.rundir / "tmux.conf"
        conf.write_text("set -g remain-on-exit on\nset -g default-terminal tmux-256color\nset -g history-limit 100\n")
        self.tmux = tb.Tmux(f"zorac-bench-{os.getpid()}-{self.rundir.name}", str(conf))
        cmd = [sys.executable, str(HERE / "terminal_app.py"), "run", "--base-url",
               f"http://127.0.0.1:{self.srv.port}/v1", "--model", MODEL] + (["--continue"] if self.messages else [])
        flags = [x for k, v in env.items() for x in ("-e", f"{k}={v}")]
        self.t_launch = time.time()
        self.tmux.run("new-session", "-d", "-s", "bench", "-x", str(SIZE[0]), "-y", str(SIZE[1]), "-c",
                      str(self.home), *flags, "exec " + shlex.join(cmd),
                      ";", "set", "-g", "window-size", "manual", ";", "set", "-g", "status", "off")
        self.ctl = ctl = tb.Ctl(self.tmux, "bench")
        self.client_pid = int(ctl.cmd("display-message -p -t bench '#{pane_pid}'")[0])
        self.tmux_pid = int(ctl.cmd("display-message -p '#{pid}'")[0])
        self.tmux.socket_path = ctl.cmd("display-message -p '#{socket_path}'")[0].decode()
        self.typist = Typist(tb, ctl, self.rundir)

    def ready(self, screen: str) -> bool:
        """Connected, and the seeded conversation's last reply shown."""
        return "connected" in screen and MODEL in screen and (
            not self.messages or f"(reply #{self.messages - 1})" in screen)

    def wait_ready(self) -> bool:
        """Wait for ready (60 s), then let the start-up work (counting the conversation) settle."""
        while time.time() - self.t_launch < 60:
            screen = self.ctl.capture()
            if self.ready(screen):
                self.res["startup_s"] = time.time() - self.t_launch
                time.sleep(1.5)
                return True
            if self.ctl.pane_dead():
                break
            time.sleep(self.poll)
        self.res["error"] = "the app was not ready in 60 s" + (" (it exited)" if self.ctl.pane_dead() else "")
        self.save_screen("screen-startup.txt")
        return False

    def idle_echo(self) -> None:
        """Three words typed while nothing streams: the harness's and the idle app's floor."""
        for _ in range(3):
            self.typist.type_word("idle", "")
            while self.typist.pending():
                time.sleep(self.poll)
                t0 = time.time()
                screen = self.ctl.capture()
                self.typist.observe(screen, (t0 + time.time()) / 2, time.time())
            time.sleep(0.2)
        self.typist.erase()
        self.typist.wait_erased(self.poll)
        time.sleep(0.3)

    def submit(self) -> None:
        """Type the prompt, wait for it on screen, take the CPU counters, press Enter."""
        self.tmux.run("send-keys", "-t", "bench", "-l", PROMPT)
        t0 = time.time()
        while PROMPT[-12:] not in self.ctl.capture() and time.time() - t0 < 3:
            time.sleep(self.poll)
        self.cpu0 = self.counters()
        self.t_submit = time.time()
        self.ctl.send_keys("Enter")

    def counters(self) -> dict[str, float]:
        """CPU seconds so far of the app, tmux, its control client, the fake server, this harness, the machine."""
        tb, table = self.tb, self.tb.proc_table()
        me = os.times()
        busy, total = tb.sys_cpu()
        return {"app": tb.tree_cpu_s(self.client_pid, table), "tmux": tb.pid_cpu_s(self.tmux_pid),
                "ctl": tb.pid_cpu_s(self.ctl.p.pid), "server": tb.pid_cpu_s(self.srv.p.pid),
                "harness": me.user + me.system, "busy": busy, "total": total, "t": time.time()}

    def server_times(self) -> tuple[float | None, float | None]:
        """When the fake server wrote the first and the last token (None until it did)."""
        first = last = None
        for event in self.srv.events():
            if event.get("event") == "first_token_sent":
                first = event["t_wall"]
            elif event.get("event") == "sentinel_sent":
                last = event["t_wall"]
        return first, last

    def watch(self) -> None:
        """Poll the screen until the last token is on screen and the finish keys are all answered."""
        tokens, rate, typist = self.tokens, self.rate, self.typist
        stream_s = tokens / rate
        self.stream_gap = max(STREAM_MIN_GAP, stream_s / max(1, self.echo_tries))
        end_guess = self.t_submit + TTFT + stream_s
        first = last = None
        self.next_key, next_log = self.t_submit + TTFT + 0.2, 0.0
        markers: dict[str, float] = {}
        self.t_seen = None
        deadline = self.t_submit + TTFT + 3 * stream_s + 30
        while True:
            t_req = time.time()
            screen = self.ctl.capture()
            now = time.time()
            seen_at = (t_req + now) / 2
            for word in set(re.findall(r"ZZMK[0-9A-Fa-f]+", screen)) - markers.keys():
                markers[word] = seen_at
            if self.t_seen is None and self.sentinel in screen:
                self.t_seen, self.cpu1 = seen_at, self.counters()
            typist.send_due(now)
            typist.observe(screen, seen_at, now)
            if last is None and now >= next_log:
                first, last = self.server_times()
                next_log = now + 0.05
            end = last or (first + (tokens - 1) / rate if first else end_guess)
            finish_to = None if last is None or self.t_seen is None else max(last + FINISH_MIN,
                                                                              self.t_seen + FINISH_AFTER)
            if self.type_due(now, end, finish_to, screen):
                continue  # look right away
            if finish_to is not None and now > finish_to and not typist.pending() and not typist.queue:
                break
            if now > deadline:
                self.res["error"] = "the last token never reached the screen" if self.t_seen is None else "timeout"
                break
            time.sleep(self.poll)
        self.markers, self.t_last = markers, last
        self.save_screen("screen-final.txt")

    def type_due(self, now: float, end: float, finish_to: float | None, screen: str) -> bool:
        """Type the word due now, if any: stream words (every EDIT_EVERY-th an edit) until shortly before the
        finish window, a clean prompt, then finish words (plain) every FINISH_GAP s. Whether one was typed."""
        typist = self.typist
        finish_from = end - FINISH_BEFORE
        typist.erase_after = 1 if finish_from - CLEAR_BEFORE_FINISH <= now < finish_from else ERASE_AFTER
        if now < self.next_key or (finish_to is not None and now > finish_to):
            return False
        if now >= finish_from:
            if typist.type_word("finish", screen):
                self.next_key = now + FINISH_GAP
                return True
        elif now < finish_from - CLEAR_BEFORE_FINISH:
            self.stream_words += 1
            edit = self.stream_words % EDIT_EVERY == 0 and now < finish_from - NO_EDIT_BEFORE_FINISH
            if typist.type_word("stream", screen, edit=edit):
                self.next_key = min(now + self.stream_gap, finish_from)
                return True
            self.stream_words -= 1
        return False

    def figures(self) -> None:
        """Lag, echo and CPU from what was recorded."""
        res, sent = self.res, {e["word"]: e["t_wall"] for e in self.srv.events() if "word" in e}
        if self.t_seen is None or self.t_last is None:
            res.setdefault("error", "the last token was not seen")
            return
        res["lag_ms"] = (self.t_seen - self.t_last) * 1000
        mids = [at - sent[w] for w, at in self.markers.items() if w in sent]
        res["mid_lag_max_ms"] = max(mids) * 1000 if mids else None
        for phase in ("idle", "stream", "finish"):
            words = [w for w in self.typist.words if w["phase"] == phase and w["kind"] == "plain"]
            res[f"echo_{phase}_ms"] = [None if w["lost"] else w["latency"] * 1000 for w in words]
            res[f"echo_{phase}_at_s"] = [w["t_sent"] - self.t_last for w in words]  # relative to the last token
            edits = [w for w in self.typist.words if w["phase"] == phase and w["kind"] == "edit"]
            res[f"edits_{phase}"] = len(edits)
            res[f"edits_{phase}_garbled"] = sum(bool(w.get("garbled")) for w in edits)
            res[f"edits_{phase}_lost"] = sum(w["lost"] and not w.get("garbled") for w in edits)
        res["keys_skipped"] = self.typist.skipped
        res["words"] = [(w["word"], w["phase"], w["kind"], round(w["t_sent"] - self.t_last, 3),
                         None if w["latency"] is None else round(w["latency"] * 1000)) for w in self.typist.words]
        a, b = self.cpu0, self.cpu1
        wall = b["t"] - a["t"]
        for name in ("app", "tmux", "ctl", "server", "harness"):
            res[f"{name}_cpu_pct"] = 100 * (b[name] - a[name]) / wall
        res["machine_pct"] = 100 * (b["busy"] - a["busy"]) / max(1, b["total"] - a["total"]) * os.cpu_count()
        ours = sum(res[f"{n}_cpu_pct"] for n in ("app", "tmux", "ctl", "server", "harness"))
        res["other_pct"] = res["machine_pct"] - ours
        res["cpu_pct"] = res["app_cpu_pct"]

    def save_screen(self, name: str) -> None:
        """Keep what the screen showed, for a look afterwards."""
        try:
            (self.rundir / name).write_text(self.ctl.capture())
        except Exception:  # the session may be gone; the figures matter more
            pass

    def close(self) -> None:
        """End the control client, tmux (the app gets SIGHUP), the server; remove the home."""
        if self.ctl is not None:
            self.ctl.close()
        if self.tmux is not None:
            self.tmux.kill_server()
        pid = getattr(self, "client_pid", None)
        end = time.monotonic() + 3
        while pid and self.tb.pid_alive(pid) and time.monotonic() < end:
            time.sleep(0.05)
        if pid and self.tb.pid_alive(pid):
            os.kill(pid, 9)
            self.res["note"] = "the app ignored SIGHUP"
        if self.srv is not None:
            self.srv.stop()
        shutil.rmtree(self.home, ignore_errors=True)
