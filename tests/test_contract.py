"""The published SOAP contract (wsdl/LearnerService.wsdl + xsd/*.xsd).

No server needed: the schemas are compiled with xmlschema and lxml, the WSDL is
loaded with zeep, and hand-written messages in the shape real LRS clients send
(qualified root, unqualified children, unknown optional fields as EMPTY elements)
are validated against them. All data is synthetic.
"""

from pathlib import Path

import pytest
import xmlschema
import zeep
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
XSD_DIR = ROOT / "xsd"
WSDL_PATH = ROOT / "wsdl" / "LearnerService.wsdl"

LRS = "http://api.lrs.miap.gov.uk/"
NS = {
    name: LRS + name
    for name in (
        "learner",
        "findmsg",
        "regmsg",
        "reportmsg",
        "batchmsg",
        "vldmsg",
        "learnerrec",
        "exceptions",
    )
}
XSD_FILES = {name: XSD_DIR / f"{name}.xsd" for name in NS}

OPERATIONS = {
    "learnerByULN": ("findmsg", "FindLearnerByULN", "FindLearnerResponse"),
    "learnerByDemographics": (
        "findmsg",
        "FindLearnerByDemographics",
        "FindLearnerResponse",
    ),
    "registerSingleLearner": ("regmsg", "RegisterLearner", "RegisterLearnerResponse"),
    "updateSingleLearner": ("regmsg", "UpdateLearner", "UpdateLearnerResponse"),
    "verifyLearner": ("reportmsg", "VerifyLearner", "VerifyLearnerResponse"),
    "retrieveULNs": ("reportmsg", "RetrieveULNs", "RetrieveULNsResponse"),
    "getMergedUnmergedULNsReport": (
        "reportmsg",
        "GetMergedUnmergedULNs",
        "MergedUnmergedULNsResponse",
    ),
    "getDeletedULNsReport": ("reportmsg", "GetDeletedULNs", "DeletedULNsResponse"),
    "submitBatchRegistration": ("batchmsg", "SubmitBatch", "SubmitBatchResponse"),
    "getBatchRegistrationOutput": (
        "batchmsg",
        "GetSubmitBatchOutput",
        "GetSubmitBatchOutputResponse",
    ),
    "submitVerifyBatch": ("vldmsg", "SubmitVerifyBatch", "SubmitVerifyBatchResponse"),
    "getVerifyBatchOutput": ("vldmsg", "GetVerifyBatchOutput", "GetVerifyBatchOutputResponse"),
    "getLearnerRecord": ("learnerrec", "GetLearnerRecord", "GetLearnerRecordResp"),
}

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP_WSDL = "http://schemas.xmlsoap.org/wsdl/soap/"
WSDL_TNS = "http://learner.webservice.miap.gov.uk"

#: operation -> (input message, output message), as the national WSDL names them.
MESSAGE_NAMES = {
    "learnerByULN": ("learnerByULNRequest", "findLearnerByULNResponse"),
    "learnerByDemographics": ("learnerByDemographicsRequest", "findLearnerByDemographicsResponse"),
    "registerSingleLearner": ("registerSingleLearnerRequest", "registerSingleLearnerResponse"),
    "updateSingleLearner": ("updateSingleLearnerRequest", "updateLearnerResponse"),
    "verifyLearner": ("verifyLearnerRequest", "verifyLearnerResponse"),
    "retrieveULNs": ("retrieveULNsRequest", "retrieveULNsResponse"),
    "getMergedUnmergedULNsReport": (
        "mergedUnmergedULNsReportRequest",
        "mergedUnmergedULNsReportResponse",
    ),
    "getDeletedULNsReport": ("deletedULNsReportRequest", "deletedULNsReportResponse"),
    "submitBatchRegistration": ("submitBatchRequest", "submitBatchResponse"),
    "getBatchRegistrationOutput": ("batchOutputRequest", "batchOutputResponse"),
    "submitVerifyBatch": ("submitVerifyBatchRequest", "submitVerifyBatchResponse"),
    "getVerifyBatchOutput": ("verifyBatchOutputRequest", "verifyBatchOutputResponse"),
    "getLearnerRecord": ("learnerRecordRequest", "learnerRecordResponse"),
}

# Synthetic values. 1000000043 and 1026893096 are valid ULN test vectors.
ULN = "1000000043"
ULN2 = "1026893096"
HEADER = """
  <OrganisationRef/>
  <UKPRN>10000001</UKPRN>
  <OrgPassword>Abcdefgh12345678</OrgPassword>
  <UserName>contract-tester</UserName>"""


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def lxml_schemas():
    return {name: etree.XMLSchema(etree.parse(str(path))) for name, path in XSD_FILES.items()}


@pytest.fixture(scope="module")
def xs_schemas():
    return {name: xmlschema.XMLSchema(str(path)) for name, path in XSD_FILES.items()}


