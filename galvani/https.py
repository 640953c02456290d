"""Staff HTTPS: uvicorn's TLS options for `galvani api` and `galvani serve`, from GALVANI_TLS_CERTFILE and
GALVANI_TLS_KEYFILE."""

import os
import ssl

from db.settings import Settings

# Python's server context takes TLS 1.2 or later. For 1.2, only forward-secret, authenticated ciphers (uvicorn's
# default list also lets in CBC suites); 1.3's suites are all of that kind.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def https_options(settings: Settings) -> dict[str, object]:
    """uvicorn's options for HTTPS from the settings; none without a certificate (plain HTTP)."""
    if settings.tls_certfile is None or settings.tls_keyfile is None:
        return {}
    # Checked here, once, in words: uvicorn would say it with a traceback from each worker.
    for path in (settings.tls_certfile, settings.tls_keyfile):
        try:
            path.read_bytes()
        except OSError as exc:
            raise SystemExit(f"no HTTPS: {path} cannot be read by uid {os.getuid()} ({exc.strerror})") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(settings.tls_certfile, settings.tls_keyfile)
    except ssl.SSLError as exc:
        raise SystemExit(
            f"no HTTPS: {settings.tls_certfile} and {settings.tls_keyfile} are not a certificate and its key ({exc})"
        ) from None
    return {
        "ssl_certfile": str(settings.tls_certfile),
        "ssl_keyfile": str(settings.tls_keyfile),
        "ssl_ciphers": TLS12_CIPHERS,
    }
