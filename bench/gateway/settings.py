"""The benchmark's fixed figures (the same defaults as ever) and its command line."""

import argparse
import math
import os
import time
from pathlib import Path

import bench.gateway
from api.schemas.screening import ANSWER_DATE_FIELDS
from bench.common import bench_url, int_list
from galvani.demo import NO_CONTRAINDICATION

ROOT = Path(__file__).resolve().parents[2]
BENCH_DB = "galvani_bench_gateway"
BENCH_URL = bench_url(BENCH_DB)
PRODUCTION_BROKER_CONFIG = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
BROKER_LIMITS = ("max_queued_messages", "max_inflight_messages", "max_packet_size", "set_tcp_nodelay")
READY_TIMEOUT_S = 30.0
WAIT_S = 10.0
KEEP_UP = 0.95  # a level keeps up while the stored rate is at least this share of the published rate
MAX_OUTSTANDING = 1000  # QoS 1 publishes a load-generator process has in flight before it waits for PUBACKs
DRAIN_TIMEOUT_S = 60.0
BURST_S = 10.0  # the burst is sized to last about this long at the best rate seen while paced
STEP_CURRENT_UA = 200
OVER_CURRENT_UA = 400.0
TOLERANCE = 1.10  # the clinic's default 10 %
STEP = {
    "zone": "cheeks",
    "mode": "LIFT",
    "current_ua": STEP_CURRENT_UA,
    "frequency_hz": 30,
    "waveform": "square",
    "polarity": "alternating",
    "duration_s": 300,
}
STEPS = [STEP, STEP | {"zone": "jawline"}]  # the longest protocol allowed: 600 s, so max_output_s is 660
MAX_CURRENT_UA = round(STEP_CURRENT_UA * TOLERANCE, 1)
MAX_OUTPUT_S = math.ceil(sum(step["duration_s"] for step in STEPS) * TOLERANCE)  # type: ignore[misc]
NO_ANSWERS = NO_CONTRAINDICATION  # screening answers with no reason not to treat
DAY_OF = {key: NO_ANSWERS[key] for key in ("pregnant", "skin_infection", *ANSWER_DATE_FIELDS)}
WARMUP_STARTS = 3  # starts (and their interlock stops) made first and left out of the percentiles
CLK_TCK = os.sysconf("SC_CLK_TCK")
WALL_OFFSET = time.time() - time.perf_counter()  # perf_counter + this = wall time, as the database records it


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=bench.gateway.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--levels",
        type=int_list,
        default=[200, 400, 800, 1600, 3200, 4800, 6400, 8000, 9600, 12800],
        help="device counts for paced ingest, tried in order until one falls behind",
    )
    parser.add_argument("--rate", type=float, default=1.0, help="telemetry blocks per second per device")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds at the start of a level")
    parser.add_argument("--level-seconds", type=float, default=10.0, help="measured seconds per level")
    parser.add_argument("--publishers", type=int, default=2, help="load-generator processes for ingest")
    parser.add_argument(
        "--raw-publishers",
        type=int_list,
        default=[1, 2, 3],
        help="publisher processes for the ceiling, each count measured; the best is the ceiling",
    )
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="measured seconds of the ceiling")
    parser.add_argument("--burst-devices", type=int, default=200, help="devices in the burst")
    parser.add_argument(
        "--rounds", type=int, default=5, help="bursts, each between two ceilings: the machine's speed drifts"
    )
    parser.add_argument("--starts", type=int, default=100, help="measured session starts")
    parser.add_argument("--stops", type=int, default=100, help="measured interlock stops under load")
    parser.add_argument(
        "--keep-logs",
        type=Path,
        metavar="DIR",
        help="copy the gateway's, the API's and the broker's logs into DIR at the end",
    )
    parser.add_argument("--seed", type=int, default=5)
    return parser.parse_args()