@pytest.fixture(scope="module")
def client():
    return zeep.Client(str(WSDL_PATH))


def _errors(doc: str, lxml_schemas, xs_schemas):
    """Validate with both validators; return (lxml_ok, xmlschema_ok, messages)."""
    root = etree.fromstring(doc.encode())
    ns = etree.QName(root).namespace
    name = ns[len(LRS) :]
    lxml_schema = lxml_schemas[name]
    lxml_ok = lxml_schema.validate(root)
    xs_errors = list(xs_schemas[name].iter_errors(doc))
    messages = [str(e) for e in lxml_schema.error_log] + [str(e) for e in xs_errors]
    return lxml_ok, not xs_errors, messages


def assert_valid(doc, lxml_schemas, xs_schemas):
    lxml_ok, xs_ok, messages = _errors(doc, lxml_schemas, xs_schemas)
    assert lxml_ok and xs_ok, "\n".join(messages)


def assert_invalid(doc, lxml_schemas, xs_schemas):
    lxml_ok, xs_ok, _ = _errors(doc, lxml_schemas, xs_schemas)
    assert not lxml_ok, "lxml accepted an invalid document"
    assert not xs_ok, "xmlschema accepted an invalid document"


# --------------------------------------------------------------------------- sample messages

FIND_BY_ULN = f"""<f:FindLearnerByULN xmlns:f="{NS["findmsg"]}">
  <FindType>FUL</FindType>{HEADER}
  <ULN>{ULN}</ULN>
  <FamilyName>Testperson</FamilyName>
  <GivenName>Example</GivenName>
</f:FindLearnerByULN>"""

FIND_BY_DEMOGRAPHICS = f"""<f:FindLearnerByDemographics xmlns:f="{NS["findmsg"]}">
  <FindType>FUL</FindType>{HEADER}
  <FamilyName>Testperson</FamilyName>
  <GivenName>Example</GivenName>
  <DateOfBirth>2001-02-03</DateOfBirth>
  <Gender>2</Gender>
  <LastKnownPostCode>SW1A 1AA</LastKnownPostCode>
  <PreviousFamilyName/>
  <SchoolAtAge16/>
  <PlaceOfBirth/>
  <EmailAddress/>
</f:FindLearnerByDemographics>"""

LEARNER_FIELDS = """
    <Title/>
    <GivenName>Example</GivenName>
    <MiddleOtherName/>
    <FamilyName>Testperson</FamilyName>
    <PreferredGivenName/>
    <PreviousFamilyName/>
    <FamilyNameAtAge16/>
    <SchoolAtAge16/>
    <LastKnownAddressLine1>1 Example Street</LastKnownAddressLine1>
    <LastKnownAddressLine2/>
    <LastKnownAddressTown>Exampletown</LastKnownAddressTown>
    <LastKnownAddressCountyOrCity/>
    <LastKnownPostCode>ab1 2ef</LastKnownPostCode>
    <DateOfAddressCapture/>
    <DateOfBirth>2001-02-03</DateOfBirth>
    <PlaceOfBirth/>
    <Gender>1</Gender>
    <EmailAddress/>
    <Nationality/>
    <ScottishCandidateNumber/>
    <VerificationType>1</VerificationType>
    <OtherVerificationDescription/>
    <AbilityToShare>1</AbilityToShare>
    <Notes/>"""

REGISTER = f"""<r:RegisterLearner xmlns:r="{NS["regmsg"]}">{HEADER}
  <Learner>{LEARNER_FIELDS}
  </Learner>
</r:RegisterLearner>"""

UPDATE = f"""<r:UpdateLearner xmlns:r="{NS["regmsg"]}">{HEADER}
  <Learner>{LEARNER_FIELDS}
    <ULN>{ULN}</ULN>
    <VersionNumber>3</VersionNumber>
  </Learner>
</r:UpdateLearner>"""

VERIFY = f"""<rp:VerifyLearner xmlns:rp="{NS["reportmsg"]}">{HEADER}
  <LearnerToVerify>
    <ULN>{ULN}</ULN>
    <FamilyName>Testperson</FamilyName>
    <GivenName>Example</GivenName>
    <DateOfBirth/>
    <Gender/>
  </LearnerToVerify>
</rp:VerifyLearner>"""

RETRIEVE = f"""<rp:RetrieveULNs xmlns:rp="{NS["reportmsg"]}">{HEADER}
  <ULNsToRetrieve>
    <ULN>{ULN}</ULN>
    <ULN>{ULN2}</ULN>
  </ULNsToRetrieve>
</rp:RetrieveULNs>"""

MERGED_REQUEST = f"""<rp:GetMergedUnmergedULNs xmlns:rp="{NS["reportmsg"]}">{HEADER}
  <FromDate>2024-01-01</FromDate>
  <ToDate/>
</rp:GetMergedUnmergedULNs>"""

DELETED_REQUEST = f"""<rp:GetDeletedULNs xmlns:rp="{NS["reportmsg"]}">{HEADER}
  <FromDate>2024-01-01</FromDate>
  <ToDate>2024-12-31</ToDate>
</rp:GetDeletedULNs>"""

REQUESTS = {
    "FindLearnerByULN": FIND_BY_ULN,
    "FindLearnerByDemographics": FIND_BY_DEMOGRAPHICS,
    "RegisterLearner": REGISTER,
    "UpdateLearner": UPDATE,
    "VerifyLearner": VERIFY,
    "RetrieveULNs": RETRIEVE,
    "GetMergedUnmergedULNs": MERGED_REQUEST,
    "GetDeletedULNs": DELETED_REQUEST,
}


def find_response(linked: str) -> str:
    return f"""<f:FindLearnerResponse xmlns:f="{NS["findmsg"]}" xmlns:l="{NS["learner"]}">
  <ResponseCode>WSRC0022</ResponseCode>
  <ULN>{ULN2}</ULN>
  <FamilyName>Testperson</FamilyName>
  <GivenName>Example</GivenName>
  <Learner>
    <CreatedDate>2024-01-02</CreatedDate>
    <LastUpdatedDate>2024-06-07</LastUpdatedDate>
    <ULN>{ULN}</ULN>
    <MasterSubstituted>Y</MasterSubstituted>
    <GivenName>Example</GivenName>
    <FamilyName>Testperson</FamilyName>
    <LastKnownPostCode>BFPO 123</LastKnownPostCode>
    <DateOfBirth>2001-02-03</DateOfBirth>
    <Gender>2</Gender>
    <VerificationType>1</VerificationType>
    <TierLevel>0</TierLevel>
    <AbilityToShare>1</AbilityToShare>
    <LearnerStatus>1</LearnerStatus>{linked}
    <VersionNumber>2</VersionNumber>
  </Learner>
</f:FindLearnerResponse>"""


LINKED_QUALIFIED = f"""
    <l:LinkedULNs>
      <l:ULN>{ULN2}</l:ULN>
    </l:LinkedULNs>"""
LINKED_UNQUALIFIED = f"""
    <LinkedULNs>
      <ULN>{ULN2}</ULN>
    </LinkedULNs>"""


RESPONSES = {
    "RegisterLearnerResponse": f"""<r:RegisterLearnerResponse xmlns:r="{NS["regmsg"]}">
  <ResponseCode>WSRC0005</ResponseCode><ULN>{ULN}</ULN>
</r:RegisterLearnerResponse>""",
    "UpdateLearnerResponse": f"""<r:UpdateLearnerResponse xmlns:r="{NS["regmsg"]}">
  <ResponseCode>WSRC0005</ResponseCode>
</r:UpdateLearnerResponse>""",
    "VerifyLearnerResponse": f"""<rp:VerifyLearnerResponse xmlns:rp="{NS["reportmsg"]}">
  <VerifiedLearner>
    <SearchedULN>123</SearchedULN>
    <SearchedFamilyName>Testperson</SearchedFamilyName>
    <SearchedGivenName>Example</SearchedGivenName>
    <SearchedDateOfBirth/>
    <SearchedGender/>
    <ResponseCode>WSVRC003</ResponseCode>
    <ULN>{ULN}</ULN>
    <FamilyName>Testperson</FamilyName>
    <GivenName>Exampel</GivenName>
    <DateOfBirth>2001-02-03</DateOfBirth>
    <Gender>9</Gender>
    <FailureFlag>VRF1</FailureFlag>
    <FailureFlag>VRF8</FailureFlag>
  </VerifiedLearner>
</rp:VerifyLearnerResponse>""",
    "RetrieveULNsResponse": f"""<rp:RetrieveULNsResponse xmlns:rp="{NS["reportmsg"]}">
  <RetrievedULNs>
    <VerifiedULN>
      <ULN>{ULN2}</ULN>
      <MasterULN>{ULN}</MasterULN>
      <ResponseCode>WSRC0022</ResponseCode>
      <FamilyName>Testperson</FamilyName>
      <GivenName>Example</GivenName>
      <DateOfBirth>2001-02-03</DateOfBirth>
      <Gender>1</Gender>
    </VerifiedULN>
    <VerifiedULN><ULN>12345</ULN><ResponseCode>WSEC0136</ResponseCode></VerifiedULN>
  </RetrievedULNs>
</rp:RetrieveULNsResponse>""",
    "MergedUnmergedULNsResponse": f"""<rp:MergedUnmergedULNsResponse
    xmlns:rp="{NS["reportmsg"]}">
  <ResponseCode>WSRC0004</ResponseCode>
  <FromDate>2024-01-01</FromDate>
  <ToDate/>
  <ULNReport>
    <MergedLearners>
      <MergedLearner>
        <MasterULN>{ULN}</MasterULN>
        <MasterFamilyName>Testperson</MasterFamilyName>
        <MasterGivenName>Example</MasterGivenName>
        <MasterDateOfBirth>2001-02-03</MasterDateOfBirth>
        <MergedULN>{ULN2}</MergedULN>
        <MergedFamilyName>Testperson</MergedFamilyName>
        <MergedGivenName>Example</MergedGivenName>
        <MergedDateOfBirth>2001-02-03</MergedDateOfBirth>
        <MergedDate>2024-03-04</MergedDate>
      </MergedLearner>
    </MergedLearners>
    <UnmergedLearners>
      <UnmergedLearner>
        <MasterULN>{ULN}</MasterULN>
        <MasterFamilyName>Testperson</MasterFamilyName>
        <MasterGivenName>Example</MasterGivenName>
        <MasterDateOfBirth>2001-02-03</MasterDateOfBirth>
        <UnmergedULN>{ULN2}</UnmergedULN>
        <UnmergedFamilyName>Testperson</UnmergedFamilyName>
        <UnmergedGivenName>Example</UnmergedGivenName>
        <UnmergedDateOfBirth>2001-02-03</UnmergedDateOfBirth>
        <UnmergedDate>2024-05-06</UnmergedDate>
      </UnmergedLearner>
    </UnmergedLearners>
  </ULNReport>
</rp:MergedUnmergedULNsResponse>""",
    "DeletedULNsResponse": f"""<rp:DeletedULNsResponse xmlns:rp="{NS["reportmsg"]}">
  <ResponseCode>WSRC0004</ResponseCode>
  <FromDate>2024-01-01</FromDate>
  <ULNReport>
    <DeletedLearners>
      <DeletedLearner><ULN>{ULN}</ULN>
        <DeletedDate>2024-02-03</DeletedDate></DeletedLearner>
    </DeletedLearners>
  </ULNReport>
</rp:DeletedULNsResponse>""",
    "MIAPAPIException": f"""<e:MIAPAPIException xmlns:e="{NS["exceptions"]}">
  <ErrorCode>WSEC0001</ErrorCode>
  <ErrorActor/>
  <Description>Badly formed request</Description>
  <FurtherDetails/>
  <ErrorTimestamp>2024-01-02 03:04:05</ErrorTimestamp>
</e:MIAPAPIException>""",
}


