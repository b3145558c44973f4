"""The register's fields by the names the LRS gives them (in messages, batch files and their
CSV headers) and the learner column each is stored in.

Names only: the order and the type of each field are the published schemas' (``xsd/``), read
where a message is built (``server/soap/contract.py``).
"""

from __future__ import annotations

import datetime as dt

from miap.server import exceptions

#: The stored column behind each field of a Learner.
LEARNER_COLUMNS: dict[str, str] = {
    "CreatedDate": "created_at",
    "LastUpdatedDate": "updated_at",
    "ULN": "uln",
    "Title": "title",
    "GivenName": "given_name",
    "MiddleOtherName": "middle_other_name",
    "FamilyName": "family_name",
    "PreferredGivenName": "preferred_given_name",
    "PreviousFamilyName": "previous_family_name",
    "FamilyNameAtAge16": "family_name_at_age16",
    "SchoolAtAge16": "school_at_age16",
    "LastKnownAddressLine1": "address_line1",
    "LastKnownAddressLine2": "address_line2",
    "LastKnownAddressTown": "address_town",
    "LastKnownAddressCountyOrCity": "address_county_or_city",
    "LastKnownPostCode": "postcode",
    "DateOfAddressCapture": "date_of_address_capture",
    "DateOfBirth": "date_of_birth",
    "PlaceOfBirth": "place_of_birth",
    "Gender": "gender",
    "EmailAddress": "email_address",
    "Nationality": "nationality",
    "ScottishCandidateNumber": "scottish_candidate_number",
    "VerificationType": "verification_type",
    "OtherVerificationDescription": "other_verification_description",
    "TierLevel": "tier_level",
    "AbilityToShare": "ability_to_share",
    "LearnerStatus": "learner_status",
    "Notes": "notes",
    "VersionNumber": "version",
}
#: The Learner columns a registration or an update writes.
DETAIL_COLUMNS = (
    "title",
    "given_name",
    "middle_other_name",
    "family_name",
    "preferred_given_name",
    "previous_family_name",
    "family_name_at_age16",
    "school_at_age16",
    "address_line1",
    "address_line2",
    "address_town",
    "address_county_or_city",
    "postcode",
    "date_of_address_capture",
    "date_of_birth",
    "place_of_birth",
    "gender",
    "email_address",
    "nationality",
    "scottish_candidate_number",
    "verification_type",
    "other_verification_description",
    "ability_to_share",
    "notes",
)

#: The fields a registration or an update carries, with their columns.
DETAIL_FIELDS: dict[str, str] = {
    name: column for name, column in LEARNER_COLUMNS.items() if column in DETAIL_COLUMNS
}


def parse_date(value: str | None, name: str) -> dt.date | None:
    """A ``YYYY-MM-DD`` field as a date; one the calendar lacks (30 February) is refused."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise exceptions.InvalidDetails(f"{name} {value} is not a calendar date") from None
