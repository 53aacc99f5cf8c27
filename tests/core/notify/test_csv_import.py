"""Recipients from CSV: good rows kept, every bad row reported with its line number and its
reasons, and a file that cannot be a recipient list refused with one clear error."""

from __future__ import annotations

import pytest

from opscentre.core.notify.csv_import import parse_csv
from opscentre.core.notify.recipients import Language, Role
from opscentre.core.settings import CITIES_DIR, load_settings

NOW = 1_750_000_000.0
HEADER = "name,phone,zones,lat,lon,radius_m,lang,role,quiet_hours"


@pytest.fixture(scope="module")
def zones():
    return load_settings(CITIES_DIR / "rio" / "demo.yaml").zones


def parse(zones, *lines, header=HEADER, newline="\n"):
    return parse_csv(newline.join([header, *lines]) + newline, zones, NOW, "contatos.csv")


def test_good_rows_become_recipients_with_consent_naming_the_file_and_line(zones):
    rows, errors = parse(zones,
                         "Ana Souza,(21) 98765-4321,Copacabana;leme,,,,pt-BR,community,22:00-07:00",
                         "Bia,021 98765 4322,,-22.9711,-43.1822,500,en,agent,",
                         "Caio,+55 21 98765-4323,SAUDE; 024 ,,,,,,")
    assert errors == []
    ana, bia, caio = (row.recipient for row in rows)
    assert [row.line for row in rows] == [2, 3, 4]
    assert (ana.phone, ana.zone_ids, ana.role, ana.lang, ana.quiet_hours) == (
        "+5521987654321", ("024", "023"), Role.COMMUNITY, Language.PT_BR, ("22:00", "07:00"))
    assert ana.consent.how == "import:contatos.csv:2" and ana.consent.at == NOW == ana.created_at
    assert (bia.point, bia.radius_m, bia.zone_ids, bia.lang, bia.role) == ((-22.9711, -43.1822), 500.0, (), Language.EN,
                                                                          Role.AGENT)
    assert caio.zone_ids == ("001", "024") and caio.role == Role.SUBSCRIBER  # the model's default role


def test_every_bad_row_is_reported_with_its_line_and_the_good_rows_are_kept(zones):
    rows, errors = parse(zones,
                         "Good,(21) 98765-4321,Copacabana,,,,,,",                  # 2
                         "Fixed line,(21) 2345-6789,Copacabana,,,,,,",             # 3
                         "Nowhere,21987654323,,,,,,,",                             # 4
                         "Typo,21987654324,Copacabna;Zzyzx,,,,,,",                 # 5
                         "Swapped,21987654325,,-43.18,-22.97,500,,,",              # 6
                         "Half a point,21987654326,,-22.97,,500,,,",               # 7
                         "Options,21987654327,Centro,,,,fr,boss,25:00-07:00",      # 8
                         "short,row",                                              # 9
                         ",21987654328,Centro,,,,,,",                              # 10
                         "Not a number,21987654329,,abc,-43.18,500,,,",            # 11
                         "Good too,21987654330,Tijuca,,,,,,")                      # 12
    assert [row.line for row in rows] == [2, 12]
    assert errors == [
        "line 3: phone: a fixed line, not a mobile: SMS needs a mobile number",
        "line 4: no place: give zones, or lat, lon and radius_m",
        "line 5: zones: unknown bairro 'Copacabna' (did you mean Copacabana?); unknown bairro 'Zzyzx'",
        "line 6: the point -43.18000,-22.97000 is outside the city (lat and lon swapped?)",
        "line 7: a point needs lat, lon and radius_m",
        ("line 8: lang: language must be one of pt-BR, en; role: role must be one of community, agent, oncall, "
        "subscriber; quiet_hours: quiet hours are HH:MM-HH:MM, e.g. 22:00-07:00"),
        "line 9: 2 fields where the header has 9",
        "line 10: name: missing",
        "line 11: 'abc' is not a number",
    ]


