"""The study server as a real process on 127.0.0.1 under load and killed mid-study: no acknowledged answer
is lost, concurrent participants never clash, and everyone resumes where they were."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from servers import _free_port
from study_helpers import StudyServer, observer_choice, truth_of, write_study
from vcbench.study.folder import Study
from vcbench.study.store import Store

pytestmark = pytest.mark.slow

TRUTH = {"bikes": [0.0, -0.8, -1.6, -2.5, -3.4], "city": [0.0, -0.5, -1.5, -2.6, -3.3]}
PARTICIPANTS = 50
PER_PARTICIPANT = 10  # 1 practice + 8 scored + 1 hidden repeat


def answer_session(url: str, code: str, truth: dict, seed: int, latencies: list[float], stop: threading.Event | None = None,
                   acknowledged: dict | None = None) -> int:
    """One simulated participant through the HTTP API; each answer is also sent twice now and then (a retry)."""
    rng = np.random.default_rng(seed)
    answered = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/api/session", json={"participant": code}).raise_for_status()
        while stop is None or not stop.is_set():
            state = client.get("/api/next", params={"participant": code}).raise_for_status().json()
            if state["trial"] is None:
                break
            trial = state["trial"]
            left, right = (c.removeprefix("/clips/").removesuffix(".webm").replace("__", "/") for c in (trial["left"], trial["right"]))
            body = {"participant": code, "index": trial["index"], "choice": observer_choice(truth, left, right, rng),
                    "response_ms": 500.0}
            for _ in range(2 if rng.random() < 0.2 else 1):
                started = time.perf_counter()
                client.post("/api/answer", json=body).raise_for_status()
                latencies.append(time.perf_counter() - started)
            if acknowledged is not None:
                acknowledged[(code, trial["index"])] = body["choice"]
            answered += 1
    return answered


@pytest.mark.timeout(300)  # bounded: 50 participants x 10 answers
def test_fifty_concurrent_participants_lose_no_answer(tmp_path):
    folder = write_study(tmp_path / "load", TRUTH, training=1, trials=8, repeats=1)
    server = StudyServer(folder, _free_port(), tmp_path / "server.log")
    latencies: list[float] = []
    truth = truth_of(TRUTH)
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(PARTICIPANTS) as pool:
            counts = list(pool.map(lambda k: answer_session(server.url, f"p{k:02d}", truth, k, latencies), range(PARTICIPANTS)))
        seconds = time.perf_counter() - started
        status = httpx.get(f"{server.url}/api/status").json()
    finally:
        server.stop()
    stored = Store(Study(folder).default_database_url())
    lost = PARTICIPANTS * PER_PARTICIPANT - stored.counts()["answered"]
    p50, p99 = statistics.quantiles(latencies, n=100)[49] * 1000, statistics.quantiles(latencies, n=100)[98] * 1000
    print(f"load: {PARTICIPANTS} participants, {sum(counts)} answers ({len(latencies)} posts with retries) in {seconds:.1f} s, "
          f"lost {lost}, answer latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    assert counts == [PER_PARTICIPANT] * PARTICIPANTS
    assert status == {"participants": PARTICIPANTS, "shown": PARTICIPANTS * PER_PARTICIPANT, "answered": PARTICIPANTS * PER_PARTICIPANT}
    assert lost == 0
    for k in range(PARTICIPANTS):  # each participant's own session, complete and in order
        trials = stored.trials(f"p{k:02d}")
        assert [t.index for t in trials] == list(range(PER_PARTICIPANT)) and all(t.choice for t in trials)


@pytest.mark.timeout(300)
def test_a_kill_9_mid_study_loses_no_acknowledged_answer_and_everyone_resumes(tmp_path):
    folder = write_study(tmp_path / "kill", TRUTH, training=2, trials=40, repeats=3)
    port = _free_port()
    truth = truth_of(TRUTH)
    acknowledged: dict = {}
    stop = threading.Event()
    server = StudyServer(folder, port, tmp_path / "server.log")
    try:
        with ThreadPoolExecutor(8) as pool:
            running = [pool.submit(answer_session, server.url, f"k{k}", truth, k, [], stop, acknowledged) for k in range(8)]
            while len(acknowledged) < 60:
                time.sleep(0.05)
            server.kill()  # mid-flight: requests in progress get no reply
            stop.set()
            for future in running:
                try:
                    future.result()
                except httpx.HTTPError:  # the request the kill cut off
                    pass
        pending_before = {}
        store = Store(Study(folder).default_database_url())
        for k in range(8):
            pending_before[f"k{k}"] = [t for t in store.trials(f"k{k}") if t.choice is None]
        server = StudyServer(folder, port, tmp_path / "server.log")
        stored = {(t.participant, t.index): t.choice for t in store.answered()}
        assert all(stored.get(key) == choice for key, choice in acknowledged.items()), "an acknowledged answer was lost"
        print(f"kill -9: {len(acknowledged)} answers acknowledged before the kill, {len(stored)} stored, lost 0")
        for k in range(8):  # resume: the pending trial is shown again, or the next one after the last answer
            code = f"k{k}"
            state = httpx.get(f"{server.url}/api/next", params={"participant": code}).json()
            answered = sum(1 for key in stored if key[0] == code)
            assert state["answered"] == answered and state["trial"]["index"] == answered
            if pending_before[code]:
                pending = pending_before[code][0]
                assert (state["trial"]["left"].endswith(pending.left.replace("/", "__") + ".webm")
                        and state["trial"]["right"].endswith(pending.right.replace("/", "__") + ".webm"))
        finished = answer_session(server.url, "k0", truth, 99, [])
        assert finished == 45 - sum(1 for key in stored if key[0] == "k0")
    finally:
        server.stop()
