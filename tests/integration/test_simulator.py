"""`cityops simulate` against the real broker and engine: a rainstorm lights up Jianye with joint
incidents (water with urban management and traffic police), on a sped-up city clock."""

from __future__ import annotations

import subprocess
import sys
import time

from cityops.deploy import services as svc
from tests.waiting import wait_until


def test_a_rainstorm_minute_produces_joint_incidents_in_jianye(isolated, tmp_path):
    env = {**isolated.env, "CITYOPS_CLOCK_SPEED": "6", "CITYOPS_CLOCK_EPOCH": str(time.time())}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "cityops.deploy.cli", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        sim = subprocess.run(
            [
                sys.executable,
                "-m",
                "cityops.deploy.cli",
                "simulate",
                "--rate",
                "20",
                "--duration",
                "60",
                "--scenario",
                "rainstorm",
                "--seed",
                "11",
                "--no-progress",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sim.returncode == 0, sim.stderr
        assert time.monotonic() - started <= 20
        assert "rainstorm (seed 11)" in sim.stdout and "320105" in sim.stdout

        def joint_in_jianye():
            rows = isolated.ch.execute(
                "SELECT incident_id, departments FROM incidents_current "
                "WHERE district = %(d)s AND joint = 1 AND category = 'waterlogging'",
                {"d": "320105"},
            )
            return rows

        rows = wait_until(
            joint_in_jianye,
            60,
            "joint waterlogging incidents in Jianye",
            interval=0.25,
            details=lambda: svc.log_tail(log, 30),
        )
        assert any({"water", "urban_mgmt", "traffic_police"} <= set(deps) for _, deps in rows)
    finally:
        svc.stop(svc.Process("worker", worker, worker.pid, log))


def test_the_simulator_stops_on_sigterm_with_a_summary(isolated):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cityops.deploy.cli",
            "simulate",
            "--rate",
            "50",
            "--duration",
            "0",
            "--scenario",
            "festival",
            "--no-progress",
        ],
        env=isolated.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=isolated.settings.bootstrap)
    parts = [TopicPartition(isolated.topics.events, p) for p in range(4)]
    try:
        wait_until(
            lambda: sum(consumer.end_offsets(parts).values()) >= 50,
            30,
            "the simulator's first 50 events",
            interval=0.25,
        )
    finally:
        consumer.close()
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "by type:" in out and "by district:" in out and "320104" in out
