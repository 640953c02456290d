"""Device gateway benchmark (issue 5): broker ceiling, telemetry ingest, start and interlock latencies.

Everything runs in one go on a private Mosquitto (started here on a free port, with the queue, in-flight and
packet limits of deploy/mosquitto/mosquitto.conf; anonymous and without persistence) and a recreated
PostgreSQL database `galvani_bench_gateway`, which is left in place afterwards:

1. Broker ceiling: 1, 2 and 3 publisher processes (paho, QoS 1, a telemetry block as payload) → Mosquitto →
   one paho subscriber process (QoS 1), no database. Messages/s received over a steady window; the best of
   the three is the ceiling.
2. Ingest: the real gateway (`python -m galvani.cli gateway`, its own process) stores telemetry that
   load-generator processes publish for N device ids, each with a treating session that exists in the
   database, at 1 block (10 samples) a second per device, as real devices do. N grows (200, 400, 800, …,
   12,800) until the stored rate falls below 95 % of the published rate. Then five bursts, each between two
   ceilings (as in 1, with its best number of publishers): 200 devices publish a backlog as fast as the
   broker takes it, and the stored rate over its middle 80 % is what the gateway can take at most. Each
   burst is compared with the mean of the ceilings just before and just after it, as this machine's speed
   drifts by a third from one minute to the next; the median of the five ratios is the figure.
   At the end every published (device, session, seq) must be stored exactly once.
3. Start: POST /api/v1/appointments/{id}/start on the real API (uvicorn, its own process) until
   load_protocol arrives on the device's commands topic, over appointments due now, each with its own
   screened client and its own room whose device reported itself idle.
4. Interlock: a telemetry block above the cap, published for an armed session, until stop arrives on the
   device's commands topic; once with the gateway otherwise idle (the sessions armed in 3), once while 200
   devices stream telemetry.

The stand-in devices of 3 and 4 are one paho client in this process that answers commands the way
device_gateway/simulator.py does (ack, status, a `stopped` event), with the simulator's own payloads
(device_gateway/simulated_messages.py); the ingest load generator publishes valid blocks without simulating
sessions, filled into a template made once from the simulator's block, so that it costs per message what the
ceiling's publisher does (both share the two cores with what they measure). CPU is read from /proc (% of one
core). Where the latency went is split by the timestamps the API and the gateway write (device_commands,
session_messages.received_at).

    .venv/bin/python -m bench.gateway
    .venv/bin/python -m bench.gateway --levels 200,400,800 --level-seconds 10 --starts 50 --stops 50

Modules: settings (figures and command line), support (payloads, CPU, processes, HTTP), load (load
generators, the ceiling), database (rows), devices (the stand-in devices), ingest, latency, report, run (main).
"""
