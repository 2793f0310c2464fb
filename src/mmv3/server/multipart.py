"""Multipart request bodies as Go's `Request.ParseMultipartForm` reads them, with its error texts.

Real 4.9 handlers answer a body Go cannot parse in their own ways (files/upload and license/add
with a 500 `text/plain` carrying Go's error text, emoji/create with a 400 AppError), so the
parse failure is an exception holding that text and each handler decides the answer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header
from werkzeug.wrappers import Request

from mmv3.server.context import Reply

NOT_MULTIPART = "request Content-Type isn't multipart/form-data"
NO_BOUNDARY = "no multipart boundary param in Content-Type"
TRUNCATED = "multipart: NextPart: EOF"


class MultipartError(Exception):
    """The body is not a multipart form Go can read; `str()` is Go's error text."""


@dataclass
class Form:
    values: MultiDict[str, str]
    files: MultiDict[str, FileStorage]

    def first(self, name: str) -> str | None:
        """The first value of a text field (Go's `m.Value[name][0]`), or None when absent."""
        values = self.values.getlist(name)
        return values[0] if values else None

    def uploads(self, name: str) -> list[tuple[str, bytes]]:
        """(filename, content) of every file part named `name`, in request order."""
        return [(f.filename or "", f.read()) for f in self.files.getlist(name)]


def parse(request: Request) -> Form:
    """The text fields and file parts of a `multipart/form-data` body; MultipartError otherwise."""
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    if mimetype != "multipart/form-data":
        raise MultipartError(NOT_MULTIPART)
    if not options.get("boundary"):
        raise MultipartError(NO_BOUNDARY)
    body = request.get_data(cache=True)
    parser = FormDataParser(silent=False, cls=MultiDict)
    try:
        _, values, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
    except ValueError:
        raise MultipartError(TRUNCATED) from None
    return Form(values, files)


def go_http_error(text: str, status: int = 500) -> Reply:
    """Go's `http.Error`: the text and a newline as `text/plain`, with nosniff."""
    return Reply(
        status, f"{text}\n".encode(), "text/plain; charset=utf-8", [("X-Content-Type-Options", "nosniff")]
    )
