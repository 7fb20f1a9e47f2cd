"""The redaction-quality corpus: real conversation text from LLaMA-Factory's
demo data with personal data planted in it, plus texts that hold none.

The demo data comes from PyPI's llamafactory sdist, downloaded once with the
venv's pip and cached under .venv/llamafactory-data. Planted values come from
Faker (seeded, several locales) and, for secrets, from seeded random shapes of
real providers' keys. Every planted value keeps its exact character span: the
ground truth. The corpus is the same bytes on every run.

Three kinds of sample:
- "planted": a demo text with a few sentences holding personal data;
- "lookalike": a demo text with sentences holding values that only look like
  personal data (digests, UUIDs, versions, dates, prices, ISBNs, code, ...);
- "demo": a demo text as it is.
"""
import base64
import json
import random
import re
import string
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker

from support.databases import REPO

LLAMAFACTORY = "llamafactory==0.9.5"
SDIST_DATA_DIR = "llamafactory-0.9.5/data"
DEMO_FILES = ("alpaca_en_demo.json", "glaive_toolcall_en_demo.json", "identity.json")
CACHE = REPO / ".venv" / "llamafactory-data"

ENTITIES = ("email_address", "phone_number", "credit_card", "iban_code", "ip_address", "secret")
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL", "pt_BR")
SEED = 20240501
VALUES_PER_ENTITY = 560
VALUES_PER_TEXT = 3
LOOKALIKE_TEXTS = 200
LOOKALIKES_PER_TEXT = 3
PLAIN_DEMO_TEXTS = 300
SHORTEST_HOST, LONGEST_HOST = 40, 1200

# A genuine address in the demo data (boss@company.com, ...) is personal data
# the ground truth does not know about: texts holding one are left out.
EMAIL_SHAPED = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
SENTENCE_BOUNDARY = re.compile(r"[.!?]\s+|\n+")


@dataclass(frozen=True)
class PlantedValue:
    entity: str
    start: int
    end: int


@dataclass(frozen=True)
class Sample:
    key: str
    kind: str  # "planted", "lookalike" or "demo"
    text: str
    planted: tuple = ()


# --- The demo data -----------------------------------------------------------

def demo_data_dir():
    """The cached demo files, downloaded and extracted the first time."""
    if not all((CACHE / name).exists() for name in DEMO_FILES):
        extract_demo_files(download_sdist())
    return CACHE


def download_sdist():
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(REPO / ".venv" / "bin" / "pip"), "download", "--quiet", "--no-deps",
                    "--no-binary", ":all:", LLAMAFACTORY, "-d", str(CACHE)], check=True)
    return next(CACHE.glob("llamafactory-*.tar.gz"))


def extract_demo_files(sdist):
    with tarfile.open(sdist) as archive:
        for name in DEMO_FILES:
            member = archive.extractfile(f"{SDIST_DATA_DIR}/{name}")
            (CACHE / name).write_bytes(member.read())


def demo_texts():
    """Natural-language texts of the demo data, in file order, without repeats."""
    folder = demo_data_dir()
    texts = []
    for name in ("alpaca_en_demo.json", "identity.json"):
        for record in json.loads((folder / name).read_text(encoding="utf-8")):
            texts += [record["instruction"], record["input"], record["output"]]
    for record in json.loads((folder / "glaive_toolcall_en_demo.json").read_text(encoding="utf-8")):
        texts += [turn["value"] for turn in record["conversations"] if turn["from"] in ("human", "gpt")]
    return list(dict.fromkeys(text for text in texts if is_usable_host(text)))


def is_usable_host(text):
    return SHORTEST_HOST <= len(text) <= LONGEST_HOST and not EMAIL_SHAPED.search(text)


# --- Personal data to plant ---------------------------------------------------

CARD_TYPES = ("visa16", "visa13", "visa19", "mastercard", "amex", "discover", "diners", "jcb15", "jcb16", "maestro")
# How printed cards group their digits, by length; four by four otherwise.
CARD_GROUPS = {13: (4, 4, 5), 14: (4, 6, 4), 15: (4, 6, 5)}
URLSAFE = string.ascii_letters + string.digits + "-_"
ALPHANUMERIC = string.ascii_letters + string.digits
PEM_KINDS = ("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY")


def seeded_fakers():
    fakers = []
    for offset, locale in enumerate(LOCALES):
        faker = Faker(locale)
        faker.seed_instance(SEED + offset)
        fakers.append(faker)
    return fakers


