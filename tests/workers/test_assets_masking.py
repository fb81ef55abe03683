"""workers.job.masking: the values a job read from encrypted assets become ****** in its records."""

from workers.job.masking import MASK, Masker


def masker(*values) -> Masker:
    masks = Masker()
    for value in values:
        masks.add(value)
    return masks


def test_a_secret_is_masked_wherever_it_stands_in_a_line_and_other_text_is_kept():
    masks = masker("s3cr3t-Pa55")
    assert masks.mask("password=s3cr3t-Pa55; again s3cr3t-Pa55.") == f"password={MASK}; again {MASK}."
    assert masks.mask("nothing to hide") == "nothing to hide"
    assert Masker().mask("s3cr3t-Pa55") == "s3cr3t-Pa55", "a job that read nothing secret keeps its lines"


def test_where_one_secret_holds_another_the_longer_one_goes_whole():
    masks = masker("abc", "abcdef-long")
    assert masks.mask("x abcdef-long y abc") == f"x {MASK} y {MASK}"
    masks = masker("abcdef-long", "abc")
    assert masks.mask("abcdef-long") == MASK, "the order they were read in does not matter"


def test_values_under_three_characters_and_blank_lines_are_not_masked():
    masks = masker("ab", "7", "   ", "")
    assert masks.mask("ab 7 stays   as it was") == "ab 7 stays   as it was"
    assert masker("abc").mask("abc") == MASK


def test_a_multi_line_secret_is_masked_whole_and_line_by_line():
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n  \nhk\n-----END KEY-----"
    masks = masker(key)
    # The agent reads output a line at a time: each line of the secret arrives alone.
    assert [masks.mask(line) for line in key.splitlines()] == [MASK, MASK, "  ", "hk", MASK]
    assert masks.mask(f"before {key} after") == f"before {MASK} after"


def test_characters_that_mean_something_in_a_pattern_are_taken_as_they_are():
    masks = masker("a.b*c(d)[e]$^|\\")
    assert masks.mask("a.b*c(d)[e]$^|\\ and axbbbcd") == f"{MASK} and axbbbcd"


def test_a_secret_that_is_not_text_is_masked_as_its_json():
    masks = masker(123456, {"k": "v"})
    assert masks.mask('pin 123456, blob {"k":"v"}') == f"pin {MASK}, blob {MASK}"
