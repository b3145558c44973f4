"""retrieveAllProviders end to end: a real server, raw XML and zeep, answers held to the XSD."""

from __future__ import annotations

import datetime as dt

import pytest
import zeep
from zeep.wsse.username import UsernameToken

from miap.server.namespaces import FINDMSG
from tests.conftest import INACTIVE_PASSWORD, INACTIVE_UKPRN, TEST_PASSWORD, TEST_UKPRN
from tests.support import envelope, run_miap
from tests.support import post as post_learner_service
from tests.support_ukrlp import post, query_url, request, token, ukprn_block, write_csv


class Register:
    """Five providers of this module, found apart from everybody else's by a made-up word."""

    def __init__(self) -> None:
        self.word = token()
        self.other_word = token()
        self.a, self.b, self.c, self.d, self.e = ukprn_block(5)
        self.a_name = f"École {self.word.title()} Leeds"

    def rows(self) -> list[dict[str, str]]:
        w = self.word
        return [
            {
                "UKPRN": self.a,
                "LegalName": self.a_name,
                "TradingName": f"{w} Leeds Trading",
                "Status": "V",
                "Aliases": f"Northern {w} Academy",
                "VerifiedOn": "2020-03-01",
                "Verifications": f"Companies House=CH{w}",
                "LegalPostcode": "LS1 4AP",
                "LegalTown": "Leeds",
                "PrimaryPostcode": "LS6 1AA",
                "PrimaryEmail": "office@example.org",
            },
            {
                "UKPRN": self.b,
                "LegalName": f"{w} Manchester College",
                "Status": "A",
                "VerifiedOn": "2022-06-15",
                "LegalPostcode": "M1 1AE",
            },
            {
                "UKPRN": self.c,
                "LegalName": f"{w} London Institute",
                "Status": "PD1",
                "VerifiedOn": "2018-01-01",
                "LegalPostcode": "EC1A 1BB",
            },
            {
                "UKPRN": self.d,
                "LegalName": f"Other {w} Headingley",
                "Status": "A",
                "LegalPostcode": "ls63aa",
            },
            {
                "UKPRN": self.e,
                "LegalName": f"Unrelated {self.other_word}",
                "Status": "V",
                "LegalPostcode": "YO1 7HH",
            },
        ]


@pytest.fixture(scope="module")
def register(server, tmp_path_factory) -> Register:
    register = Register()
    path = write_csv(tmp_path_factory.mktemp("ukrlp") / "providers.csv", register.rows())
    run_miap("providers", "import", str(path), "--db", server.database_url)
    return register


@pytest.fixture(scope="module")
def url(server) -> str:
    return query_url(server)


def ukprns(url: str, criteria: str, **kwargs) -> list[str]:
    answer = post(url, request(criteria), **kwargs)
    assert answer.fault is None, answer.fault
    return answer.ukprns


def term(word: str) -> str:
    return f"<SearchTerm>{word}</SearchTerm>"


def ukprn_list(*values: str) -> str:
    listed = "".join(
        f"<UnitedKingdomProviderReferenceNumber>{u}</UnitedKingdomProviderReferenceNumber>"
        for u in values
    )
    wrapper = "UnitedKingdomProviderReferenceNumberList"
    return f"<{wrapper}>{listed}</{wrapper}>"


def near(base: str, miles: float) -> str:
    distance = f"<MaxDistanceFromBasePostcode>{miles}</MaxDistanceFromBasePostcode>"
    return f"<BasePostcode>{base}</BasePostcode>{distance}"


# -- each criterion -------------------------------------------------------------------------


def test_search_term_matches_names_and_aliases_without_case_or_accents(url, register):
    r = register
    assert ukprns(url, term(f"ecole {r.word.lower()}")) == [r.a]
    assert ukprns(url, term(f"NORTHERN {r.word} acadÉmy")) == [r.a]  # an alias
    assert ukprns(url, term(f"{r.word} leeds trading")) == [r.a]  # the trading name
    assert ukprns(url, term(r.word)) == sorted([r.a, r.b, r.c, r.d])


