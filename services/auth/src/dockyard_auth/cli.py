# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``dockyard-auth`` command: serve, migrate, bootstrap-admin, sync, check-config.

Every command reads the configuration file (``--config``, else
``$DOCKYARD_AUTH_CONFIG``, else /etc/dockyard-auth/config.yml) and stops with
the list of its problems before doing anything when it is invalid.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import threading
from pathlib import Path

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from prometheus_client import multiprocess

from dockyard_auth import __version__, migrate, sync
from dockyard_auth.app import GRANT_ENVIRON_KEY, Server, create_app
from dockyard_auth.config import Config, ConfigError, load, startup_warnings
from dockyard_auth.database import make_engine
from dockyard_auth.names import check_account_name
from dockyard_auth.passwords import Hasher, password_problem
from dockyard_auth.permissions import SYNC
from dockyard_auth.store import Store

log = logging.getLogger("dockyard_auth")

# gunicorn's sync workers (``workers`` of them, a setting): each takes one connection at a time and closes it
# after the answer, so the kernel hands every request to a worker that is free, and all of them share the load.
# gthread workers keep a keep-alive connection in the worker that accepted it: a few long-lived connections (nginx's
# upstream keepalive, a load generator) can all land in one worker, which runs on one core (the GIL) while the
# others idle; the benchmark measured that, and more CPU per token for the threads' hand-offs. Slow clients do not
# hold a worker: nginx in front buffers whole requests. bcrypt releases the GIL either way.
WORKER_CLASS = "sync"
# No query strings in the access log lines the registry's scopes would fill. The last field is an issued
# token's grant, "token for 'alice': repository:web/app:pull,push" ("-" on every other line): one line per
# token says who got what. It holds no secret: a login name that is an account's, and the scopes granted.
GRANT_ATOM = "{dockyard_auth.grant}e"  # gunicorn's name for the environ entry app.GRANT_ENVIRON_KEY
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss %({dockyard_auth.grant}e)s'


class AccessLogger(glogging.Logger):
    """gunicorn's logger, with only the fields of ACCESS_LOG_FORMAT worked out for each request.

    gunicorn's own makes a field of every request header, response header and
    WSGI environ entry (and decodes the Basic credentials for ``%(u)s``) on
    every request, for whatever format is set; the line is the same.
    """

    def atoms(self, resp, req, environ, request_time) -> dict:
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        atoms = {
            "h": environ.get("REMOTE_ADDR", "-"),
            "m": environ.get("REQUEST_METHOD"),
            "U": environ.get("PATH_INFO"),
            "s": status,
            "b": str(sent) if sent is not None else "-",
            "L": "%d.%06d" % (request_time.seconds, request_time.microseconds),  # noqa: UP031 - gunicorn's own form
        }
        if GRANT_ENVIRON_KEY in environ:  # absent, the line shows "-" (gunicorn's SafeAtoms)
            atoms[GRANT_ATOM] = environ[GRANT_ENVIRON_KEY]
        return atoms


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _engine(config: Config):
    return make_engine(
        config.database_url, config.database_password(), config.database_pool_size, config.database_ca_file
    )


def bootstrap_admin(config: Config, engine, name: str | None = None, password: str | None = None) -> str:
    """Create the first admin when no admin exists; the API manages every account after that."""
    name = name or config.bootstrap_admin_name
    password = password or config.bootstrap_admin_password()
    if not name or not password:
        raise ConfigError("bootstrap_admin: set bootstrap_admin.name and bootstrap_admin.password_file")
    check_account_name("user", name)
    problem = password_problem(password)
    if problem:
        # The same rules as any password the API sets; the password itself is never shown.
        raise ConfigError(f"bootstrap_admin.password_file (or --password-file): the password {problem}")
    store = Store(engine)
    if store.admin_exists():
        return "an admin exists already: nothing to do"
    if store.get_user(name) is not None:
        store.update_user(name, admin=True, enabled=True, password_hash=Hasher(config.bcrypt_rounds).hash(password))
        return f"user {name} is now an admin"
    store.create_user(name, Hasher(config.bcrypt_rounds).hash(password), admin=True)
    return f"admin {name} created"