# --------------------------------------------------------------------------- 1. schemas compile


@pytest.mark.parametrize("name", sorted(XSD_FILES))
def test_xsd_compiles_with_xmlschema(name):
    schema = xmlschema.XMLSchema(str(XSD_FILES[name]))
    assert schema.target_namespace == NS[name]


@pytest.mark.parametrize("name", sorted(XSD_FILES))
def test_xsd_compiles_with_lxml(name):
    etree.XMLSchema(etree.parse(str(XSD_FILES[name])))


@pytest.mark.parametrize("name", sorted(XSD_FILES))
def test_xsd_is_unqualified_and_imports_relatively(name):
    root = etree.parse(str(XSD_FILES[name])).getroot()
    assert "elementFormDefault" not in root.attrib
    for imp in root.iter("{http://www.w3.org/2001/XMLSchema}import"):
        location = imp.get("schemaLocation")
        assert location == XSD_FILES[imp.get("namespace")[len(LRS) :]].name


# --------------------------------------------------------------------------- 2. WSDL via zeep


def test_wsdl_lists_exactly_the_published_operations(client):
    assert list(client.wsdl.services) == ["LearnerService"]
    assert list(client.wsdl.services["LearnerService"].ports) == ["LearnerService"]
    port = client.wsdl.services["LearnerService"].ports["LearnerService"]
    assert port.binding.name == etree.QName(WSDL_TNS, "LearnerBinding")
    operations = port.binding._operations
    assert set(operations) == set(OPERATIONS)
    for name, (ns, request, response) in OPERATIONS.items():
        operation = operations[name]
        assert operation.soapaction == ""
        assert operation.input.body.qname == etree.QName(NS[ns], request)
        assert operation.output.body.qname == etree.QName(NS[ns], response)
        assert set(operation.faults) == {"exception"}
    assert port.binding_options["address"] == "http://localhost:8000/LearnerService.svc"


def test_a_strict_client_binds_by_the_national_names(client):
    """zeep's ``bind()``, like .NET and JAXB code generated from the national WSDL, looks the
    service and port up by name: any other name breaks it."""
    bound = client.bind("LearnerService", "LearnerService")
    assert set(bound._binding._operations) == set(OPERATIONS)
    with pytest.raises(ValueError):
        client.bind("LearnerService", "LearnerServicePort")