def test_ukprn_list_answers_those_providers_in_ukprn_order(url, register):
    r = register
    assert ukprns(url, ukprn_list(r.c, r.a)) == sorted([r.a, r.c])


def test_name_list_matches_whole_names_in_any_case_and_accents(url, register):
    r = register
    names = (
        f"<ProviderNameList><ProviderName>ECOLE {r.word} LEEDS</ProviderName>"
        f"<ProviderName>{r.word.lower()} manchester college</ProviderName>"
        f"<ProviderName>{r.word} Manchester</ProviderName></ProviderNameList>"
    )
    assert ukprns(url, names) == sorted([r.a, r.b])


def test_postcode_list_matches_any_spacing_and_case(url, register):
    r = register
    postcodes = (
        "<PostcodeList><Postcode>ls14ap</Postcode><Postcode>LS6 3AA</Postcode></PostcodeList>"
    )
    found = ukprns(url, postcodes + term(register.word))
    assert found == sorted([r.a, r.d])


def test_base_postcode_and_distance_select_providers_nearby(url, register):
    r = register
    near_leeds = near("LS2 9JT", 5)
    found = ukprns(url, near_leeds)
    assert {r.a, r.d} <= set(found) and not {r.b, r.c, r.e} & set(found)
    assert {r.a, r.d, r.e} <= set(ukprns(url, near("LS2 9JT", 30)))
    # An outward code alone is a base postcode too.
    assert ukprns(url, near_leeds.replace("LS2 9JT", "LS2") + term(r.word)) == sorted([r.a, r.d])


def test_updated_since(url, register):
    tomorrow = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert (
        ukprns(
            url, term(register.word) + f"<ProviderUpdatedSince>{tomorrow}</ProviderUpdatedSince>"
        )
        == []
    )
    since = "<ProviderUpdatedSince>2000-01-01T00:00:00</ProviderUpdatedSince>"
    assert len(ukprns(url, term(register.word) + since)) == 4


def test_verified_after_and_before_make_a_range(url, register):
    r = register
    after = "<ProviderVerifiedAfter>2019-01-01T00:00:00</ProviderVerifiedAfter>"
    before = "<ProviderVerifiedBefore>2021-01-01T00:00:00</ProviderVerifiedBefore>"
    assert ukprns(url, term(r.word) + after) == sorted([r.a, r.b])
    assert ukprns(url, term(r.word) + before) == sorted([r.a, r.c])
    assert ukprns(url, term(r.word) + after + before) == [r.a]


def test_status_and_approved_only_filter(url, register):
    r = register
    assert ukprns(url, term(r.word) + "<ProviderStatus>PD1</ProviderStatus>") == [r.c]
    assert ukprns(url, term(r.word) + "<ApprovedProvidersOnly>Yes</ApprovedProvidersOnly>") == [r.a]
    assert len(ukprns(url, term(r.word) + "<ApprovedProvidersOnly>No</ApprovedProvidersOnly>")) == 4


def test_verification_details(url, register):
    criteria = (
        "<VerificationDetails><VerificationAuthority>Companies House</VerificationAuthority>"
        f"<VerificationID>CH{register.word}</VerificationID></VerificationDetails>"
    )
    assert ukprns(url, criteria) == [register.a]


def test_and_or_combine_criteria(url, register):
    r = register
    one = ukprn_list(r.b)
    other = f"<ProviderNameList><ProviderName>{r.a_name}</ProviderName></ProviderNameList>"
    assert ukprns(url, one + other) == []  # AND is the default
    assert ukprns(url, one + other + "<CriteriaCondition>AND</CriteriaCondition>") == []
    assert ukprns(url, one + other + "<CriteriaCondition>OR</CriteriaCondition>") == sorted(
        [r.a, r.b]
    )
    # Status stays a filter under OR.
    assert ukprns(
        url,
        one + other + "<CriteriaCondition>OR</CriteriaCondition><ProviderStatus>A</ProviderStatus>",
    ) == [r.b]


