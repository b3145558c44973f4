"""Where postcode districts are: centroids for radius searches.

``server/data/postcode_districts.csv`` holds the centroid of every postcode district (outward
code) of Great Britain in British National Grid metres: the mean easting and northing of the
district's postcodes in Ordnance Survey Code-Point Open (Open Government Licence v3; "Contains
OS data © Crown copyright and database right"), built by ``build_districts.py``. Distances are
straight lines between district centroids on the grid, so a search is exact to a district, not
to a street; Northern Ireland (BT), the Channel Islands and the Isle of Man are not in
Code-Point Open and have no centroid.
"""

from __future__ import annotations

import csv
import functools
import math
from importlib.resources import files

from miap.server.ukrlp.keys import district_of

METRES_PER_MILE = 1609.344
DISTRICTS_FILE = "postcode_districts.csv"


class UnknownLocation(ValueError):
    """A postcode whose district has no known centroid."""


@functools.cache
def centroids() -> dict[str, tuple[int, int]]:
    """District -> (easting, northing) in metres, read once per process."""
    text = files("miap.server").joinpath("data", DISTRICTS_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {row["district"]: (int(row["easting"]), int(row["northing"])) for row in rows}


def location(postcode: str) -> tuple[int, int]:
    """The centroid of ``postcode``'s district; raises UnknownLocation."""
    district = district_of(postcode)
    if district is None:
        raise UnknownLocation(f"{postcode!r} is not a UK postcode")
    try:
        return centroids()[district]
    except KeyError:
        raise UnknownLocation(f"no location is known for postcode district {district}") from None


def districts_within(postcode: str, miles: float) -> frozenset[str]:
    """Every district whose centroid is within ``miles`` of ``postcode``'s district's."""
    east, north = location(postcode)
    reach = miles * METRES_PER_MILE
    return frozenset(
        district
        for district, (e, n) in centroids().items()
        if math.hypot(e - east, n - north) <= reach
    )