def test_wsdl_uses_the_national_message_names():
    root = etree.parse(str(WSDL_PATH)).getroot()
    port_type = root.find(f"{{{WSDL}}}portType[@name='LearnerPortType']")
    assert port_type is not None
    names = {}
    for operation in port_type.findall(f"{{{WSDL}}}operation"):
        [input_, output] = operation.findall(f"{{{WSDL}}}input") + operation.findall(
            f"{{{WSDL}}}output"
        )
        assert input_.get("message") == f"impl:{input_.get('name')}"
        assert output.get("message") == f"impl:{output.get('name')}"
        [fault] = operation.findall(f"{{{WSDL}}}fault")
        assert fault.get("name") == "exception"
        names[operation.get("name")] = (input_.get("name"), output.get("name"))
    assert names == MESSAGE_NAMES
    declared = {message.get("name") for message in root.findall(f"{{{WSDL}}}message")}
    assert {name for pair in MESSAGE_NAMES.values() for name in pair} <= declared
    for binding_operation in root.findall(f"{{{WSDL}}}binding/{{{WSDL}}}operation"):
        [fault] = binding_operation.findall(f"{{{WSDL}}}fault")
        assert fault.get("name") == "exception"
        assert fault.find(f"{{{SOAP_WSDL}}}fault").get("name") == "exception"


def test_wsdl_declares_document_literal_soap11():
    root = etree.parse(str(WSDL_PATH)).getroot()
    wsdl, soap = WSDL, SOAP_WSDL
    assert root.get("targetNamespace") == "http://learner.webservice.miap.gov.uk"
    binding = root.find(f"{{{wsdl}}}binding")
    assert binding.get("name") == "LearnerBinding"
    soap_binding = binding.find(f"{{{soap}}}binding")
    assert soap_binding.get("style") == "document"
    assert soap_binding.get("transport") == "http://schemas.xmlsoap.org/soap/http"
    for use in binding.iter(f"{{{soap}}}body", f"{{{soap}}}fault"):
        assert use.get("use") == "literal"
    for fault in root.iter(f"{{{wsdl}}}fault"):
        if fault.get("message") is None:
            continue  # the binding's fault
        name = fault.get("message").partition(":")[2]
        part = root.find(f"{{{wsdl}}}message[@name='{name}']/{{{wsdl}}}part")
        assert part.get("element") == "exceptions:MIAPAPIException"
    service = root.find(f"{{{wsdl}}}service")
    assert service.get("name") == "LearnerService"
    [port] = service.findall(f"{{{wsdl}}}port")
    assert (port.get("name"), port.get("binding")) == ("LearnerService", "impl:LearnerBinding")


def test_zeep_serialises_real_client_shape(client, lxml_schemas, xs_schemas):
    envelope = client.create_message(
        client.service,
        "learnerByULN",
        FindType="FUL",
        UKPRN="10000001",
        OrgPassword="Abcdefgh12345678",
        UserName="contract-tester",
        ULN=ULN,
        FamilyName="Testperson",
        GivenName="Example",
    )
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    request = body[0]
    assert request.tag == f"{{{NS['findmsg']}}}FindLearnerByULN"
    assert [child.tag for child in request] == [
        "FindType",
        "UKPRN",
        "OrgPassword",
        "UserName",
        "ULN",
        "FamilyName",
        "GivenName",
    ]
    assert_valid(etree.tostring(request).decode(), lxml_schemas, xs_schemas)


def test_zeep_parses_linked_ulns(client):
    element = client.get_element(f"{{{NS['findmsg']}}}FindLearnerResponse")
    result = element.parse(etree.fromstring(find_response(LINKED_QUALIFIED)), client.wsdl.types)
    assert result.ResponseCode == "WSRC0022"
    learner = result.Learner[0]
    assert learner.ULN == ULN
    assert (learner.CreatedDate, learner.LastUpdatedDate) == ("2024-01-02", "2024-06-07")
    assert learner.DateOfBirth == "2001-02-03"
    assert learner.Gender == "2"
    assert learner.LinkedULNs.ULN == [ULN2]
    assert learner.VersionNumber == 2


# ------------------------------------------------------------------ 3. real-client requests


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_real_client_request_validates(name, lxml_schemas, xs_schemas):
    assert_valid(REQUESTS[name], lxml_schemas, xs_schemas)


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_response_validates(name, lxml_schemas, xs_schemas):
    assert_valid(RESPONSES[name], lxml_schemas, xs_schemas)


def test_register_accepts_empty_date_of_address_capture(lxml_schemas, xs_schemas):
    assert "<DateOfAddressCapture/>" in REGISTER
    assert_valid(REGISTER, lxml_schemas, xs_schemas)
    filled = REGISTER.replace(
        "<DateOfAddressCapture/>",
        "<DateOfAddressCapture>2024-09-01</DateOfAddressCapture>",
    )
    assert_valid(filled, lxml_schemas, xs_schemas)


def test_register_requires_verification_type_and_ability_to_share(lxml_schemas, xs_schemas):
    for line in (
        "<VerificationType>1</VerificationType>",
        "<AbilityToShare>1</AbilityToShare>",
    ):
        assert_invalid(REGISTER.replace(line, ""), lxml_schemas, xs_schemas)


