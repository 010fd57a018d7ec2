"""Settings for several servers and prompt presets: [servers.NAME], [prompts.NAME], the new GPU keys,
their errors, and save_value keeping the tables."""

from __future__ import annotations

import os
import stat
import tomllib

import pytest

from zorac_tui import config
from zorac_tui.cli import build_parser, flags_from, main
from zorac_tui.profiles import PromptPreset, ServerProfile

CONFIG = '''\
base_url = "http://localhost:8000/v1"
api_key = "sk-top-level-key-0001"
gpu_metrics_url = "http://localhost:9400/metrics"
model = "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ"
theme = "nord"

[servers.gpubox]
base_url = "http://gpubox:8000/v1"
api_key = "sk-gpubox-key-0002"
gpu_metrics_url = "http://gpubox:9400/metrics"
context_window = 32768

[servers.laptop]
base_url = "http://127.0.0.1:8080/v1"
model = "qwen2.5-7b"

[prompts.coder]
system_prompt = "You write careful Python."
temperature = 0.1

[prompts.terse]
system_prompt = "Answer in one sentence."
'''


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def load(cfg, flags=None, environ=None):
    return config.load(flags or {}, config_path=cfg, environ=environ or {})


def test_profiles_and_presets_are_read(cfg):
    s = load(cfg)
    assert s.server_names() == ["default", "gpubox", "laptop"]
    assert s.prompt_names() == ["default", "coder", "terse"]
    assert s.servers[0] == ServerProfile("gpubox", "http://gpubox:8000/v1", "sk-gpubox-key-0002", None,
                                         "http://gpubox:9400/metrics", 32768)
    assert s.server == "default" and s.base_url == "http://localhost:8000/v1"
    assert s.gpu_metrics_url == "http://localhost:9400/metrics"
    assert s.preset() == PromptPreset("default", s.system_prompt, None)
    assert s.preset("coder") == PromptPreset("coder", "You write careful Python.", 0.1)
    assert s.preset("terse").temperature is None


def test_api_keys_stay_out_of_repr(cfg):
    s = load(cfg, {"server": "gpubox"})
    assert "sk-" not in repr(s) and "sk-" not in repr(s.servers) and "sk-" not in repr(s.default_server())


@pytest.mark.parametrize("how", ["file", "env", "flag"])
def test_a_profile_overrides_the_top_level(cfg, how):
    if how == "file":
        cfg.write_text('server = "gpubox"\n' + CONFIG, encoding="utf-8")
        s = load(cfg)
    elif how == "env":
        s = load(cfg, environ={"ZORAC_SERVER": "gpubox"})
    else:
        s = load(cfg, {"server": "gpubox"})
    assert s.server == "gpubox"
    assert (s.base_url, s.api_key, s.gpu_metrics_url, s.context_window) == (
        "http://gpubox:8000/v1", "sk-gpubox-key-0002", "http://gpubox:9400/metrics", 32768)
    assert s.model == "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ"  # not in the profile: top-level


def test_profile_keys_win_over_flags_and_env_for_the_same_key(cfg):
    s = load(cfg, {"server": "gpubox", "base_url": "http://elsewhere:8000/v1"},
             environ={"ZORAC_CONTEXT_WINDOW": "4096", "ZORAC_TEMPERATURE": "0.7"})
    assert s.base_url == "http://gpubox:8000/v1" and s.context_window == 32768
    assert s.temperature == 0.7  # not a profile key: the environment still counts


def test_another_servers_profile_never_gets_the_top_level_key_or_gpu_box(cfg):
    laptop = load(cfg).for_server("laptop")
    assert laptop.base_url == "http://127.0.0.1:8080/v1" and laptop.model == "qwen2.5-7b"
    assert laptop.api_key is None and laptop.gpu_metrics_url is None


