"""The load-generator processes (paho publishers, the ceiling's subscriber) and (1) the broker ceiling."""

import contextlib
import ctypes
import math
import multiprocessing as mp
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt

from bench.common import LOOPBACK
from bench.gateway.settings import MAX_OUTSTANDING, READY_TIMEOUT_S, WAIT_S
from bench.gateway.support import CpuMeter, new_client, telemetry_block
from device_gateway import topics

# --- load-generator processes -----------------------------------------------------------------------------


def publisher_process(port: int, index: int, acked: Any, jobs: Connection) -> None:
    """A load generator: one paho client; runs the jobs it is sent, answers each with what it published.

    The client runs in this one thread (no loop_start): publish() writes to the socket at once and loop()
    reads the PUBACKs, which more than doubles what a process can publish. `acked` counts the PUBACKs this
    process has had, across all jobs: the main process reads it live.
    """
    client = new_client(f"bench-pub-{index}-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(MAX_OUTSTANDING)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()

    def on_publish(*_: Any) -> None:
        acked.value += 1

    client.on_publish = on_publish
    client.connect(LOOPBACK, port, keepalive=30)
    deadline = time.monotonic() + WAIT_S
    while not connected.is_set() and time.monotonic() < deadline:
        client.loop(0.05)
    jobs.send("ready")
    sent_total = 0
    while True:
        while not jobs.poll(0):
            client.loop(0.2)  # keepalive while idle
        if (job := jobs.recv()) is None:
            break
        sent_total = run_job(client, job, acked, sent_total)
        deadline = time.monotonic() + 30
        while acked.value < sent_total and time.monotonic() < deadline:
            client.loop(0.01)
        jobs.send({"sent": job["sent"], "acked_all": acked.value >= sent_total})
    client.disconnect()


def run_job(client: mqtt.Client, job: dict[str, Any], acked: Any, sent_total: int) -> int:
    """Publish a job: raw (as fast as PUBACKs allow, for `seconds`), paced (`rate` blocks/s per device for
    `seconds`) or burst (`blocks` per device as fast as PUBACKs allow). Sets job['sent'] per device."""
    devices: list[tuple[str, str, int]] = job["devices"]  # (mqtt id, session id, first seq)
    n = len(devices)
    raw_payload: bytes | None = job.get("raw_payload")
    paced = raw_payload is None and bool(job.get("rate"))
    start_at: float = job["start_at"]
    end_at = start_at + job["seconds"] if raw_payload is not None else math.inf
    if raw_payload is not None:
        total = sys.maxsize
    elif paced:
        total = int(job["seconds"] * job["rate"] * n)
    else:
        total = job["blocks"] * n
    while time.monotonic() < start_at:
        client.loop(min(0.01, max(0.0, start_at - time.monotonic())))
    sent = 0
    while sent < total:
        now = time.monotonic()
        if now >= end_at:
            break
        due = min(total, int((now - start_at) * job["rate"] * n)) if paced else total
        room = MAX_OUTSTANDING - (sent_total - acked.value)
        if sent >= due or room <= 0:
            client.loop(0.001)
            continue
        for _ in range(min(due - sent, 100, room)):
            if raw_payload is not None:
                client.publish(f"bench/raw/{sent % 100}/telemetry", raw_payload, qos=1)
            else:
                mqtt_id, session_id, first_seq = devices[sent % n]
                block = telemetry_block(session_id, first_seq + sent // n)
                client.publish(topics.device_topic(mqtt_id, "telemetry"), block, qos=1)
            sent += 1
            sent_total += 1
        client.loop(0)
    job["sent"] = [sent // n + (1 if d < sent % n else 0) for d in range(n)] if n else [sent]
    return sent_total


def subscriber_process(port: int, received: Any, ready: Any) -> None:
    """The ceiling's receiver: one paho client, QoS 1, counting what arrives."""
    client = new_client(f"bench-sub-{uuid.uuid4().hex[:6]}")

    def on_message(*_: Any) -> None:
        received.value += 1

    client.on_connect = lambda c, *_: c.subscribe("bench/raw/#", qos=1)
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = on_message
    client.connect(LOOPBACK, port, keepalive=30)
    client.loop_forever()


@dataclass
class Publishers:
    """The load-generator processes, their live PUBACK counters and their job pipes."""

    processes: list[mp.process.BaseProcess]
    counters: list[Any]
    pipes: list[Connection]

    @classmethod
    def spawn(cls, count: int, port: int) -> "Publishers":
        ctx = mp.get_context("spawn")
        processes, counters, pipes = [], [], []
        for index in range(count):
            counter = ctx.Value(ctypes.c_longlong, 0, lock=False)
            mine, theirs = ctx.Pipe()
            process = ctx.Process(target=publisher_process, args=(port, index, counter, theirs), daemon=True)
            process.start()
            processes.append(process)
            counters.append(counter)  # type: ignore[arg-type]
            pipes.append(mine)
        for pipe in pipes:
            if not pipe.poll(READY_TIMEOUT_S) or pipe.recv() != "ready":
                raise RuntimeError("a load generator did not connect")
        return cls(processes, counters, pipes)

    def acked(self) -> int:
        return sum(counter.value for counter in self.counters)

    def pids(self, count: int | None = None) -> list[int]:
        return [p.pid for p in self.processes[:count] if p.pid is not None]

    def send(self, jobs: list[dict[str, Any]]) -> None:
        for pipe, job in zip(self.pipes, jobs, strict=False):
            pipe.send(job)

    def collect(self, count: int) -> list[dict[str, Any]]:
        results = []
        for pipe in self.pipes[:count]:
            if not pipe.poll(120):
                raise RuntimeError("a load generator did not finish its job")
            results.append(pipe.recv())
        return results

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


# --- 1. the broker ceiling --------------------------------------------------------------------------------


@dataclass
class RawResult:
    publishers: int
    payload_bytes: int
    published_per_s: float
    received_per_s: float
    cpu: dict[str, float]


def measure_raw(port: int, broker_pid: int, publishers: Publishers, count: int, seconds: float) -> RawResult:
    """Publishers flat out → Mosquitto → one QoS 1 subscriber; the subscriber's rate over a steady window."""
    ctx = mp.get_context("spawn")
    received = ctx.Value(ctypes.c_longlong, 0, lock=False)
    ready = ctx.Event()
    subscriber = ctx.Process(target=subscriber_process, args=(port, received, ready), daemon=True)
    subscriber.start()
    try:
        if not ready.wait(READY_TIMEOUT_S):
            raise RuntimeError("the ceiling's subscriber did not subscribe")
        meter = CpuMeter()
        assert subscriber.pid is not None
        meter.groups = {"broker": [broker_pid], "publishers": publishers.pids(count), "subscriber": [subscriber.pid]}
        payload = telemetry_block(str(uuid.uuid4()), 7)
        warmup = 1.5
        start_at = time.monotonic() + 0.5
        publishers.send(
            [{"devices": [], "raw_payload": payload, "start_at": start_at, "seconds": warmup + seconds + 0.5}] * count
        )
        time.sleep(max(0.0, start_at + warmup - time.monotonic()))
        cpu0, received0, acked0 = meter.snapshot(), received.value, publishers.acked()
        time.sleep(seconds)
        cpu1, received1, acked1 = meter.snapshot(), received.value, publishers.acked()
        publishers.collect(count)
        elapsed = cpu1.at - cpu0.at
        return RawResult(
            count,
            len(payload),
            (acked1 - acked0) / elapsed,
            (received1 - received0) / elapsed,
            CpuMeter.percent(cpu0, cpu1),
        )
    finally:
        subscriber.terminate()
        subscriber.join(timeout=10)