def test_update_needs_uln_and_version_last(lxml_schemas, xs_schemas):
    reordered = UPDATE.replace(f"<ULN>{ULN}</ULN>", "").replace(
        "<Title/>", f"<ULN>{ULN}</ULN><Title/>"
    )
    assert_invalid(reordered, lxml_schemas, xs_schemas)
    assert_invalid(UPDATE.replace("<VersionNumber>3</VersionNumber>", ""), lxml_schemas, xs_schemas)


def test_request_children_must_be_unqualified(lxml_schemas, xs_schemas):
    qualified = FIND_BY_ULN.replace("<FindType>FUL</FindType>", "<f:FindType>FUL</f:FindType>")
    assert_invalid(qualified, lxml_schemas, xs_schemas)


# --------------------------------------------------------------------------- 4. LinkedULNs


def test_find_response_with_qualified_linked_ulns_validates(lxml_schemas, xs_schemas):
    assert_valid(find_response(LINKED_QUALIFIED), lxml_schemas, xs_schemas)
    assert_valid(find_response(""), lxml_schemas, xs_schemas)


def test_find_response_with_unqualified_linked_ulns_fails(lxml_schemas, xs_schemas):
    assert_invalid(find_response(LINKED_UNQUALIFIED), lxml_schemas, xs_schemas)


def test_find_response_with_qualified_learner_child_fails(lxml_schemas, xs_schemas):
    doc = find_response(LINKED_QUALIFIED).replace(
        f"<ULN>{ULN}</ULN>\n    <MasterSubstituted>",
        f"<l:ULN>{ULN}</l:ULN>\n    <MasterSubstituted>",
    )
    assert f"<l:ULN>{ULN}</l:ULN>" in doc
    assert_invalid(doc, lxml_schemas, xs_schemas)


def test_find_response_without_learners_validates(lxml_schemas, xs_schemas):
    doc = f"""<f:FindLearnerResponse xmlns:f="{NS["findmsg"]}">
  <ResponseCode>WSRC0001</ResponseCode>
  <FamilyName>Testperson</FamilyName>
  <GivenName>Example</GivenName>
  <DateOfBirth>2001-02-03</DateOfBirth>
  <Gender>2</Gender>
  <LastKnownPostCode>SW1A 1AA</LastKnownPostCode>
  <PreviousFamilyName/>
</f:FindLearnerResponse>"""
    assert_valid(doc, lxml_schemas, xs_schemas)


# --------------------------------------------------------------------------- 5. negative cases

NEGATIVE = {
    "gender 5": (FIND_BY_DEMOGRAPHICS, "<Gender>2</Gender>", "<Gender>5</Gender>"),
    "ULN with 9 digits": (FIND_BY_ULN, f"<ULN>{ULN}</ULN>", "<ULN>100000004</ULN>"),
    "ULN with leading zero": (RETRIEVE, f"<ULN>{ULN}</ULN>", "<ULN>0123456789</ULN>"),
    "OrgPassword of 15 chars": (
        VERIFY,
        "<OrgPassword>Abcdefgh12345678</OrgPassword>",
        "<OrgPassword>Abcdefgh1234567</OrgPassword>",
    ),
    "missing GivenName": (FIND_BY_ULN, "<GivenName>Example</GivenName>", ""),
    "empty required GivenName": (
        FIND_BY_DEMOGRAPHICS,
        "<GivenName>Example</GivenName>",
        "<GivenName>  </GivenName>",
    ),
    "elements out of order": (
        FIND_BY_ULN,
        "<FamilyName>Testperson</FamilyName>\n  <GivenName>Example</GivenName>",
        "<GivenName>Example</GivenName>\n  <FamilyName>Testperson</FamilyName>",
    ),
    "DateOfBirth month 13": (
        FIND_BY_DEMOGRAPHICS,
        "<DateOfBirth>2001-02-03</DateOfBirth>",
        "<DateOfBirth>2001-13-01</DateOfBirth>",
    ),
    "register DateOfBirth month 13": (
        REGISTER,
        "<DateOfBirth>2001-02-03</DateOfBirth>",
        "<DateOfBirth>2001-13-01</DateOfBirth>",
    ),
    "postcode NOTAPOSTCODE": (
        FIND_BY_DEMOGRAPHICS,
        "<LastKnownPostCode>SW1A 1AA</LastKnownPostCode>",
        "<LastKnownPostCode>NOTAPOSTCODE</LastKnownPostCode>",
    ),
    "FindType XYZ": (
        FIND_BY_ULN,
        "<FindType>FUL</FindType>",
        "<FindType>XYZ</FindType>",
    ),
    "UKPRN of 7 digits": (
        REGISTER,
        "<UKPRN>10000001</UKPRN>",
        "<UKPRN>1000001</UKPRN>",
    ),
    "empty UserName": (UPDATE, "<UserName>contract-tester</UserName>", "<UserName/>"),
    "VerificationType 8": (
        REGISTER,
        "<VerificationType>1</VerificationType>",
        "<VerificationType>8</VerificationType>",
    ),
    "GivenName of 36 chars": (
        FIND_BY_ULN,
        "<GivenName>Example</GivenName>",
        f"<GivenName>{'E' * 36}</GivenName>",
    ),
    "empty FromDate": (
        MERGED_REQUEST,
        "<FromDate>2024-01-01</FromDate>",
        "<FromDate/>",
    ),
    "unknown element": (VERIFY, "<Gender/>", "<Gender/><Extra/>"),
}