def test_a_second_row_for_the_same_phone_and_role_is_reported_against_the_first(zones):
    rows, errors = parse(zones, "Ana,(21) 98765-4321,Copacabana,,,,,community,",
                         "Ana again,21987654321,Leme,,,,,community,",
                         "Ana the agent,21987654321,Leme,,,,,agent,")
    assert [row.line for row in rows] == [2, 4]
    assert errors == ["line 3: the same phone and role as line 2 (one row per person and role; list its zones in one row)"]


def test_a_bom_crlf_line_endings_blank_lines_and_any_column_order_are_read(zones):
    text = "\ufeffZones, Phone ,NAME\r\nCopacabana,(21) 98765-4321,Ana\r\n\r\n,,\r\nLeme,21987654322,Bia\r\n"
    rows, errors = parse_csv(text, zones, NOW, "x.csv")
    assert errors == []
    assert [(row.line, row.recipient.name, row.recipient.zone_ids) for row in rows] == [
        (2, "Ana", ("024",)), (5, "Bia", ("023",))]


def test_a_quoted_field_over_several_lines_reports_the_line_where_its_row_starts(zones):
    text = 'name,phone,zones\n"Ana\nSouza",21987654321,Copacabana\nBia,bad,Leme\n'
    rows, errors = parse_csv(text, zones, NOW, "x.csv")
    assert rows == []
    assert errors == ["line 2: name: a name may not hold control characters or line breaks",
                      "line 4: phone: not a phone number"]


def test_a_spreadsheet_export_with_semicolons_and_decimal_commas_is_read(zones):
    text = 'name;phone;zones;lat;lon;radius_m\nAna;(21) 98765-4321;"Copacabana;Leme";;;\nBia;21987654322;;-22,9711;-43,1822;250\n'
    rows, errors = parse_csv(text, zones, NOW, "excel.csv")
    assert errors == []
    assert rows[0].recipient.zone_ids == ("024", "023")
    assert rows[1].recipient.point == (-22.9711, -43.1822) and rows[1].recipient.radius_m == 250


def test_hostile_names_are_kept_as_text_or_refused(zones):
    rows, errors = parse(zones, '"<script>alert(""x"")</script> & <b>",21987654321,Saude,,,,,,',
                         f'{"x" * 10_000},21987654322,Saude,,,,,,',
                         '"Ana\u202e",21987654323,Saude,,,,,,')
    assert [row.recipient.name for row in rows] == ['<script>alert("x")</script> & <b>']
    assert errors == ["line 3: name: String should have at most 120 characters",
                      "line 4: name: a name may not hold control characters or line breaks"]


@pytest.mark.parametrize("text,error", [
    ("", "empty file: expected a header row with name, phone and zones (or lat, lon, radius_m)"),
    ("\ufeff\r\n  \r\n", "empty file: expected a header row with name, phone and zones (or lat, lon, radius_m)"),
    ("name,zones\nAna,Leme\n", "line 1: missing column(s): phone"),
    ("name,phone,lat,lon\nAna,21987654321,-22.9,-43.2\n", "line 1: missing column(s): zones (or lat, lon, radius_m)"),
    ("name,phone,zone\n", ("line 1: unknown column(s) 'zone'; the columns are name, phone, zones, lat, lon, radius_m, "
                          "lang, role, quiet_hours")),
    ("name,phone,zones,phone\n", "line 1: column(s) phone given twice"),
])
def test_a_file_that_is_not_a_recipient_list_is_one_clear_error(zones, text, error):
    assert parse_csv(text, zones, NOW, "x.csv") == ([], [error])


def test_a_field_too_large_for_csv_stops_the_read_keeping_the_rows_before_it(zones):
    text = f'name,phone,zones\nAna,21987654321,Leme\nBia,21987654322,"{"x" * 200_000}"\nCaio,21987654323,Leme\n'
    rows, errors = parse_csv(text, zones, NOW, "x.csv")
    assert [row.recipient.name for row in rows] == ["Ana"]
    assert len(errors) == 1 and errors[0].startswith("line 3: unreadable CSV (field larger than field limit")
    assert errors[0].endswith("the rows after it were not read")