def test_switching_servers_at_run_time(cfg):
    s = load(cfg, {"server": "laptop"})
    gpubox = s.for_server("gpubox")
    assert gpubox.api_key == "sk-gpubox-key-0002" and gpubox.model == "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ"
    back = gpubox.for_server("default")
    assert (back.server, back.base_url, back.api_key, back.gpu_metrics_url, back.context_window) == (
        "default", "http://localhost:8000/v1", "sk-top-level-key-0001", "http://localhost:9400/metrics", 16384)
    assert back.theme == "nord" and back.servers == s.servers
    with pytest.raises(config.ConfigError, match=r"No server named 'nas' in .* — known: default, gpubox, laptop"):
        s.for_server("nas")


def test_settings_built_directly_have_only_the_default_profile():
    s = config.Settings(base_url="http://127.0.0.1:9/v1")
    assert s.server_names() == ["default"] and s.for_server("default").base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(("flags", "environ", "said"), [
    ({"server": "nas"}, {}, "No server named 'nas' in {path} — known: default, gpubox, laptop"),
    ({}, {"ZORAC_PROMPT": "poet"}, "No prompt preset named 'poet' in {path} — known: default, coder, terse"),
])
def test_unknown_names_are_one_line_naming_the_file(cfg, flags, environ, said):
    with pytest.raises(config.ConfigError) as err:
        load(cfg, flags, environ)
    assert str(err.value) == said.format(path=cfg)


@pytest.mark.parametrize(("text", "said"), [
    ('[servers.gpubox]\nbase_url = "http://g/v1"\nurl = "x"\n',
     "[servers.gpubox] unknown key 'url' — known keys: base_url, api_key, model, gpu_metrics_url, context_window"),
    ('[servers.gpubox]\ncontext_window = "big"\n', "[servers.gpubox] context_window must be a whole number, not 'big'"),
    ('[servers.default]\nbase_url = "http://g/v1"\n', "[servers.default]: the name 'default' means the top-level"),
    ('servers = "gpubox"\n', "servers must be tables like [servers.NAME]"),
    ('[servers]\ngpubox = "http://g/v1"\n', "servers.gpubox must be a table [servers.gpubox]"),
    ('[prompts.coder]\ntemperature = 0.1\n', '[prompts.coder] needs system_prompt = "…"'),
    ('[prompts.coder]\nsystem_prompt = "x"\ntemperature = "warm"\n', "[prompts.coder] temperature must be a number"),
    ('[theme]\nname = "nord"\n', "theme is a setting, not a table [theme]"),
    ('show_reasoning = "sometimes"\n',
     "bad value for show_reasoning: 'sometimes' — use collapsed, expanded, hidden"),
    ('gpus = "0,,1"\n', "bad value for gpus: empty entry in '0,,1'"),
])
def test_bad_tables_and_values_are_one_line_naming_the_file(tmp_path, text, said):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(config.ConfigError) as err:
        config.load({}, config_path=path, environ={})
    message = str(err.value)
    assert message.startswith(f"Config file {path}: ") and said in message and "\n" not in message


def test_new_gpu_and_reasoning_settings_from_env_and_flags(tmp_path):
    missing = tmp_path / "none.toml"
    env = {"ZORAC_GPU_METRICS_URL": "http://gpubox:9400/metrics", "ZORAC_GPUS": "0,GPU-abc",
           "ZORAC_SHOW_REASONING": "hidden"}
    s = config.load({}, config_path=missing, environ=env)
    assert (s.gpu_metrics_url, s.gpus, s.show_reasoning) == ("http://gpubox:9400/metrics", "0,GPU-abc", "hidden")
    s = config.load({"gpus": "1", "show_reasoning": "expanded", "gpu_metrics_url": "http://b:5050"},
                    config_path=missing, environ=env)
    assert (s.gpu_metrics_url, s.gpus, s.show_reasoning) == ("http://b:5050", "1", "expanded")
    with pytest.raises(config.ConfigError, match="Environment variable ZORAC_SHOW_REASONING: bad value"):
        config.load({}, config_path=missing, environ={"ZORAC_SHOW_REASONING": "loud"})
    with pytest.raises(config.ConfigError, match="Command line: bad value for gpus: 'all' is neither"):
        config.load({"gpus": "all"}, config_path=missing, environ={})
    assert config.Settings().show_reasoning == "collapsed"