@pytest.mark.parametrize("case", sorted(NEGATIVE))
def test_negative_case_fails_validation(case, lxml_schemas, xs_schemas):
    doc, old, new = NEGATIVE[case]
    assert old in doc, "test setup: replacement target missing"
    assert_invalid(doc.replace(old, new, 1), lxml_schemas, xs_schemas)


def test_too_many_ulns_to_retrieve_fails(lxml_schemas, xs_schemas):
    many = "".join(f"<ULN>{ULN}</ULN>" for _ in range(201))
    doc = RETRIEVE.replace(f"<ULN>{ULN}</ULN>\n    <ULN>{ULN2}</ULN>", many)
    assert_invalid(doc, lxml_schemas, xs_schemas)


# --------------------------------------------------------------------------- simple types


@pytest.mark.parametrize(
    "postcode, ok",
    [
        ("SW1A 1AA", True),
        ("sw1a1aa", True),
        ("M1 1AE", True),
        ("B33 8TH", True),
        ("CR2 6XH", True),
        ("DN55 1PT", True),
        ("BFPO 1234", True),
        ("bfpo57", True),
        ("NOTAPOSTCODE", False),
        ("SW1A  1AA", False),
        ("SW1A 1AC", False),
        ("BFPO 12345", False),
        ("", False),
    ],
)
def test_postcode_type(postcode, ok, lxml_schemas, xs_schemas):
    doc = FIND_BY_DEMOGRAPHICS.replace(
        "<LastKnownPostCode>SW1A 1AA</LastKnownPostCode>",
        f"<LastKnownPostCode>{postcode}</LastKnownPostCode>",
    )
    (assert_valid if ok else assert_invalid)(doc, lxml_schemas, xs_schemas)


@pytest.mark.parametrize(
    "timestamp, ok",
    [
        ("2024-01-02 03:04:05", True),
        ("1999-12-31 23:59:59", True),
        ("2024-01-02T03:04:05", False),
        ("2024-01-02 24:00:00", False),
        ("2024-01-02 03:60:00", False),
        ("2024-01-02", False),
    ],
)
def test_date_time_type(timestamp, ok, lxml_schemas, xs_schemas):
    doc = RESPONSES["MIAPAPIException"].replace("2024-01-02 03:04:05", timestamp)
    (assert_valid if ok else assert_invalid)(doc, lxml_schemas, xs_schemas)


@pytest.mark.parametrize(
    "code, ok",
    [
        ("WSRC0001", True),
        ("WSRC0022", True),
        ("WSVRC001", True),
        ("WSVRC006", True),
        ("WSEC0136", True),
        ("WSRC001", False),
        ("WSVRC0001", False),
        ("wsrc0001", False),
        ("", False),
    ],
)
def test_response_code_type(code, ok, lxml_schemas, xs_schemas):
    doc = RESPONSES["UpdateLearnerResponse"].replace("WSRC0005", code)
    (assert_valid if ok else assert_invalid)(doc, lxml_schemas, xs_schemas)


# --------------------------------------------------------------------------- dates are dates


@pytest.mark.parametrize(
    "message, element",
    [
        ("find", "CreatedDate"),
        ("find", "LastUpdatedDate"),
        ("MergedUnmergedULNsResponse", "MergedDate"),
        ("MergedUnmergedULNsResponse", "UnmergedDate"),
        ("MergedUnmergedULNsResponse", "MasterDateOfBirth"),
        ("DeletedULNsResponse", "DeletedDate"),
    ],
)
def test_a_time_part_in_a_date_is_refused(message, element, lxml_schemas, xs_schemas):
    """A strict client typed from the national schemas rejects a time in a date field."""
    doc = find_response("") if message == "find" else RESPONSES[message]
    opening = f"<{element}>"
    start = doc.index(opening) + len(opening)
    date = doc[start : doc.index(f"</{element}>")]
    assert len(date) == 10
    assert_invalid(doc[:start] + date + " 00:00:00" + doc[start + 10 :], lxml_schemas, xs_schemas)


