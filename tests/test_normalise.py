"""Name and postcode normalisation, and the editable given-name variants table."""

import pytest

from miap.server.matching.normalise import (
    KEY_LENGTH,
    NameVariants,
    default_variants,
    known_postcode,
    name_key,
    postcode_key,
    sound_key,
)
from miap.storage.models import Learner


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
        ("Ødegård", "ODEGARD"),
        ("Łukasz", "LUKASZ"),
        ("Σοφία", "SOFIA"),
        ("Дмитрий", "DMITRIY"),
        ("محمد", "MHMD"),
        ("李", "LI"),
        ("Nguyễn", "NGUYEN"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_name_key(raw, key):
    assert name_key(raw) == key


@pytest.mark.parametrize("raw", ["Ødegård", "Łukasz", "Σοφία", "Дмитрий", "محمد", "李", "Þór"])
def test_any_script_round_trips_through_key_and_soundex(raw):
    key = name_key(raw)
    assert key and key.isascii() and key.isalpha() and key.isupper()
    assert name_key(key) == key  # the key typed in ASCII is its own key
    assert sound_key(key) == sound_key(name_key(key.lower())) and len(sound_key(key)) == 4


@pytest.mark.parametrize("raw", ["☆★", "---", "☆ ★", "۝"])
def test_a_name_without_letters_keeps_a_stable_non_empty_key(raw):
    key = name_key(raw)
    assert key and key == name_key(raw) and sound_key(key)
    assert name_key("☆★") == name_key("☆ ★") != name_key("★☆")


def test_keys_fit_their_columns():
    assert len(name_key("李" * 35)) == 70
    assert len(name_key("\ufdfd" * 35)) == KEY_LENGTH == Learner.__table__.c.given_key.type.length


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