def test_a_record_carries_every_detail_in_the_contract_order(url, register):
    answer = post(url, request(term(f"ecole {register.word}")))
    record = answer.record(register.a)
    children = [child.tag for child in record]
    assert children == [
        "UnitedKingdomProviderReferenceNumber",
        "ProviderName",
        "ProviderStatus",
        "ProviderContact",
        "ProviderContact",
        "ProviderVerificationDate",
        "ProviderAliases",
        "ProviderAliases",
        "VerificationDetails",
    ]
    assert record.findtext("ProviderName") == register.a_name
    assert record.findtext("ProviderContact/ContactAddress/PostCode") == "LS1 4AP"
    assert [c.findtext("ContactType") for c in record.iter("ProviderContact")] == ["L", "P"]
    assert answer.root.findtext(".//QueryId") == "42"
    assert answer.root.findtext(".//StakeholderId") == "7"


# -- what clients differ in -------------------------------------------------------------------


def test_criteria_in_any_order_get_the_same_answer(url, register):
    r = register
    in_order = (
        f"<ProviderNameList><ProviderName>{r.a_name}</ProviderName></ProviderNameList>"
        f"<SearchTerm>{r.word}</SearchTerm><CriteriaCondition>OR</CriteriaCondition>"
    )
    body = request(in_order)
    reordered = body.replace(in_order.encode(), b"").replace(
        b"<StakeholderId>7</StakeholderId>",
        b"<StakeholderId>7</StakeholderId><CriteriaCondition>OR</CriteriaCondition>"
        + f"<SearchTerm>{r.word}</SearchTerm>".encode()
        + f"<ProviderNameList><ProviderName>{r.a_name}</ProviderName></ProviderNameList>".encode(),
    )
    assert reordered.index(b"<StakeholderId>") < reordered.index(b"<ProviderNameList>")
    expected = sorted([r.a, r.b, r.c, r.d])
    assert post(url, body).ukprns == expected
    assert post(url, reordered).ukprns == expected


@pytest.mark.parametrize(
    "soap_action", [None, "", '""', "retrieveAllProviders", '"retrieveAllProviders"']
)
def test_soap_action_may_be_sent_or_not(url, register, soap_action):
    assert post(url, request(term(register.word)), soap_action=soap_action).ukprns


def test_another_soap_action_is_refused(url, register):
    answer = post(url, request(term(register.word)), soap_action='"deleteAllProviders"')
    assert answer.fault[0] == "InvalidRequest"


def test_zeep_client_from_the_served_wsdl(url, register):
    client = zeep.Client(f"{url}?wsdl", wsse=UsernameToken(TEST_UKPRN, TEST_PASSWORD))
    answer = client.service.retrieveAllProviders(
        SelectionCriteria={
            "SearchTerm": register.word,
            "BasePostcode": "LS2 9JT",
            "MaxDistanceFromBasePostcode": 5,
            "CriteriaCondition": "AND",
            "StakeholderId": 3,
        },
        QueryId="q1",
    )
    assert [
        p.UnitedKingdomProviderReferenceNumber for p in answer.MatchingProviderRecords
    ] == sorted([register.a, register.d])
    first = answer.MatchingProviderRecords[0]
    assert first.ProviderName == register.a_name and first.ProviderStatus == "V"
    assert first.ProviderVerificationDate == dt.date(2020, 3, 1)
    assert (answer.QueryId, answer.StakeholderId) == ("q1", 3)
    with pytest.raises(zeep.exceptions.Fault) as fault:
        client.service.retrieveAllProviders(
            SelectionCriteria={
                "BasePostcode": "BT1 1AA",
                "MaxDistanceFromBasePostcode": 1,
                "StakeholderId": 3,
            },
            QueryId="q2",
        )
    assert [element.text for element in fault.value.detail[0]][0] == "InvalidRequest"


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "minor"),
    [
        (
            near("BT1 1AA", 3),
            "BT1",
        ),
        ("<BasePostcode>LS1 4AP</BasePostcode>", "go together"),
        ("<ProviderStatus>Z</ProviderStatus>", "ProviderStatus"),
        ("<SearchTerm>!!!</SearchTerm>", "no letter"),
        ("<ProviderUpdatedSince>yesterday</ProviderUpdatedSince>", "ProviderUpdatedSince"),
    ],
)
def test_unusable_criteria_are_invalid_requests(url, criteria, minor):
    answer = post(url, request(criteria))
    assert answer.fault[0] == "InvalidRequest" and minor in answer.fault[1]


