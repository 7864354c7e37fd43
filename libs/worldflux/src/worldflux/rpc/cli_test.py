import argparse

import pytest

from worldflux.rpc.cli import key_value


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
