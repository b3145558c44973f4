"""Name and postcode normalisation, and the editable given-name variants table."""

import pytest

from miap.server.matching.normalise import (
    NameVariants,
    default_variants,
    known_postcode,
    name_key,
    postcode_key,
    sound_key,
)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("O'Neil", "ONEIL"),
        ("O Neil", "ONEIL"),
        ("oneil", "ONEIL"),
        ("  Smith-Jones ", "SMITHJONES"),
        ("Smith Jones", "SMITHJONES"),
        ("Zoë", "ZOE"),
        ("Ångström", "ANGSTROM"),
        ("Seán", "SEAN"),
        ("---", None),
        (None, None),
    ],
)
def test_name_key(raw, key):
    assert name_key(raw) == key


@pytest.mark.parametrize("raw", ["LS1 4AP", "ls14ap", " Ls1  4aP "])
def test_postcode_key(raw):
    assert postcode_key(raw) == "LS14AP"


def test_unknown_postcode_is_not_a_known_one():
    assert known_postcode(postcode_key("ZZ99 9ZZ")) is None
    assert known_postcode("LS14AP") == "LS14AP"


def test_soundex_survives_slips_after_the_first_letter():
    assert sound_key("SMITH") == sound_key("SMYTH") == sound_key("SMTIH") == sound_key("SMIT")
    assert sound_key(None) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [("BOB", "ROBERT"), ("KATE", "KATHERINE"), ("KATE", "CATHERINE"), ("ALEX", "ALEXANDRA")],
)
def test_shipped_variants(a, b):
    assert default_variants().equivalent(a, b)


def test_variants_are_not_transitive_across_groups():
    # Alex is both Alexander and Alexandra; that does not make those two the same name.
    assert not default_variants().equivalent("ALEXANDER", "ALEXANDRA")


def test_variants_table_is_editable(tmp_path):
    table = tmp_path / "variants.txt"
    table.write_text("# comment\nDafydd, Dai, David\n\n", encoding="utf-8")
    variants = NameVariants.load(table)
    assert variants.equivalent("DAI", "DAFYDD")
    assert not variants.equivalent("BOB", "ROBERT")
    assert variants.alternatives("Dai") == ["Dafydd", "David"]
    assert variants.variants("DAI") == {"DAI", "DAFYDD", "DAVID"}