def test_missing_stakeholder_is_an_invalid_request(url):
    assert post(url, request(term("X"), stakeholder=False)).fault[0] == "InvalidRequest"
    huge = request(term("X")).replace(b">7<", b">99999999999999999999999999999<")
    assert post(url, huge).fault[0] == "InvalidRequest"


def test_not_a_soap_envelope(url):
    assert post(url, b"<hello/>").fault[0] == "InvalidEnvelope"


@pytest.mark.parametrize(
    ("ukprn", "password", "major"),
    [
        (TEST_UKPRN, "WrongPassword001", "NotAuthenticated"),
        (None, "", "NotAuthenticated"),
        ("19999998", TEST_PASSWORD, "NotAuthenticated"),
        ("not-a-ukprn-but-a-rather-long-user-name", TEST_PASSWORD, "NotAuthenticated"),
        (INACTIVE_UKPRN, INACTIVE_PASSWORD, "ProviderNotActive"),
    ],
)
def test_callers_must_be_active_registered_providers(url, ukprn, password, major):
    assert post(url, request(term("X"), ukprn=ukprn, password=password)).fault[0] == major


def test_deactivation_refuses_the_next_request_on_every_route(server, url, register):
    ukprn, password = ukprn_block(1)[0], "ClosingCollege01"
    db = ["--db", server.database_url]
    run_miap(
        "provider", "add", *db, "--ukprn", ukprn, "--name", "Closing", "--org-password", password
    )
    find = envelope(
        f"""<fin:FindLearnerByULN xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>
        <UKPRN>{ukprn}</UKPRN><OrgPassword>{password}</OrgPassword><UserName>u</UserName>
        <ULN>1000000043</ULN><FamilyName>Testperson</FamilyName><GivenName>Example</GivenName>
        </fin:FindLearnerByULN>"""
    )
    query = request(term(register.word), ukprn=ukprn, password=password)
    # Both answered, so both have the password in their process's credential cache.
    assert post(url, query).fault is None
    assert post_learner_service(server.url, find).fault_code is None
    run_miap("provider", "set-status", *db, "--ukprn", ukprn, "--status", "PD1")
    assert post(url, query).fault[0] == "ProviderNotActive"
    assert post_learner_service(server.url, find).fault_code == "WSEC0802"
    run_miap("provider", "set-status", *db, "--ukprn", ukprn, "--status", "V")
    assert post(url, query).fault is None
    run_miap("provider", "set-status", *db, "--ukprn", ukprn, "--status", "PD2")
    assert post(url, query).fault[0] == "ProviderNotActive"
    assert post_learner_service(server.url, find).fault_code == "WSEC0802"


@pytest.mark.slow
def test_more_records_than_an_answer_holds_is_a_fault(server, url, tmp_path):
    from miap.server.ukrlp.query import MAX_RECORDS

    word = token()
    block = ukprn_block(MAX_RECORDS + 1)
    rows = [{"UKPRN": u, "LegalName": f"{word} Bulk {n}"} for n, u in enumerate(block)]
    path = write_csv(tmp_path / "bulk.csv", rows, ("UKPRN", "LegalName"))
    run_miap("providers", "import", str(path), "--db", server.database_url)
    answer = post(url, request(term(word)))
    assert answer.fault[0] == "TooManyRecords" and str(MAX_RECORDS) in answer.fault[1]
    # Narrowed, it answers: a UKPRN list of 200.
    assert post(url, request(ukprn_list(*block[:200]))).ukprns == block[:200]
