"""The `cityops` command line (CONTRACT §1). Thin: parse, load settings, call the module that works.

Bad arguments get one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from cityops.deploy.services import StackError


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class UsageError(Exception):
    """A well-formed command with a value we cannot use; reported as one line, exit 2."""


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="cityops", description="cityops: city operations event bus and wall display"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    up = sub.add_parser("up", help="start the local stack")
    up.add_argument("--detach", action="store_true", help="start in the background and return")
    up.add_argument("--simulate", type=positive_float, metavar="RATE", help="simulated events/s")
    up.add_argument("--no-dashboard", action="store_true")
    up.add_argument("--workers", type=int, choices=range(1, 9), metavar="N")
    up.add_argument(
        "--secure",
        action="store_true",
        help="broker with SASL (SCRAM) over TLS and ClickHouse with a password (CONTRACT §8)",
    )
    up.add_argument(
        "--durable",
        action="store_true",
        help="keep the embedded broker's topics and offsets on disk (docs/operations.md)",
    )
    up.add_argument(
        "--cluster",
        action="store_true",
        help="ClickHouse as a cluster: ZooKeeper and 2 shards x 2 replicas (CONTRACT §9)",
    )
    sub.add_parser("down", help="stop a detached stack")
    st = sub.add_parser("status", help="addresses and state of the stack")
    st.add_argument("--json", action="store_true")

    sub.add_parser(
        "migrate",
        help="apply the ClickHouse migrations not yet applied (on the cluster when "
        "CITYOPS_CLICKHOUSE_CLUSTER is set) and print the versions applied",
    )
    sub.add_parser("worker", help="run one stream worker (the intake bridge and incident engine)")
    sub.add_parser("gateway", help="run the HTTP gateway")
    sub.add_parser("notify", help="run the notifier ([[notify]] targets of the rules file)")
    dash = sub.add_parser("dashboard", help="run the dashboard")
    dash.add_argument(
        "--dev", action="store_true", help="Dash development server instead of gunicorn"
    )

    pub = sub.add_parser("publish", help="validate and publish events from a JSON-lines file")
    pub.add_argument("file", type=Path)
    pub.add_argument("--dry-run", action="store_true", help="validate only, send nothing")
    pub.add_argument(
        "--department", help="publish as this department (default: each line's source)"
    )
    pub.add_argument("--binary", action="store_true", help="binary content mode (ce_ headers)")

    sim = sub.add_parser("simulate", help="synthetic city traffic")
    sim.add_argument("--rate", type=positive_float, required=True, help="events per second")
    sim.add_argument(
        "--duration",
        type=non_negative_float,
        required=True,
        help="seconds to run (0 = until stopped)",
    )
    sim.add_argument(
        "--scenario", default="normal", choices=["normal", "rainstorm", "gas-leak", "festival"]
    )
    sim.add_argument("--seed", type=int, default=None)
    sim.add_argument("--no-progress", action="store_true")
    sim.add_argument(
        "--sensors",
        type=non_negative_float,
        default=1.0,
        help="size of the sensor population sending readings (1 = ~460 sensors; 0 = none)",
    )

    reg = sub.add_parser("registry", help="the city registry")
    reg.add_argument("--json", action="store_true", help="counts as JSON")
    reg_sub = reg.add_subparsers(dest="registry_command", parser_class=OneLineParser)
    export = reg_sub.add_parser("export", help="one JSON line per entry")
    export.add_argument("--kind", choices=["units", "departments", "categories"], default="units")

    users = sub.add_parser("users", help="dashboard logins")
    users_sub = users.add_subparsers(
        dest="users_command", required=True, parser_class=OneLineParser
    )
    add = users_sub.add_parser("add")
    add.add_argument("name")
    add.add_argument("--role", choices=["officer", "admin", "secretary"], required=True)
    add.add_argument("--district")
    add.add_argument("--street", help="an officer of one street (9-digit code)")
    add.add_argument("--unit", help="a secretary's community, street or district code")
    add.add_argument("--password-stdin", action="store_true", required=True)
    passwd = users_sub.add_parser("passwd", help="change a password; the user's sessions end")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", required=True)

    kiosk = sub.add_parser("kiosk", help="the wall's kiosk token")
    kiosk_sub = kiosk.add_subparsers(
        dest="kiosk_command", required=True, parser_class=OneLineParser
    )
    kiosk_sub.add_parser("rotate", help="a new token; walls opened with the old one stop")

    keys = sub.add_parser("keys", help="API keys for HTTP publishing")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, parser_class=OneLineParser)
    create = keys_sub.add_parser("create", help="make a key for a department (printed once)")
    create.add_argument("department")
    create.add_argument(
        "--scope",
        choices=["events", "open311"],
        default="events",
        help="events: CloudEvents and Open311 (default); open311: Open311 citizen intake only",
    )
    listing = keys_sub.add_parser("list", help="every key: id, department, scope, state")
    listing.add_argument("--json", action="store_true")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id (see `keys list`)")
    revoke.add_argument("key_id")

    rep = sub.add_parser(
        "report", help="daily or weekly report per district or street (CSV/HTML/PDF)"
    )
    rep.add_argument("period", choices=["daily", "weekly"])
    rep.add_argument(
        "--date",
        type=_report_date,
        default=None,
        help="YYYY-MM-DD, Beijing time (default: today); weekly: the ISO week containing it",
    )
    rep.add_argument("--format", choices=["csv", "html", "pdf"], default="csv")
    rep.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    rep.add_argument("--by", choices=["district", "street"], default="district")
    rep.add_argument(
        "--part",
        choices=["units", "returns"],
        default="units",
        help="csv: the §12 rows per unit (default) or the returns audit per unit and department",
    )

    bench = sub.add_parser("bench", help="benchmarks; results under bench/results/")
    bench.add_argument(
        "name",
        choices=[
            "throughput",
            "latency",
            "scaling",
            "memory",
            "publishing",
            "storage",
            "disk",
            "validator",
            "engine",
            "chaos",
            "cluster",
            "readings",
            "writes",
            "all",
        ],
    )
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--events", type=int, default=None)
    bench.add_argument("--quick", action="store_true", help="small sizes, for smoke runs")
    bench.add_argument(
        "--rates",
        type=_rates,
        default=None,
        help="latency, disk: steady rates in events/s, comma-separated "
        "(latency 1000,2000,5000; disk 200,2000)",
    )
    bench.add_argument("--seed", type=int, default=1, help="chaos: the fault schedule's seed")
    bench.add_argument(
        "--durable", action="store_true", help="chaos: the broker keeps its data on disk"
    )
    bench.add_argument(
        "--profile",
        action="store_true",
        help="throughput: sample the engine with py-spy for 20 s and summarise where time goes",
    )
    return parser


def _report_date(text: str):
    from cityops.storage.report_rows import parse_date

    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        rates = ()
    if not rates or any(rate <= 0 for rate in rates):
        raise argparse.ArgumentTypeError(f"expected positive numbers like 1000,2000, got {text!r}")
    return rates


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cityops.settings import load_settings

    try:
        settings = load_settings()
    except Exception as exc:  # pydantic's validation error, one line per bad variable
        print(f"cityops: error: bad configuration: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    try:
        return int(dispatch(args, settings) or 0)
    except UsageError as exc:
        print(f"cityops: error: {exc}", file=sys.stderr)
        return 2
    except StackError as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`cityops registry export | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _foreground_up(args: argparse.Namespace) -> list[str]:
    """The `cityops up` arguments without --detach: what the background supervisor runs."""
    argv = ["up"]
    if args.simulate:
        argv += ["--simulate", repr(args.simulate)]
    if args.no_dashboard:
        argv.append("--no-dashboard")
    if args.workers:
        argv += ["--workers", str(args.workers)]
    if args.secure:
        argv.append("--secure")
    if args.cluster:
        argv.append("--cluster")
    if args.durable:
        argv.append("--durable")
    return argv


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def dispatch(args: argparse.Namespace, settings) -> int:
    command = args.command
    if command == "up":
        from cityops.deploy.stack import Stack, read_state
        from cityops.deploy.supervisor import launch_detached

        if args.detach:
            from cityops.deploy.services import pid_alive

            running = read_state(settings.home)
            if running and any(pid_alive(p["pid"]) for p in running.get("processes", [])):
                raise StackError(
                    f"a stack is already running from {settings.home.resolve()} "
                    "(see `cityops status --json`); stop it with `cityops down` first"
                )
            code = launch_detached(settings.home, _foreground_up(args))
            if code == 0:
                from cityops.deploy.stack import status

                print(json.dumps(status(settings.home), indent=1, ensure_ascii=False))
            return code
        # A SIGTERM while starting stops what already started (as Ctrl-C does).
        signal.signal(signal.SIGTERM, _interrupt)
        stack = Stack(settings)
        stack.up(
            simulate=args.simulate,
            dashboard=not args.no_dashboard,
            workers=args.workers,
            secure=args.secure,
            durable=args.durable,
            cluster=args.cluster,
        )
        from cityops.deploy.stack import status

        print(json.dumps(status(settings.home), indent=1, ensure_ascii=False), flush=True)
        print("cityops: running; Ctrl-C stops everything", file=sys.stderr, flush=True)
        return stack.watch()
    if command == "down":
        from cityops.deploy.stack import down

        return down(settings.home)
    if command == "status":
        from cityops.deploy.stack import status

        info = status(settings.home)
        if args.json:
            print(json.dumps(info, ensure_ascii=False))
        else:
            for key, value in info.items():
                print(f"{key:12} {value}")
        return 0
    if command == "migrate":
        from cityops.storage.client import MIGRATE_TIMEOUT, connect, migrate

        client = connect(settings.clickhouse, database=False, timeout=MIGRATE_TIMEOUT)
        try:
            applied = migrate(
                client, settings.clickhouse.database, cluster=settings.clickhouse_cluster
            )
        finally:
            client.disconnect()
        print(json.dumps({"database": settings.clickhouse.database, "applied": applied}))
        return 0
    if command == "registry":
        from cityops.deploy.registry_cli import counts, export

        if args.registry_command == "export":
            return export(args.kind)
        return counts(as_json=args.json)
    if command == "worker":
        from cityops.streams.app import run_worker
        from cityops.streams.tuning import tune_gc

        tune_gc()
        return run_worker(settings) or 0
    if command == "notify":
        from cityops.streams.notify.service import run_notifier

        return run_notifier(settings)
    if command == "gateway":
        from cityops.streams.publish.gateway.serve import serve

        return serve(settings) or 0
    if command == "dashboard":
        from cityops.dashboard.serve import serve as serve_dashboard

        return serve_dashboard(settings, dev=args.dev) or 0
    if command == "publish":
        from cityops.streams.publish.jsonl import publish_file

        return publish_file(
            settings,
            args.file,
            dry_run=args.dry_run,
            department=args.department,
            binary=args.binary,
        )
    if command == "simulate":
        from cityops.streams.publish.simulator.run import run

        return (
            run(
                settings,
                rate=args.rate,
                duration=args.duration,
                scenario=args.scenario,
                seed=args.seed,
                progress=not args.no_progress,
                sensors=args.sensors,
            )
            or 0
        )
    if command == "users":
        from cityops.dashboard.auth import add_user_cli, passwd_cli

        if args.users_command == "passwd":
            return passwd_cli(settings, args.name)
        return add_user_cli(
            settings,
            args.name,
            role=args.role,
            district=args.district,
            street=args.street,
            unit=args.unit,
        )
    if command == "kiosk":
        from cityops.deploy.stack import rotate_kiosk

        wall = rotate_kiosk(settings.home)
        print("kiosk token rotated; walls opened with the old token are signed out")
        print(f"wall: {wall}" if wall else f"new token in {settings.home / 'secrets.json'}")
        if settings.kiosk_token is not None:
            print(
                "warning: secrets.json now overrides CITYOPS_KIOSK_TOKEN for this home",
                file=sys.stderr,
            )
        return 0
    if command == "keys":
        from cityops.streams.publish import keys

        if args.keys_command == "list":
            return keys.list_keys_cli(settings, as_json=args.json)
        if args.keys_command == "revoke":
            return keys.revoke_key_cli(settings, args.key_id)
        return keys.create_key_cli(settings, args.department, args.scope)
    if command == "report":
        from cityops.deploy.report_cli import ReportError
        from cityops.deploy.report_cli import run as run_report

        if args.part == "returns" and args.format != "csv":
            raise UsageError("--part returns is a CSV; the HTML and PDF report hold the returns")
        try:
            return run_report(
                settings, args.period, args.date, args.format, args.out, args.by, args.part
            )
        except ReportError as exc:
            print(f"cityops: error: {exc}", file=sys.stderr)
            return 1
    if command == "bench":
        from cityops.bench.run import run_bench

        # A benchmark starts its own broker, ClickHouse and workers: on SIGTERM stop them as on
        # Ctrl+C (the `finally` blocks run) instead of leaving them behind.
        signal.signal(signal.SIGTERM, _interrupt)
        return run_bench(
            settings,
            args.name,
            as_json=args.json,
            events=args.events,
            quick=args.quick,
            rates=args.rates,
            profile=args.profile,
            seed=args.seed,
            durable=args.durable,
        )
    raise UsageError(f"unknown command {command}")


if __name__ == "__main__":
    sys.exit(main())