@pytest.mark.parametrize("old", ["ULN", "FamilyName", "GivenName", "DateOfBirth"])
def test_report_items_use_the_spec_names(old, lxml_schemas, xs_schemas):
    doc = RESPONSES["MergedUnmergedULNsResponse"]
    renamed = doc.replace(f"<Merged{old}>", f"<{old}>").replace(f"</Merged{old}>", f"</{old}>")
    assert renamed != doc
    assert_invalid(renamed, lxml_schemas, xs_schemas)
    old_stamp = doc.replace("<MergedDate>", "<DateMerged>").replace(
        "</MergedDate>", "</DateMerged>"
    )
    assert_invalid(old_stamp, lxml_schemas, xs_schemas)


# --------------------------------------------------------------------------- nillable elements

XSI = "http://www.w3.org/2001/XMLSchema-instance"
NIL = f'xmlns:xsi="{XSI}" xsi:nil="true"'

#: (request, element) pairs the spec makes nillable.
NILLABLE = [
    *[(name, header) for name in sorted(REQUESTS) for header in ("OrganisationRef", "UKPRN")],
    ("FindLearnerByDemographics", "PreviousFamilyName"),
    ("FindLearnerByDemographics", "SchoolAtAge16"),
    ("FindLearnerByDemographics", "PlaceOfBirth"),
    ("FindLearnerByDemographics", "EmailAddress"),
    ("VerifyLearner", "DateOfBirth"),
    ("VerifyLearner", "Gender"),
]
NOT_NILLABLE = [
    ("FindLearnerByULN", "GivenName"),
    ("FindLearnerByDemographics", "LastKnownPostCode"),
    ("FindLearnerByDemographics", "DateOfBirth"),
    ("RegisterLearner", "Title"),
    ("RegisterLearner", "EmailAddress"),
    ("VerifyLearner", "FamilyName"),
    ("GetDeletedULNs", "ToDate"),
    ("RetrieveULNs", "OrgPassword"),
]


def nil(doc: str, element: str) -> str:
    """``doc`` with its first ``element`` sent as ``xsi:nil="true"`` (empty)."""
    for form in (f"<{element}/>", f"<{element}>"):
        if form in doc:
            start = doc.index(form)
            end = (
                start + len(form)
                if form.endswith("/>")
                else doc.index(f"</{element}>") + len(f"</{element}>")
            )
            return doc[:start] + f"<{element} {NIL}/>" + doc[end:]
    raise AssertionError(f"no {element} in the sample")


@pytest.mark.parametrize("name, element", NILLABLE)
def test_nillable_element_may_be_nil(name, element, lxml_schemas, xs_schemas):
    assert_valid(nil(REQUESTS[name], element), lxml_schemas, xs_schemas)


@pytest.mark.parametrize("name, element", NOT_NILLABLE)
def test_other_elements_may_not_be_nil(name, element, lxml_schemas, xs_schemas):
    assert_invalid(nil(REQUESTS[name], element), lxml_schemas, xs_schemas)


def test_a_nil_element_must_be_empty(lxml_schemas, xs_schemas):
    doc = REQUESTS["FindLearnerByULN"].replace(
        "<UKPRN>10000001</UKPRN>", f"<UKPRN {NIL}>10000001</UKPRN>"
    )
    assert_invalid(doc, lxml_schemas, xs_schemas)


# --------------------------------------------------------------------------- padding, UKPRN


@pytest.mark.parametrize(
    "postcode, ok",
    [
        ("SW1A 1AA ", True),
        ("SW1A 1AA    ", True),
        ("B1 1AA    ", True),
        ("BFPO 57    ", True),
        ("SW1A 1AA     ", False),
        (" SW1A 1AA", False),
        ("    ", False),
    ],
)
def test_postcode_may_carry_up_to_four_trailing_spaces(postcode, ok, lxml_schemas, xs_schemas):
    for doc, old in (
        (FIND_BY_DEMOGRAPHICS, "<LastKnownPostCode>SW1A 1AA</LastKnownPostCode>"),
        (REGISTER, "<LastKnownPostCode>ab1 2ef</LastKnownPostCode>"),
    ):
        new = f"<LastKnownPostCode>{postcode}</LastKnownPostCode>"
        (assert_valid if ok else assert_invalid)(doc.replace(old, new), lxml_schemas, xs_schemas)


@pytest.mark.parametrize(
    "ukprn, ok",
    [("10000001", True), ("1000000A", True), ("abcdefgh", True), ("", True),
     ("1000000", False), ("100000001", False), ("1000-001", False)],
)  # fmt: skip
def test_ukprn_in_requests_is_eight_letters_or_digits(ukprn, ok, lxml_schemas, xs_schemas):
    doc = REGISTER.replace("<UKPRN>10000001</UKPRN>", f"<UKPRN>{ukprn}</UKPRN>")
    (assert_valid if ok else assert_invalid)(doc, lxml_schemas, xs_schemas)
