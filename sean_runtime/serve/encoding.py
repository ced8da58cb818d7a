"""Request bodies sent with a Content-Encoding: identity, gzip or deflate, decoded here with the body
limit applied to the decoded size (a small gzip bomb stops at the limit).

The service decodes bodies itself (aiohttp's auto_decompress is off): a broken deflate stream then
answers 400 at once, where aiohttp's decoder left the request waiting for the rest of it until the
per-request timeout.
"""

from __future__ import annotations

import zlib

from sean_core.errors import InputError

CODINGS = ("identity", "gzip", "x-gzip", "deflate")


class BodyTooLarge(Exception):
    """The decoded body is over the limit (HTTP 413)."""


class UnsupportedEncoding(Exception):
    """A Content-Encoding the service does not decode (HTTP 415)."""


def _decompressor(coding: str, data: bytes) -> zlib._Decompress:
    if coding == "deflate" and data[:1] and data[0] & 0x0F != 8:  # raw deflate, as some clients send it
        return zlib.decompressobj(-zlib.MAX_WBITS)
    return zlib.decompressobj(zlib.MAX_WBITS | (16 if coding in ("gzip", "x-gzip") else 0))


def decode_body(body: bytes, content_encoding: str, max_bytes: int) -> bytes:
    """The body as sent -> the body its Content-Encoding stands for (codings applied in the header's order)."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding not in CODINGS:
            raise UnsupportedEncoding(
                f"Content-Encoding {coding!r:.40} is not accepted; send the body as is, or with gzip or deflate"
            )
        if coding == "identity" or not body:
            continue
        stream = _decompressor(coding, body)
        try:
            decoded = stream.decompress(body, max_bytes + 1)
        except zlib.error as exc:
            raise InputError(f"the body is not the {coding} stream its Content-Encoding says: {exc}") from None
        if len(decoded) > max_bytes:
            raise BodyTooLarge(f"the request body decodes to more than the server's limit of {max_bytes} bytes")
        if not stream.eof or stream.unused_data:
            raise InputError(f"the body is not the {coding} stream its Content-Encoding says: it is cut or has more")
        body = decoded
    return body