def test_describe_lists_the_new_keys_but_not_the_tables():
    names = [row[0] for row in config.describe()]
    assert {"gpu_metrics_url", "gpus", "show_reasoning", "server", "prompt"} <= set(names)
    assert not {"servers", "prompts", "top_level"} & set(names)
    assert "ZORAC_GPU_METRICS_URL" in [row[1] for row in config.describe()]


# --- save_value keeps tables --------------------------------------------------------------------

def test_save_value_keeps_servers_and_prompts(cfg):
    os.chmod(cfg, 0o644)
    before = load(cfg)
    config.save_value("theme", "dracula", config_path=cfg)
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600  # a profile holds an API key
    after = load(cfg)
    assert after.theme == "dracula"
    assert after.servers == before.servers and after.prompts == before.prompts
    assert after.for_server("gpubox").api_key == "sk-gpubox-key-0002"
    assert tomllib.loads(cfg.read_text(encoding="utf-8"))["servers"]["laptop"] == {
        "base_url": "http://127.0.0.1:8080/v1", "model": "qwen2.5-7b"}


def test_save_value_round_trips_awkward_strings_and_names(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[servers."my box"]\nbase_url = "http://box:8000/v1"\n'
                    '[prompts."ünï"]\nsystem_prompt = "Say \\"hi\\"\\n\\tthen stop \\\\ ✓ \\u007F"\n', encoding="utf-8")
    config.save_value("system_prompt", 'Quote " back\\slash\nnew line \x01 \x7f é 🎉', config_path=path)
    s = config.load({}, config_path=path, environ={})
    assert s.system_prompt == 'Quote " back\\slash\nnew line \x01 \x7f é 🎉'
    assert s.server_names() == ["default", "my box"] and s.preset("ünï").system_prompt == 'Say "hi"\n\tthen stop \\ ✓ \x7f'


def test_save_value_never_overwrites_a_broken_file(tmp_path):
    path = tmp_path / "config.toml"
    broken = '[servers.gpubox]\nurl = "x"\n'
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(config.ConfigError, match="unknown key 'url'"):
        config.save_value("theme", "nord", config_path=path)
    assert path.read_text(encoding="utf-8") == broken


# --- command line -------------------------------------------------------------------------------

def test_flags_reach_the_settings():
    args = build_parser().parse_args(["--server", "gpubox", "--prompt", "coder", "--gpu-metrics-url",
                                      "http://gpubox:9400/metrics", "--gpus", "0,1", "--show-reasoning", "hidden"])
    flags = flags_from(args)
    assert {k: flags[k] for k in ("server", "prompt", "gpu_metrics_url", "gpus", "show_reasoning")} == {
        "server": "gpubox", "prompt": "coder", "gpu_metrics_url": "http://gpubox:9400/metrics", "gpus": "0,1",
        "show_reasoning": "hidden"}
    assert flags_from(build_parser().parse_args([]))["server"] is None


def test_demo_box_needs_demo(capsys):
    assert main(["--demo-box"]) == 2
    assert capsys.readouterr().err.strip() == (
        "zorac-tui: --demo-box starts a simulated GPU box for the demo; use it with --demo")


def test_unknown_server_flag_exits_2_with_one_line(capsys):
    assert main(["--server", "nas"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zorac-tui: No server named 'nas' in ") and err.endswith("— known: default")


def test_config_command_lists_profiles(capsys, isolated_home):
    path = isolated_home / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(CONFIG, encoding="utf-8")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "ZORAC_GPU_METRICS_URL" in out and "ZORAC_SHOW_REASONING" in out
    assert "servers ([servers.NAME]: base_url, api_key, model, gpu_metrics_url, context_window): " \
           "default, gpubox, laptop" in out
    assert "prompts ([prompts.NAME]: system_prompt, temperature): default, coder, terse" in out


def test_a_key_only_in_a_profile_makes_the_file_private(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[servers.gpubox]\nbase_url = "http://gpubox:8000/v1"\napi_key = "sk-in-a-profile-1"\n',
                    encoding="utf-8")
    os.chmod(path, 0o644)
    config.read_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