def run_sync(config: Config, strategy: str, engine=None) -> dict:
    if not config.registry_url:
        raise ConfigError("registry.url: set it to the registry's address (e.g. http://registry:5000) to sync")
    server = Server.from_config(config, engine=engine)
    reader = sync.RegistryReader(
        config.registry_url,
        lambda access: server.issue(SYNC, access)["token"],
        str(config.registry_ca_file) if config.registry_ca_file else None,
    )
    return sync.run(server.store, reader, strategy).as_dict()


def _sync_loop(config: Config, stop: threading.Event) -> None:
    """The periodic sync: update-delete every ``registry.sync_interval`` seconds."""
    engine = _engine(config)
    while not stop.wait(config.sync_interval):
        try:
            run_sync(config, "update-delete", engine)
        except (sync.SyncError, ConfigError, OSError) as exc:
            log.warning("periodic sync failed: %s", exc)
        except Exception:  # keep the loop alive whatever one run met
            log.exception("periodic sync failed")


def serve(config: Config, migrate_first: bool) -> int:
    for warning in startup_warnings(config):
        log.warning("%s", warning)
    engine = _engine(config)
    if migrate_first:
        migrate.upgrade(engine)
    elif migrate.current(engine) != migrate.head():
        raise ConfigError("the database is not at the newest schema: run 'dockyard-auth migrate' first")
    if config.bootstrap_admin_name:
        log.info("bootstrap: %s", bootstrap_admin(config, engine))
    engine.dispose()
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        # Samples of an earlier run's workers would be added up with this run's.
        shutil.rmtree(metrics_dir, ignore_errors=True)
        Path(metrics_dir).mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    class Application(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": config.listen,
                "workers": config.workers,
                "worker_class": WORKER_CLASS,
                "timeout": 60,
                "graceful_timeout": 20,
                "accesslog": "-",
                "errorlog": "-",
                "loglevel": config.log_level,
                "access_log_format": ACCESS_LOG_FORMAT,
                "logger_class": AccessLogger,
                "limit_request_line": 8190,
                "limit_request_fields": 50,
                "limit_request_field_size": 8190,
                "when_ready": lambda _server: _start_sync(config, stop),
                "child_exit": _child_exit,
                "on_exit": lambda _server: stop.set(),
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            return create_app(config)

    Application().run()
    return 0


def _start_sync(config: Config, stop: threading.Event) -> None:
    if config.sync_interval and config.registry_url:
        threading.Thread(target=_sync_loop, args=(config, stop), name="sync", daemon=True).start()


def _child_exit(_server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dockyard-auth", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dockyard-auth {__version__}")
    parser.add_argument("--config", help="the configuration file (default: $DOCKYARD_AUTH_CONFIG or %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="migrate the database, then answer requests (gunicorn)")
    serve_cmd.add_argument("--no-migrate", action="store_true", help="refuse to start on an old schema instead")
    commands.add_parser("migrate", help="upgrade the database schema to the newest revision, keeping every row")
    boot = commands.add_parser("bootstrap-admin", help="create the first admin when there is none")
    boot.add_argument("--name", help="default: bootstrap_admin.name")
    boot.add_argument("--password-file", type=Path, help="default: bootstrap_admin.password_file")
    sync_cmd = commands.add_parser("sync", help="reconcile repositories and tags with the registry")
    sync_cmd.add_argument("--strategy", choices=["initial", "update", "update-delete"], default="update")
    commands.add_parser("check-config", help="validate the configuration and say so")
    args = parser.parse_args(argv)

    try:
        config = load(args.config)
        _setup_logging(config.log_level)
        if args.command == "check-config":
            for warning in startup_warnings(config):
                print(f"warning: {warning}")
            print("configuration is valid")
            return 0
        if args.command == "serve":
            return serve(config, migrate_first=not args.no_migrate)
        engine = _engine(config)
        if args.command == "migrate":
            before = migrate.current(engine)
            migrate.upgrade(engine)
            print(f"schema at {migrate.current(engine)} (was {before or 'empty'})")
        elif args.command == "bootstrap-admin":
            password = args.password_file.read_text(encoding="utf-8").strip() if args.password_file else None
            print(bootstrap_admin(config, engine, args.name, password))
        elif args.command == "sync":
            print(json.dumps(run_sync(config, args.strategy, engine), sort_keys=True))
    except ConfigError as exc:
        print(f"dockyard-auth: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line for the operator; the traceback with --debug logging
        log.debug("failed", exc_info=True)
        print(f"dockyard-auth {args.command}: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
