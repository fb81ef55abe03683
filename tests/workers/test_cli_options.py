"""workers.cli.options: the command line before argparse reads it."""

from workers.cli.options import join_option_values


def test_a_key_that_starts_with_a_dash_stays_the_options_value():
    assert join_option_values(["register", "--token", "-abc", "--group", "g"]) == [
        "register",
        "--token=-abc",
        "--group=g",
    ]
    assert join_option_values(["remove", "--key", "-"]) == ["remove", "--key=-"]
    assert join_option_values(["remove", "--token-file", "-k"]) == ["remove", "--token-file=-k"]
