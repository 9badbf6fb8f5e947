"""Corrections ("that's wrong, it's a 7"): validated, rate-limited, kept in SQLite and in a real PostgreSQL
(started here from Debian's package, on loopback, in a temporary folder), exported for training, offered on the page.
"""

from __future__ import annotations

import base64
import concurrent.futures
import glob
import io
import json
import multiprocessing
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import falcon.testing
import numpy as np
import pytest
import requests
import sqlalchemy as sa
from PIL import Image, PngImagePlugin
from requests.adapters import HTTPAdapter

from bench import servers
from digits import correction_store, corrections, preprocess
from server.app import create_app
from server.config import Config
from server.corrections import RateLimiter
from tests.conftest import ROOT, png_bytes, png_claiming, run_stage
from tests.test_api import assert_error
from tests.test_browser import DESKTOP, App, browser, expect  # noqa: F401 (browser: the fixture)

DIGIT_PIXELS = np.zeros((120, 120), np.uint8)
DIGIT_PIXELS[20:100, 50:70] = 255  # a 1


# --- Databases ----------------------------------------------------------------------------------


def postgres_bin() -> Path:
    """Debian's PostgreSQL binaries; a missing server is a failure, never a skip."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL is missing: apt-get install postgresql (.ci/run installs it)")
    return Path(found[-1]).parent


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server of our own on a free loopback port, its files in a temporary folder; its base URL."""
    binaries = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="corrections-pg-"))
    data, log = root / "data", root / "server.log"
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own system user runs it
        user = "postgres" if _has_user("postgres") else "nobody"
        os.chown(root, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    port = servers.free_port()

    def run(*args: str) -> None:
        done = subprocess.run(args, user=user, cwd=root, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{args[0]} failed: {done.stdout}{done.stderr}"

    run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
    options = f"-h 127.0.0.1 -p {port} -k {root}"  # loopback only, and the socket in our folder
    run(str(binaries / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", options)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        run(str(binaries / "pg_ctl"), "stop", "-m", "fast", "-D", str(data))
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def new_database(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of a new, empty database: a file for SQLite, a fresh database on the test server for PostgreSQL."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'corrections.db'}"
    base = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = correction_store.engine_for(f"{base}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:  # CREATE DATABASE runs outside a transaction
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new empty database of each kind."""
    return new_database(request.param, tmp_path, request)


def rows(url: str) -> list[dict]:
    """Every stored correction, as the database holds it."""
    engine = correction_store.engine_for(url)
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(sa.select(correction_store.corrections))]
    finally:
        engine.dispose()


def app_with(url: str) -> falcon.testing.TestClient:
    """The app in-process, keeping corrections in the database at url."""
    return falcon.testing.TestClient(create_app(Config(corrections_db=url)))


def a_reading(client: falcon.testing.TestClient) -> dict:
    """A /predict answer to correct."""
    result = client.simulate_post(
        "/api/v1/predict", body=png_bytes(DIGIT_PIXELS), headers={"Content-Type": "image/png"}
    )
    assert result.status_code == 200, result.text
    return result.json


def correction_of(answer: dict, label: int = 7) -> dict:
    """The JSON the page sends for an answer: its input back, the right label, the model's digit and version."""
    return {"image": answer["input"], "label": label, "predicted": answer["digit"], "model": answer["model"]}


def png_of(data_url: str) -> bytes:
    return base64.b64decode(data_url.removeprefix("data:image/png;base64,"))


# --- Kept, and only what the sender is told -----------------------------------------------------


def test_a_correction_keeps_only_what_the_sentence_says(database: str) -> None:
    """A correction of /predict and of each digit of /read: the 28x28 PNG, label, answer, version, time; no more."""
    client = app_with(database)
    assert client.simulate_get("/healthz").json["corrections"] is True
    answer = a_reading(client)
    before = datetime.now(UTC)
    result = client.simulate_post("/api/v1/corrections", json=correction_of(answer), remote_addr="203.0.113.77")
    assert result.status_code == 201, result.text
    number = client.simulate_post(
        "/api/v1/read",
        body=(ROOT / "docs/examples/2026.png").read_bytes(),
        headers={"Content-Type": "image/png"},
    ).json
    for d in number["digits"]:
        body = {"image": d["input"], "label": 3, "predicted": d["digit"], "model": number["model"]}
        assert client.simulate_post("/api/v1/corrections", json=body).status_code == 201

    kept = rows(database)
    assert len(kept) == 1 + len(number["digits"]) == 5
    assert set(kept[0]) == {"id", "image", "label", "predicted", "model", "created_at"}
    assert kept[0]["image"] == png_of(answer["input"])
    assert (kept[0]["label"], kept[0]["predicted"], kept[0]["model"]) == (7, answer["digit"], answer["model"])
    created = kept[0]["created_at"]
    created = created if created.tzinfo else created.replace(tzinfo=UTC)  # SQLite keeps no zone: it is UTC
    assert before.timestamp() - 1 <= created.timestamp() <= time.time() + 1
    assert [r["image"] for r in kept[1:]] == [png_of(d["input"]) for d in number["digits"]]
    assert {r["model"] for r in kept[1:]} == {number["model"]}
    engine = correction_store.engine_for(database)
    assert set(sa.inspect(engine).get_table_names()) == {"corrections", "schema_version"}, "nothing else is kept"
    engine.dispose()
    if database.startswith("sqlite"):  # the sender's address is nowhere in the file
        assert b"203.0.113.77" not in Path(database.removeprefix("sqlite:///")).read_bytes()


def test_corrections_are_off_without_corrections_db(client) -> None:
    """The shared app has no CORRECTIONS_DB: /healthz says so and the endpoint answers 404 not_found."""
    assert client.simulate_get("/healthz").json["corrections"] is False
    result = client.simulate_post("/api/v1/corrections", json={"label": 7})
    assert_error(result, 404, "not_found")
    assert "CORRECTIONS_DB" in result.json["message"]


def png_with_text_chunk(pixels: np.ndarray) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "user@example.com")
    return png_bytes(pixels, pnginfo=info)


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


GREY28 = (np.arange(784).reshape(28, 28) % 256).astype(np.uint8)
JPEG28 = io.BytesIO()
Image.fromarray(GREY28).save(JPEG28, format="JPEG")
INVALID = {
    "label 10": {"label": 10},
    "label as text": {"label": "7"},
    "label true": {"label": True},
    "predicted -1": {"predicted": -1},
    "model not a version": {"model": "<script>"},
    "an extra field": {"email": "a@b.c"},
    "image not a data URL": {"image": "https://example.com/seven.png"},
    "image bad base64": {"image": "data:image/png;base64,@@@"},
    "image non-ASCII base64": {"image": "data:image/png;base64,\udbca\udccd\u00b8ZG"},  # schemathesis found a 500
    "image a JPEG": {"image": "data:image/png;base64," + base64.b64encode(JPEG28.getvalue()).decode()},
    "image 27x28": {"image": data_url(png_bytes(GREY28[:27]))},
    "image in colour": {"image": data_url(png_bytes(np.stack([GREY28] * 3, axis=-1)))},
    "image with a text chunk": {"image": data_url(png_with_text_chunk(GREY28))},
    "image re-encoded": {"image": data_url(png_bytes(GREY28, compress_level=0))},
    "image claiming 20000x20000": {"image": data_url(png_claiming(20_000, 20_000))},  # refused before decoding
}


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[falcon.testing.TestClient, str, dict]:
    """One in-process app on a SQLite file, and an answer to correct."""
    url = f"sqlite:///{tmp_path_factory.mktemp('corrections') / 'c.db'}"
    client = app_with(url)
    return client, url, a_reading(client)


@pytest.mark.parametrize(("n", "change"), list(enumerate(INVALID.values())), ids=list(INVALID))
def test_a_correction_not_as_documented_is_refused(sqlite_app, n: int, change: dict) -> None:
    client, url, answer = sqlite_app
    body = correction_of(answer) | change
    # json.dumps escapes non-ASCII as \uXXXX, as an HTTP client sends it; remote_addr keeps each under the limit
    result = client.simulate_post("/api/v1/corrections", body=json.dumps(body), remote_addr=f"10.9.0.{n}",
                                  content_type="application/json")  # fmt: skip
    assert_error(result, 400, "bad_request")
    assert rows(url) == []


def test_the_apis_own_png_passes_the_check() -> None:
    """The check is byte for byte against preprocess.to_png: what the API makes is accepted as it is."""
    png = preprocess.to_png(GREY28 / 255.0)
    assert np.array_equal(corrections.image28(png), GREY28)


def test_a_body_that_is_not_a_small_json_object_is_refused(sqlite_app) -> None:
    client, url, answer = sqlite_app
    json_type = {"Content-Type": "application/json"}
    assert_error(client.simulate_post("/api/v1/corrections", body=b"{not json", headers=json_type), 400, "bad_request")
    assert_error(client.simulate_post("/api/v1/corrections", body=b"[7]", headers=json_type), 400, "bad_request")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    result = client.simulate_post("/api/v1/corrections", body=b"label=7", headers=form, remote_addr="10.8.0.1")
    assert_error(result, 415, "unsupported_media_type")
    huge = correction_of(answer) | {"model": "a" * 5000}
    result = client.simulate_post("/api/v1/corrections", json=huge, remote_addr="10.8.0.2")
    assert_error(result, 413, "too_large")
    assert result.json["limit_bytes"] == 4096
    assert rows(url) == []


def test_one_client_is_rate_limited_and_others_are_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    client = app_with(url)
    body = correction_of(a_reading(client))
    answers = [client.simulate_post("/api/v1/corrections", json=body, remote_addr="10.0.0.1") for _ in range(12)]
    assert [a.status_code for a in answers] == [201] * 10 + [429] * 2
    assert_error(answers[-1], 429, "rate_limited")
    assert answers[-1].json["retry_after_seconds"] == int(answers[-1].headers["Retry-After"]) > 0
    assert client.simulate_post("/api/v1/corrections", json=body, remote_addr="10.0.0.2").status_code == 201
    assert len(rows(url)) == 11


def test_the_rate_limiter_refills_and_forgets_the_least_recent_clients() -> None:
    limiter = RateLimiter(per_minute=60, burst=2, max_clients=3)
    assert [limiter.wait("a", now=0) for _ in range(3)] == [0, 0, 1.0]
    assert limiter.wait("a", now=1.0) == 0  # a token a second
    for client in "bcd":
        limiter.wait(client, now=1.0)
    assert list(limiter.buckets) == ["b", "c", "d"], "memory is bounded: the least recently seen went first"


# --- Migrations ---------------------------------------------------------------------------------


def test_the_schema_is_created_and_upgraded_once(database: str) -> None:
    engine = correction_store.engine_for(database)
    try:
        # A database from before the first migration: only the version table, at 0.
        with engine.begin() as connection:
            correction_store.schema_version.create(connection)
            connection.execute(correction_store.schema_version.insert().values(version=0))
        assert correction_store.migrate(engine) == correction_store.SCHEMA_VERSION == 1
        assert correction_store.migrate(engine) == 1, "a second start changes nothing"
        with engine.connect() as connection:
            assert connection.execute(sa.select(correction_store.schema_version.c.version)).scalars().all() == [1]
        assert "corrections" in sa.inspect(engine).get_table_names()
        with engine.begin() as connection:
            connection.execute(correction_store.schema_version.update().values(version=99))
        with pytest.raises(RuntimeError, match="newer"):
            correction_store.migrate(engine)
    finally:
        engine.dispose()


# --- Two gunicorn workers writing at once ------------------------------------------------------


@pytest.mark.slow
def test_concurrent_corrections_to_two_gunicorn_workers_are_all_kept(database: str) -> None:
    """100 corrections at once from 10 loopback addresses to 2 workers (which migrated a new database together)."""
    server = servers.gunicorn(2, env={"CORRECTIONS_DB": database})
    try:
        assert len(server.child_pids()) == 2
        answer = requests.post(
            server.url + "/api/v1/predict", data=png_bytes(DIGIT_PIXELS), headers={"Content-Type": "image/png"}
        ).json()
        bodies = [correction_of(answer, label) for label in range(10) for _ in range(10)]

        def send(k: int) -> int:
            session = requests.Session()
            address = f"127.0.0.{2 + k % 10}"  # 10 clients, 10 corrections each: under the rate limit
            session.mount("http://", SourceAddressAdapter(address))
            return session.post(server.url + "/api/v1/corrections", json=bodies[k], timeout=30).status_code

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(send, range(len(bodies))))
    finally:
        log = server.stop()
    assert statuses == [201] * 100, log[-3000:]
    kept = rows(database)
    assert len(kept) == 100 and len({r["id"] for r in kept}) == 100
    assert sorted(r["label"] for r in kept) == sorted(b["label"] for b in bodies)


ROUNDS = 300  # without the wait for WAL, about 1 in 100 simultaneous opens failed: this fails ~95% of runs


def open_new_databases(folder: str, barrier, failures) -> None:
    """Open database k of ROUNDS the moment the other process does; count the opens that raise."""
    for k in range(ROUNDS):
        barrier.wait()
        try:
            correction_store.Store(f"sqlite:///{folder}/{k}.db").close()
        except sa.exc.OperationalError:
            with failures.get_lock():
                failures.value += 1


@pytest.mark.slow
def test_two_processes_opening_a_new_sqlite_database_at_once_both_succeed(tmp_path: Path) -> None:
    """Two workers starting together on a new CORRECTIONS_DB both migrate it: neither fails "database is locked"."""
    context = multiprocessing.get_context("fork")  # the way gunicorn starts its workers
    barrier, failures = context.Barrier(2), context.Value("i", 0)
    workers = [context.Process(target=open_new_databases, args=(str(tmp_path), barrier, failures)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0]
    assert failures.value == 0, f"{failures.value} of {2 * ROUNDS} opens failed"


class SourceAddressAdapter(HTTPAdapter):
    """Connections from a given local address (any of 127.0.0.0/8 works on loopback): a client of its own."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


# --- Export into training ------------------------------------------------------------------------


def export(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python -m digits.corrections export folder`, as a person runs it."""
    command = [sys.executable, "-m", "digits.corrections", "export", str(folder)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def test_export_writes_what_training_reads(database: str, tmp_path: Path) -> None:
    """`python -m digits.corrections export DIR` -> DIR/corrections.npz -> the images and labels training adds."""
    store = correction_store.Store(database)
    pixels = [np.roll(GREY28, k, axis=1) for k in range(3)]
    for k, image in enumerate(pixels):
        store.add(
            corrections.Correction(preprocess.to_png(image / 255.0), label=k + 4, predicted=1, model="ab12cd34ef56")
        )
    store.close()
    out = tmp_path / "export"
    env = {**os.environ, "CORRECTIONS_DB": database}
    done = export(out, env)
    assert done.returncode == 0, done.stderr
    assert "wrote 3 corrections" in done.stdout
    images, labels = corrections.load_dataset(out)
    assert images.dtype == np.float32 and images.shape == (3, 28, 28)
    assert np.array_equal(np.round(images * 255).astype(np.uint8), np.stack(pixels))
    assert labels.tolist() == [4, 5, 6]


def test_export_needs_corrections_db(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CORRECTIONS_DB"}
    done = export(tmp_path, env)
    assert done.returncode != 0 and "CORRECTIONS_DB" in done.stderr


@pytest.mark.slow
def test_training_adds_the_exported_corrections(mnist_dir: Path, tmp_path: Path) -> None:
    """A tiny `make train CORRECTIONS=DIR` run (train.classifier with CORRECTIONS set) trains on them too."""
    store = correction_store.Store(f"sqlite:///{tmp_path / 'c.db'}")
    for label in range(10):
        image = preprocess.to_png(np.roll(GREY28, label, axis=0) / 255.0)
        store.add(corrections.Correction(image, label=label, predicted=(label + 1) % 10, model="ab12cd34ef56"))
    assert store.export(tmp_path / "export") == 10
    store.close()
    tiny = {"EPOCHS": "1", "MEMBERS": "1", "SUBSET": "256", "REDRAWS": "0", "MNIST_DIR": str(mnist_dir)}
    env = {**os.environ, **tiny, "OUT_DIR": str(tmp_path), "ARTIFACTS_DIR": str(tmp_path)}
    env["CORRECTIONS"] = str(tmp_path / "export")
    train = run_stage("train.classifier", env)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    assert "adding 10 corrections" in train.stdout
    report = json.loads((tmp_path / "training.json").read_text())
    assert report["config"]["corrections"] == str(tmp_path / "export")
    assert report["config"]["corrections_used"] == 10


def test_behind_a_proxy_on_this_machine_the_limit_counts_x_real_ip(tmp_path: Path) -> None:
    """deploy/nginx.conf sends X-Real-IP: from a loopback peer it names the client; from any other, it is ignored."""
    client = app_with(f"sqlite:///{tmp_path / 'c.db'}")
    body = correction_of(a_reading(client))

    def post(peer: str, real_ip: str) -> int:
        headers = {"X-Real-IP": real_ip}
        return client.simulate_post("/api/v1/corrections", json=body, remote_addr=peer, headers=headers).status_code

    assert [post("127.0.0.1", "198.51.100.1") for _ in range(11)] == [201] * 10 + [429]
    assert post("127.0.0.1", "198.51.100.2") == 201, "another client behind the same proxy"
    assert [post("10.0.0.5", f"198.51.100.{k}") for k in range(11)] == [201] * 10 + [429], "a remote peer's is ignored"


# --- The page ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keeping_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[servers.ServerProcess, str]]:
    """Real gunicorn (2 workers) keeping corrections in a SQLite file, and that file's URL."""
    url = f"sqlite:///{tmp_path_factory.mktemp('page') / 'corrections.db'}"
    server = servers.gunicorn(2, env={"CORRECTIONS_DB": url})
    yield server, url
    server.stop()


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_sends_a_correction_only_when_asked_and_says_what_is_kept(browser, keeping_server) -> None:  # noqa: F811
    server, url = keeping_server
    app = App(browser, server.url, **DESKTOP)
    try:
        app.open()
        expect(app.page.locator("body")).to_have_attribute("data-corrections", "on")
        app.by("samples").get_by_role("button", name="Sample digit 7").click()
        app.expect_digit(7)
        panel = app.by("correct")
        expect(panel).to_be_visible()
        consent = app.by("consent")
        expect(consent).to_be_hidden()  # one line until opened: the answer keeps its place
        panel.locator("summary").click()
        expect(consent).to_be_visible()
        for kept in ("28×28 image the model saw", "the digit you chose", "model’s answer and version", "the time"):
            expect(consent).to_contain_text(kept)
        expect(consent).to_contain_text("never your picture, your address or anything else about you")
        send = app.by("correct-send")
        expect(send).to_be_disabled()  # nothing goes without a choice
        assert rows(url) == []
        select = app.by("correct-select")
        expect(select).to_have_count(1)
        assert "7" not in select.locator("option").all_text_contents(), "the model's own answer is no correction"
        select.select_option("1")
        send.click()
        expect(app.by("correct-status")).to_have_text("Thank you: correction kept.")
        expect(send).to_be_disabled()
        kept = rows(url)
        assert [(r["label"], r["predicted"]) for r in kept] == [(1, 7)]
        assert kept[0]["image"] == png_of(app.by("model-input").get_attribute("src"))

        # A number: one choice per digit, each sent with that digit's own 28x28 input.
        app.by("mode-number").check()
        for digit in "2026":
            app.by("samples").get_by_role("button", name=f"Sample digit {digit}").click()
        app.expect_number("2026")
        selects = app.by("correct-select")
        expect(selects).to_have_count(4)
        selects.nth(1).select_option("8")
        selects.nth(3).select_option("5")
        send.click()
        expect(app.by("correct-status")).to_have_text("Thank you: 2 corrections kept.")
        kept = rows(url)
        assert [(r["label"], r["predicted"]) for r in kept[1:]] == [(8, 0), (5, 6)]
        inputs = app.by("reading-digits").locator("img").evaluate_all("imgs => imgs.map(i => i.src)")
        assert [r["image"] for r in kept[1:]] == [png_of(inputs[1]), png_of(inputs[3])]
        app.assert_clean_console()
    finally:
        app.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_offers_no_correction_when_the_server_keeps_none(browser, gunicorn_server) -> None:  # noqa: F811
    app = App(browser, gunicorn_server.url, **DESKTOP)
    try:
        app.open()
        expect(app.page.locator("body")).to_have_attribute("data-corrections", "off")
        app.by("samples").get_by_role("button", name="Sample digit 3").click()
        app.expect_digit(3)
        expect(app.by("correct")).to_be_hidden()
        app.assert_clean_console()
    finally:
        app.close()


def test_a_server_that_keeps_no_corrections_loads_no_database_library() -> None:
    """SQLAlchemy weighs some 25 MB a worker: it is imported only when CORRECTIONS_DB is set."""
    code = "import sys; from server.app import create_app; from server.config import Config; create_app(Config()); "
    code += "print('sqlalchemy' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k != "CORRECTIONS_DB"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr
