import argparse
from pathlib import Path

import pytest

from worldflux.rpc.cli import (
    StartupError,
    add_server_arguments,
    key_value,
    server_config_from_args,
)


def test_key_value_reads_json_values_and_keeps_other_text() -> None:
    assert key_value("horizon=3") == ("horizon", 3)
    assert key_value("temperature=0.5") == ("temperature", 0.5)
    assert key_value("bounds=[-1, 1]") == ("bounds", [-1, 1])
    assert key_value("objective=goal") == ("objective", "goal")
    assert key_value("note=a=b") == ("note", "a=b")


@pytest.mark.parametrize("text", ["horizon", "=3", ""])
def test_key_value_rejects_text_without_a_key(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="use KEY=VALUE"):
        key_value(text)


# -- auth fails closed ------------------------------------------------------------------------
def server_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser, default_port=0)
    return parser.parse_args(list(argv))


@pytest.fixture(autouse=True)
def no_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WF_TOKEN", raising=False)


def test_token_comes_from_a_file_without_its_newline(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("s3cret\n")
    config = server_config_from_args(server_args("--token-file", str(tmp_path / "t")), "wf-x")
    assert config.token == "s3cret"


def test_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WF_TOKEN", "from-env")
    assert server_config_from_args(server_args(), "wf-x").token == "from-env"


@pytest.mark.parametrize("content", ["", "\n", "  \n\t"])
def test_an_empty_token_file_refuses_to_start(tmp_path: Path, content: str) -> None:
    (tmp_path / "t").write_text(content)
    with pytest.raises(StartupError, match=r"wf-x: --token-file .*/t is empty; refusing"):
        server_config_from_args(server_args("--token-file", str(tmp_path / "t")), "wf-x")


def test_an_unreadable_token_file_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match=r"cannot read --token-file .*missing"):
        server_config_from_args(server_args("--token-file", str(tmp_path / "missing")), "wf-x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(StartupError, match=r"cannot read --token-file .*dir"):
        server_config_from_args(server_args("--token-file", str(tmp_path / "dir")), "wf-x")


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_token_variable_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("WF_TOKEN", value)
    with pytest.raises(StartupError, match="WF_TOKEN is set but empty"):
        server_config_from_args(server_args(), "wf-x")


def test_a_token_on_the_command_line_is_refused() -> None:
    with pytest.raises(StartupError, match=r"visible to every user in `ps`; use --token-file"):
        server_config_from_args(server_args("--token", "s3cret"), "wf-x")


def test_no_token_on_a_public_address_needs_allow_no_auth(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="binding 0.0.0.0 without a token"):
        server_config_from_args(server_args("--host", "0.0.0.0"), "wf-x")
    assert server_config_from_args(server_args("--host", "0.0.0.0", "--allow-no-auth"), "x")
    assert server_config_from_args(server_args("--host", "127.0.0.1"), "x").token is None
    (tmp_path / "t").write_text("s3cret")
    public = server_args("--host", "0.0.0.0", "--token-file", str(tmp_path / "t"))
    assert server_config_from_args(public, "x").token == "s3cret"


def test_tls_flags_are_checked_before_start(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="--tls-cert and --tls-key go together"):
        server_config_from_args(server_args("--tls-cert", "c.pem"), "wf-x")
    with pytest.raises(StartupError, match="--tls-client-ca .* needs --tls-cert"):
        server_config_from_args(server_args("--tls-client-ca", "ca.pem"), "wf-x")
    with pytest.raises(StartupError, match="--tls-cert .*nope.pem is not a readable file"):
        server_config_from_args(
            server_args("--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", "k"), "wf-x"
        )


def test_stream_and_metrics_flags_reach_the_config() -> None:
    config = server_config_from_args(
        server_args(
            "--max-streams", "5", "--max-streams-per-peer", "2", "--stream-idle-s", "7",
            "--metrics-host", "127.0.0.2", "--max-connection-age-s", "0",
            "--first-message-s", "2.5",
        ),
        "wf-x",
    )  # fmt: skip
    assert (config.streams.max_streams, config.streams.max_streams_per_peer) == (5, 2)
    assert config.streams.idle_timeout_s == 7 and config.metrics_host == "127.0.0.2"
    assert config.max_connection_age_s is None
    assert config.streams.first_message_s == 2.5
    with pytest.raises(StartupError, match="stream caps must be >= 1"):
        server_config_from_args(server_args("--max-streams", "0"), "wf-x")
