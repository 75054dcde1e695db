"""TLS to NATS: the client side.

In production the NATS servers present certificates signed by the group's CA (deploy/README.md,
"TLS"), and may ask clients for theirs (mutual TLS). A process is given, as PEM files mounted
from Secrets:

- NATS_TLS_CA: the CA that signed the servers' certificates (without it, the system's CAs);
- NATS_TLS_CERT and NATS_TLS_KEY: this process's own certificate and key, together or not at all.

Each file is read and checked when the settings load, so a missing file, a file that is not PEM, or
a key that does not belong to its certificate stops start-up with the variable's name instead of
showing up as a failed handshake later. PostgreSQL's TLS needs nothing here: asyncpg reads
PGSSLMODE and PGSSLROOTCERT (libpq's variables) itself.
"""

from __future__ import annotations

import ssl
from pathlib import Path

# the oldest protocol a client accepts; NATS servers since 2.2 speak TLS 1.3
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


class TlsFileError(ValueError):
    """A TLS file that cannot be used, with the reason in words."""


def client_context(ca: Path | None = None, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """An SSL context that verifies the servers' certificates and host names, trusting `ca` (or the
    system's CAs), and presents `cert`/`key` when given."""
    if (cert is None) != (key is None):
        raise TlsFileError("a client certificate needs its key and a key its certificate: set both or neither")
    if ca is not None:
        readable(ca)
    try:
        ctx = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    except ssl.SSLError as exc:
        raise TlsFileError(f"{ca}: no PEM certificate could be read ({exc.reason or exc})") from None
    ctx.minimum_version = MINIMUM_VERSION
    if cert is not None and key is not None:
        readable(cert)
        readable(key)
        try:
            ctx.load_cert_chain(str(cert), str(key))
        except ssl.SSLError as exc:
            raise TlsFileError(f"{cert} with {key}: not a PEM certificate and its matching private key "
                               f"({exc.reason or exc})") from None
    return ctx


def readable(path: Path) -> None:
    """TlsFileError unless `path` is a file this process can read."""
    if not path.is_file():
        raise TlsFileError(f"{path}: no such file")
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise TlsFileError(f"{path}: cannot be read ({exc.strerror})") from None


def nats_tls_options(servers: list[str], context: ssl.SSLContext | None) -> dict:
    """`nats.connect`'s TLS arguments for `servers`. TLS is wanted when a context is given (TLS files)
    or a URL is tls://; then the client opens every connection, and every reconnect, with the TLS
    handshake (`tls_handshake_first`), before the server's INFO and before its own CONNECT, which
    carries the password: a server in clear, or one passing as ours, gets a ClientHello and never a
    credential or a message (nats-py would otherwise upgrade only when the server asks, after reading
    its INFO in clear, even for a tls:// URL). The servers allow it with `handshake_first` in their
    `tls` block (deploy/nats/values.yaml; nats-server 2.10.4 or later). Websocket URLs (wss://) do
    their TLS in the websocket connection itself and only take the context."""
    urls = [u.strip() for u in servers]
    options: dict = {"tls": context} if context is not None else {}
    if all(u.startswith(("ws://", "wss://")) for u in urls):
        return options
    if options or any(u.startswith("tls://") for u in urls):
        options["tls_handshake_first"] = True
    return options

