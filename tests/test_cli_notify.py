"""Recipients and webhook subscribers through the real `opscentre` command: added, imported,
listed and removed; bad input refused with one clear line (exit 2) and nothing stored; every
change audited; phone numbers never printed unmasked, secrets printed once."""

from __future__ import annotations

import orjson
import pytest
from standardwebhooks import Webhook

from opscentre.core import keys
from tests.cli_helpers import clean_env, opscentre

ANA = "+5521987654321"
ANA_DIGITS = ("21987654321", "98765-4321", "987654321", "87654")  # any of these would be the number unmasked
HOSTILE = '<script>alert("x")</script> & <b>Ana</b>'


@pytest.fixture
def env(redis_server, redis_client):  # redis_client: a flushed database for each test
    return clean_env(REDIS_URL=redis_server.url)


def audit(env) -> list[dict]:
    result = opscentre("audit", "export", env=env)
    assert result.returncode == 0, result.stderr
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def refused(result, message: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip().splitlines() == [f"opscentre: {message}"]


def no_phone_in(text: str) -> None:
    for digits in ANA_DIGITS:
        assert digits not in text


def test_add_prints_the_id_and_masked_phone_and_list_shows_zones_by_name(env, redis_client):
    result = opscentre("recipients", "add", "--name", HOSTILE, "--phone", "(21) 98765-4321", "--zone", "copacabana",
                       "--zone", "024", "--zone", "Saude", "--role", "community", "--lang", "en",
                       "--quiet", "22:00-07:00", env=env)
    assert result.returncode == 0, result.stderr
    recipient_id = result.stdout.split()[0]
    assert recipient_id.startswith("r-")
    assert result.stdout.strip() == f"{recipient_id} added: +55 21 9****-**21, community, Copacabana, Saúde"
    stored = orjson.loads(redis_client.hget(keys.RECIPIENTS, recipient_id))
    assert stored["phone"] == ANA and stored["name"] == HOSTILE and stored["zone_ids"] == ["024", "001"]
    assert stored["consent"]["how"] == "cli:operator" and stored["quiet_hours"] == ["22:00", "07:00"]

    listed = opscentre("recipients", "list", env=env)
    assert listed.returncode == 0 and "+55 21 9****-**21" in listed.stdout and "Copacabana, Saúde" in listed.stdout
    as_json = opscentre("recipients", "list", "--json", env=env)
    (shown,) = orjson.loads(as_json.stdout)
    assert shown["phone"] == "+55 21 9****-**21" and shown["zones"] == ["Copacabana", "Saúde"]
    assert shown["name"] == HOSTILE and shown["quiet_hours"] == "22:00-07:00" and shown["lang"] == "en"
    for text in (result.stdout, listed.stdout, as_json.stdout):
        no_phone_in(text)

    (entry,) = audit(env)
    assert (entry["actor"], entry["action"], entry["subject"]) == ("cli", "recipient-added", recipient_id)
    assert entry["after"]["phone"] == "+55 21 9****-**21"
    no_phone_in(orjson.dumps(entry).decode())


def test_a_point_with_a_radius_is_a_place_and_negative_coordinates_need_no_equals_sign(env, redis_client):
    result = opscentre("recipients", "add", "--name", "Bia", "--phone", "21987654322",
                       "--point", "-22.9711,-43.1822", "--radius-m", "500", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("-22.97110,-43.18220 +500 m")
    (stored,) = [orjson.loads(v) for v in redis_client.hvals(keys.RECIPIENTS)]
    assert stored["point"] == [-22.9711, -43.1822] and stored["radius_m"] == 500 and stored["zone_ids"] == []


@pytest.mark.parametrize("args,message", [
    (["--phone", "(21) 2345-6789", "--zone", "Copacabana"],
     "a fixed line, not a mobile: SMS needs a mobile number"),
    (["--phone", "not a phone", "--zone", "Copacabana"], "not a phone number"),
    (["--phone", ANA, "--zone", "Copacabna"], "unknown bairro 'Copacabna' (did you mean Copacabana?)"),
    (["--phone", ANA], "a recipient needs a place: --zone BAIRRO (one or more), or --point LAT,LON --radius-m M"),
    (["--phone", ANA, "--point", "-22.97,-43.18"], "--point needs --radius-m (and --radius-m a --point)"),
    (["--phone", ANA, "--point", "-43.18,-22.97", "--radius-m", "100"],
     "the point -43.18000,-22.97000 is outside the city (lat and lon swapped?)"),
    (["--phone", ANA, "--point", "north", "--radius-m", "100"], "--point is LAT,LON in degrees, e.g. -22.9711,-43.1822"),
    (["--phone", ANA, "--point", "-22.97,-43.18", "--radius-m", "90000"],
     "radius_m: Input should be less than or equal to 50000"),
    (["--phone", ANA, "--zone", "Leme", "--quiet", "22h-7h"], "quiet hours are HH:MM-HH:MM, e.g. 22:00-07:00"),
])
def test_bad_input_is_one_clear_line_exit_2_and_nothing_stored(env, redis_client, args, message):
    result = opscentre("recipients", "add", "--name", "Ana", *args, env=env)
    refused(result, message)
    assert redis_client.hlen(keys.RECIPIENTS) == 0 and redis_client.xlen(keys.AUDIT) == 0


@pytest.mark.parametrize("name,message", [
    ("x" * 10_000, "name: String should have at most 120 characters"),
    ("Ana\nURGENTE: evacuar", "name: a name may not hold control characters or line breaks"),
    ("   ", "name: String should have at least 1 character"),
])
def test_a_hostile_name_is_refused_on_one_line(env, redis_client, name, message):
    refused(opscentre("recipients", "add", "--name", name, "--phone", ANA, "--zone", "Leme", env=env), message)
    assert redis_client.hlen(keys.RECIPIENTS) == 0


def test_the_same_phone_and_role_twice_is_refused_and_remove_is_audited(env, redis_client):
    first = opscentre("recipients", "add", "--name", "Ana", "--phone", ANA, "--zone", "Leme", env=env)
    recipient_id = first.stdout.split()[0]
    refused(opscentre("recipients", "add", "--name", "Ana", "--phone", "021 98765 4321", "--zone", "Urca", env=env),
            f"this number is already recipient {recipient_id} with role subscriber")
    removed = opscentre("recipients", "remove", recipient_id, env=env)
    assert removed.returncode == 0 and removed.stdout.strip() == f"{recipient_id} removed (+55 21 9****-**21)"
    assert redis_client.hlen(keys.RECIPIENTS) == 0 and not redis_client.exists(keys.recipient_phone(ANA))
    again = opscentre("recipients", "remove", recipient_id, env=env)
    assert again.returncode == 1 and again.stderr.strip() == f"opscentre: no recipient '{recipient_id}'"
    assert [e["action"] for e in audit(env)] == ["recipient-added", "recipient-removed"]


def test_import_keeps_good_rows_reports_each_bad_one_with_its_line_and_counts(env, tmp_path):
    csv = tmp_path / "contatos.csv"
    csv.write_text("\ufeffname,phone,zones,lat,lon,radius_m,lang,role,quiet_hours\r\n"
                   "Ana,(21) 98765-4321,Copacabana;Leme,,,,pt-BR,community,22:00-07:00\r\n"
                   "Fixo,(21) 2345-6789,Centro,,,,,,\r\n"
                   "Bia,21987654322,,-22.9711,-43.1822,500,en,agent,\r\n"
                   "Longe,21987654323,Atlantida,,,,,,\r\n"
                   "Sem lugar,21987654324,,,,,,,\r\n", encoding="utf-8", newline="")
    result = opscentre("recipients", "import", str(csv), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2 added, 3 rejected"
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[1] for line in lines] == [" line 3", " line 5", " line 6"]
    assert lines[0] == "contatos.csv: line 3: phone: a fixed line, not a mobile: SMS needs a mobile number"
    assert lines[2] == "contatos.csv: line 6: no place: give zones, or lat, lon and radius_m"
    listed = orjson.loads(opscentre("recipients", "list", "--json", env=env).stdout)
    assert sorted((r["name"], r["zones"], r["consent"]["how"]) for r in listed) == [
        ("Ana", ["Copacabana", "Leme"], "import:contatos.csv:2"), ("Bia", [], "import:contatos.csv:4")]
    (entry,) = audit(env)
    assert entry["action"] == "recipients-imported" and entry["after"]["added"] == 2
    assert entry["after"]["rejected"] == 3 and sorted(entry["after"]["ids"]) == sorted(r["id"] for r in listed)
    no_phone_in(result.stdout + result.stderr + orjson.dumps(entry).decode())

    again = opscentre("recipients", "import", str(csv), env=env)  # the same file twice adds nobody twice
    assert again.returncode == 2 and again.stdout.strip() == "0 added, 5 rejected"
    assert "contatos.csv: line 2: this number is already recipient" in again.stderr


@pytest.mark.parametrize("content,message", [
    (b"", "contatos.csv: empty file: expected a header row with name, phone and zones (or lat, lon, radius_m)"),
    (b"nome,telefone\nAna,21987654321\n", ("contatos.csv: line 1: unknown column(s) 'nome', 'telefone'; the columns "
                                          "are name, phone, zones, lat, lon, radius_m, lang, role, quiet_hours")),
])
def test_an_import_that_adds_nobody_exits_2(env, tmp_path, content, message, redis_client):
    csv = tmp_path / "contatos.csv"
    csv.write_bytes(content)
    result = opscentre("recipients", "import", str(csv), env=env)
    assert result.returncode == 2 and result.stdout.strip() == "0 added, 0 rejected"
    assert result.stderr.strip() == message
    assert redis_client.hlen(keys.RECIPIENTS) == 0


def test_an_import_of_a_missing_file_is_one_line(env, tmp_path):
    refused(opscentre("recipients", "import", str(tmp_path / "nope.csv"), env=env),
            f"cannot read {tmp_path / 'nope.csv'}: No such file or directory")


def test_a_windows_1252_spreadsheet_export_is_read_with_its_accents(env, tmp_path):
    csv = tmp_path / "excel.csv"
    csv.write_bytes("name;phone;zones\nJoão;21987654321;Saúde\n".encode("cp1252"))
    result = opscentre("recipients", "import", str(csv), env=env)
    assert result.returncode == 0 and result.stdout.strip() == "1 added, 0 rejected"
    assert "not UTF-8; read as Windows-1252" in result.stderr
    (shown,) = orjson.loads(opscentre("recipients", "list", "--json", env=env).stdout)
    assert shown["name"] == "João" and shown["zones"] == ["Saúde"]


def test_state_json_never_holds_a_recipients_phone(env):
    assert opscentre("recipients", "add", "--name", "Ana", "--phone", ANA, "--zone", "Leme", env=env).returncode == 0
    result = opscentre("state", "--json", env=env)
    assert result.returncode == 0, result.stderr
    orjson.loads(result.stdout)
    no_phone_in(result.stdout)


def test_webhooks_add_prints_a_generated_secret_once_and_list_masks_it(env, redis_client):
    result = opscentre("webhooks", "add", "https://partner.example.org/hook", "--min-severity", "warning", env=env)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()
    subscriber_id = first.split()[0]
    assert first == f"{subscriber_id} added: https://partner.example.org/hook (from warning up)"
    secret = second.rsplit(" ", 1)[1]
    Webhook(secret)  # the spec's library takes it
    assert orjson.loads(redis_client.hget(keys.WEBHOOKS, subscriber_id))["secret"] == secret

    listed = opscentre("webhooks", "list", env=env)
    as_json = opscentre("webhooks", "list", "--json", env=env)
    (shown,) = orjson.loads(as_json.stdout)
    assert shown == {"id": subscriber_id, "url": "https://partner.example.org/hook", "secret": "whsec_****" + secret[-4:],
                     "min_severity": "warning", "created_at": shown["created_at"], "enabled": True}
    exports = audit(env)
    for text in (listed.stdout, as_json.stdout, orjson.dumps(exports).decode()):
        assert secret[6:-4] not in text
    assert [(e["action"], e["after"]["secret"]) for e in exports] == [("webhook-added", "generated")]


def test_a_given_secret_is_kept_and_not_printed_and_may_come_from_stdin(env, redis_client):
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    result = opscentre("webhooks", "add", "http://127.0.0.1:9000/in", "--secret", "-", input=secret + "\n", env=env)
    assert result.returncode == 0, result.stderr
    assert secret[6:] not in result.stdout and len(result.stdout.strip().splitlines()) == 1
    subscriber_id = result.stdout.split()[0]
    assert orjson.loads(redis_client.hget(keys.WEBHOOKS, subscriber_id))["secret"] == secret


@pytest.mark.parametrize("args,message", [
    (["ftp://partner.example.org/x"], "url: a webhook URL must be http:// or https://"),
    (["https://"], "url: a webhook URL needs a host"),
    (["https://partner.example.org/", "--secret", "hunter2"],
     "secret: a secret starts with whsec_ (the Standard Webhooks form)"),
])
def test_a_bad_url_or_secret_is_one_clear_line_and_nothing_stored(env, redis_client, args, message):
    refused(opscentre("webhooks", "add", *args, env=env), message)
    assert redis_client.hlen(keys.WEBHOOKS) == 0 and redis_client.xlen(keys.AUDIT) == 0


def test_webhooks_remove_removes_and_audits_and_an_unknown_id_exits_1(env, redis_client):
    subscriber_id = opscentre("webhooks", "add", "https://a.example/h", env=env).stdout.split()[0]
    result = opscentre("webhooks", "remove", subscriber_id, env=env)
    assert result.returncode == 0 and result.stdout.strip() == f"{subscriber_id} removed (https://a.example/h)"
    assert redis_client.hlen(keys.WEBHOOKS) == 0
    again = opscentre("webhooks", "remove", subscriber_id, env=env)
    assert again.returncode == 1 and again.stderr.strip() == f"opscentre: no webhook subscriber '{subscriber_id}'"
    assert [e["action"] for e in audit(env)] == ["webhook-added", "webhook-removed"]


def test_webhooks_disable_and_enable_are_audited_and_an_unknown_id_exits_1(env, redis_client):
    added = opscentre("webhooks", "add", "https://partner.example.org/hook", env=env)
    subscriber_id = added.stdout.split()[0]
    off = opscentre("webhooks", "disable", subscriber_id, env=env)
    assert off.returncode == 0 and off.stdout.strip() == f"{subscriber_id} disabled (https://partner.example.org/hook)"
    assert orjson.loads(redis_client.hget(keys.WEBHOOKS, subscriber_id))["enabled"] is False
    assert "(disabled)" in opscentre("webhooks", "list", env=env).stdout
    assert opscentre("webhooks", "enable", subscriber_id, env=env).returncode == 0
    assert orjson.loads(redis_client.hget(keys.WEBHOOKS, subscriber_id))["enabled"] is True
    unknown = opscentre("webhooks", "disable", "w-nope", env=env)
    assert unknown.returncode == 1 and unknown.stderr.strip() == "opscentre: no webhook subscriber 'w-nope'"
    assert [e["action"] for e in audit(env)] == ["webhook-added", "webhook-disabled", "webhook-enabled"]