def fake_email(faker, index):
    makers = (lambda: faker.email(safe=False), faker.free_email, faker.company_email, faker.email)
    return makers[index % len(makers)]()


def fake_phone_number(faker, index):
    return faker.phone_number()


def fake_credit_card(faker, index):
    card_type = CARD_TYPES[index % len(CARD_TYPES)]
    number = faker.credit_card_number(card_type)
    separator = ("", " ", "-")[index // len(CARD_TYPES) % 3]
    return separator.join(split_into_groups(number, CARD_GROUPS.get(len(number))))


def split_into_groups(digits, sizes=None):
    if sizes is None:
        return [digits[i:i + 4] for i in range(0, len(digits), 4)]
    groups, start = [], 0
    for size in sizes:
        groups.append(digits[start:start + size])
        start += size
    return groups


def fake_iban(faker, index):
    iban = faker.iban()
    return " ".join(split_into_groups(iban)) if index % 2 else iban


def fake_ip_address(faker, index):
    return faker.ipv6() if index % 2 else faker.ipv4()


def random_text(rng, alphabet, length):
    return "".join(rng.choice(alphabet) for _ in range(length))


def random_digits(rng, length):
    return str(rng.randrange(10 ** (length - 1), 10 ** length))


def base64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openai_project_key(rng):
    return "sk-proj-" + random_text(rng, URLSAFE, 74) + "T3BlbkFJ" + random_text(rng, URLSAFE, 74)


def anthropic_key(rng):
    return "sk-ant-api03-" + random_text(rng, URLSAFE, 93) + "AA"


def aws_access_key_id(rng):
    return "AKIA" + random_text(rng, string.ascii_uppercase + "234567", 16)


def github_token(rng):
    return "ghp_" + random_text(rng, ALPHANUMERIC, 36)


def gitlab_token(rng):
    return "glpat-" + random_text(rng, URLSAFE, 20)


def slack_bot_token(rng):
    return f"xoxb-{random_digits(rng, 12)}-{random_digits(rng, 13)}-{random_text(rng, ALPHANUMERIC, 24)}"


def stripe_secret_key(rng):
    return "sk_live_" + random_text(rng, ALPHANUMERIC, rng.choice((24, 99)))


def google_api_key(rng):
    return "AIza" + random_text(rng, URLSAFE, 35)


def json_web_token(rng):
    header = {"alg": rng.choice(("HS256", "RS256")), "typ": "JWT"}
    issued = rng.randrange(1_600_000_000, 1_800_000_000)
    payload = {"sub": random_digits(rng, 10), "role": "authenticated", "iat": issued, "exp": issued + 3600}
    parts = [json.dumps(part, separators=(",", ":")).encode() for part in (header, payload)]
    return ".".join([base64url(parts[0]), base64url(parts[1]), base64url(rng.randbytes(32))])


def pem_private_key(rng):
    kind = rng.choice(PEM_KINDS)
    body = base64.b64encode(b"0\x82" + rng.randbytes(rng.randrange(300, 600))).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"])


SECRET_MAKERS = (openai_project_key, anthropic_key, aws_access_key_id, github_token, gitlab_token,
                 slack_bot_token, stripe_secret_key, google_api_key, json_web_token, pem_private_key)


def fake_secret(rng, index):
    return SECRET_MAKERS[index % len(SECRET_MAKERS)](rng)


FAKER_VALUE_MAKERS = {
    "email_address": fake_email,
    "phone_number": fake_phone_number,
    "credit_card": fake_credit_card,
    "iban_code": fake_iban,
    "ip_address": fake_ip_address,
}


def values_to_plant(rng, fakers):
    """(entity, value) pairs, VALUES_PER_ENTITY of each, in a shuffled order."""
    values = []
    for entity in ENTITIES:
        for index in range(VALUES_PER_ENTITY):
            if entity == "secret":
                values.append((entity, fake_secret(rng, index)))
            else:
                faker = fakers[index % len(fakers)]
                values.append((entity, FAKER_VALUE_MAKERS[entity](faker, index)))
    rng.shuffle(values)
    return values


LEAD_INS = {
    "email_address": ("You can reach me at {v}.", "Please send the invoice to {v} by Friday.",
                      "My email address is {v}", "Contact: {v}", "Could you cc {v} on the thread?"),
    "phone_number": ("Call me on {v} after 6pm.", "My phone number is {v}.", "You can text {v} if anything changes.",
                     "Tel: {v}", "My mobile is {v}, the office line is busy."),
    "credit_card": ("My card is {v}, expiring 04/27.", "Charge it to card number {v}.", "I paid with {v} yesterday.",
                    "card: {v}", "Can you check why {v} was declined?"),
    "iban_code": ("Please wire the deposit to {v}.", "My IBAN is {v}.", "IBAN: {v} (account holder: me).",
                  "The refund should go to {v}, not the old account."),
    "ip_address": ("The server is at {v}, can you ping it?", "My home IP is {v}.", "Requests come from {v} and fail.",
                   "Connect to {v} on port 22.", "Why does {v} show up in the logs?"),
    "secret": ("Here is my API key: {v}", "My token is {v} - is it still valid?",
               "I accidentally pasted {v} into the config.", "key={v}", "Use this key for the deploy: {v}"),
}
PEM_LEAD_INS = ("Here is the key file:\n{v}\nWhat format is it?", "My server's key is\n{v}\nIs it safe to share?")


def lead_in(rng, entity, value):
    templates = PEM_LEAD_INS if value.startswith("-----BEGIN") else LEAD_INS[entity]
    return rng.choice(templates)


# --- Values that only look like personal data ----------------------------------

def lookalike_sha1(rng, faker):
    return faker.sha1()


def lookalike_sha256(rng, faker):
    return faker.sha256()


def lookalike_git_sha(rng, faker):
    return faker.sha1()[:rng.choice((7, 8, 12))]


def lookalike_uuid(rng, faker):
    return faker.uuid4()


def lookalike_version(rng, faker):
    if rng.random() < 0.5:
        return f"{rng.randrange(0, 20)}.{rng.randrange(0, 30)}.{rng.randrange(0, 100)}"
    return f"{rng.randrange(1, 20)}.{rng.randrange(0, 10)}.{rng.randrange(1000, 30000)}.{rng.randrange(0, 2000)}"


def lookalike_date(rng, faker):
    day = date(2015, 1, 1) + timedelta(days=rng.randrange(4000))  # not Faker's: its dates depend on today
    return rng.choice((day.strftime("%Y-%m-%d"), day.strftime("%d/%m/%Y"), day.strftime("%m/%d/%Y"),
                       day.strftime("%B %d, %Y")))


def lookalike_time(rng, faker):
    hours, minutes, seconds = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    return rng.choice((f"{hours:02d}:{minutes:02d}", f"{hours:02d}:{minutes:02d}:{seconds:02d}"))


def lookalike_price(rng, faker):
    amount = rng.randrange(100, 500_000) / 100
    return rng.choice((f"${amount:,.2f}", f"€{amount:.2f}", f"£{amount:,.2f}", f"{amount:.2f} EUR"))


def lookalike_percentage(rng, faker):
    return f"{rng.randrange(0, 10000) / 100}%"


def lookalike_isbn(rng, faker):
    return faker.isbn13() if rng.random() < 0.5 else faker.isbn10()


def lookalike_ean(rng, faker):
    return faker.ean13()


def lookalike_order_number(rng, faker):
    if rng.random() < 0.5:
        return f"#{random_digits(rng, rng.randrange(6, 11))}"
    return f"ORD-{rng.randrange(2019, 2026)}-{random_digits(rng, 6)}"


def lookalike_reference_number(rng, faker):
    """Sixteen digits grouped like a card, with a wrong Luhn check digit."""
    digits = random_digits(rng, 15)
    check = (luhn_check_digit(digits) + rng.randrange(1, 10)) % 10
    return " ".join(split_into_groups(digits + str(check)))


def luhn_check_digit(digits):
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def lookalike_subresource_integrity(rng, faker):
    return "sha384-" + base64.b64encode(rng.randbytes(48)).decode()


def lookalike_code(rng, faker):
    number = rng.randrange(2, 4096)
    return rng.choice((
        f"`for i in range({number}): total += i * 3.14`",
        f"`x = 0x{rng.randrange(16 ** 8):08X}`",
        f"`SELECT id, created_at FROM orders WHERE id = {number} LIMIT 10;`",
        f"`docker run -p 8080:80 nginx:1.{rng.randrange(20, 28)}.{rng.randrange(0, 5)}`",
        f"`git checkout -b feature/issue-{number}`",
        f"`assert round(2.5e-{rng.randrange(1, 9)}, 3) == 0.0`",
        f"`chmod {rng.choice(('644', '755', '600'))} ./build/run.sh`",
        f"```python\nbuffer = bytearray({number})\nprint(len(buffer), hex(id(buffer)))\n```",
    ))


LOOKALIKES = (
    (lookalike_sha1, ("The commit {v} fixed it.", "sha1sum printed {v} for the file.")),
    (lookalike_sha256, ("The checksum is {v}.", "sha256: {v}")),
    (lookalike_git_sha, ("Please revert {v}.", "Bisect points at {v}.")),
    (lookalike_uuid, ("Request id {v} failed.", "The row {v} is missing.")),
    (lookalike_version, ("Upgrade to version {v}.", "Build {v} was released today.")),
    (lookalike_date, ("The meeting moved to {v}.", "It was shipped on {v}.")),
    (lookalike_time, ("The job runs at {v} every day.", "Doors open at {v}.")),
    (lookalike_price, ("It costs {v} with shipping.", "The total was {v}.")),
    (lookalike_percentage, ("Accuracy went up by {v}.",)),
    (lookalike_isbn, ("The book's ISBN is {v}.",)),
    (lookalike_ean, ("The barcode reads {v}.",)),
    (lookalike_order_number, ("My order {v} has not arrived.", "Invoice {v} is overdue.")),
    (lookalike_reference_number, ("Quote reference {v} when you call.",)),
    (lookalike_subresource_integrity, ('Add integrity="{v}" to the script tag.',)),
    (lookalike_code, ("Try this: {v}", "The snippet {v} throws an error.")),
)


def lookalike_sentence(rng, faker):
    make_value, templates = rng.choice(LOOKALIKES)
    sentence, _ = fill(rng.choice(templates), make_value(rng, faker))
    return sentence


# --- Putting sentences into demo texts ------------------------------------------

def fill(template, value):
    """The sentence and where the value starts in it."""
    prefix, suffix = template.split("{v}")
    return prefix + value + suffix, len(prefix)


def insert_sentences(rng, host, sentences):
    """The host text with each sentence put at a sentence boundary, and where
    each sentence starts in the result."""
    boundaries = sorted({0, len(host), *(m.end() for m in SENTENCE_BOUNDARY.finditer(host))})
    positions = sorted(rng.choice(boundaries) for _ in sentences)
    pieces, starts, cursor, length = [], [], 0, 0
    for position, sentence in zip(positions, sentences):
        before = host[cursor:position] + (" " if position == len(host) else "")
        pieces.append(before)
        length += len(before)
        starts.append(length)
        after = "" if position == len(host) else " "
        pieces.append(sentence + after)
        length += len(sentence) + len(after)
        cursor = position
    pieces.append(host[cursor:])
    return "".join(pieces), starts


def planted_sample(rng, key, host, values):
    sentences, offsets = [], []
    for entity, value in values:
        sentence, offset = fill(lead_in(rng, entity, value), value)
        sentences.append(sentence)
        offsets.append(offset)
    text, starts = insert_sentences(rng, host, sentences)
    planted = tuple(PlantedValue(entity, start + offset, start + offset + len(value))
                    for (entity, value), start, offset in zip(values, starts, offsets))
    assert all(text[p.start:p.end] == value for p, (_, value) in zip(planted, values))
    return Sample(key, "planted", text, planted)


def lookalike_sample(rng, faker, key, host):
    sentences = [lookalike_sentence(rng, faker) for _ in range(LOOKALIKES_PER_TEXT)]
    text, _ = insert_sentences(rng, host, sentences)
    return Sample(key, "lookalike", text)


def build_corpus():
    rng = random.Random(SEED)
    fakers = seeded_fakers()
    hosts = demo_texts()
    rng.shuffle(hosts)
    values = values_to_plant(rng, fakers)
    samples = []
    for number, first in enumerate(range(0, len(values), VALUES_PER_TEXT)):
        samples.append(planted_sample(rng, f"rq-planted-{number:04d}", hosts.pop(),
                                      values[first:first + VALUES_PER_TEXT]))
    for number in range(LOOKALIKE_TEXTS):
        samples.append(lookalike_sample(rng, fakers[0], f"rq-lookalike-{number:04d}", hosts.pop()))
    for number in range(PLAIN_DEMO_TEXTS):
        samples.append(Sample(f"rq-demo-{number:04d}", "demo", hosts.pop()))
    return samples
