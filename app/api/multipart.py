"""The embedded receiver's form, read as S3 reads a POST: the signature before the file.

Werkzeug's form parser reads a whole body before the view sees a field, so an anonymous
40 MB body was read to the end before its 403. Here the form is decoded incrementally: the
fields that precede the file part (as S3 requires, and as browsers send them) are checked
the moment the file part begins, and the file is counted as it arrives, so a bad signature
costs one chunk and an oversized file stops at its policy's limit.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import IO

from werkzeug.datastructures import FileStorage, Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from app.uploads.policy import Policy, UploadRejected

CHUNK = 64 * 1024
# The fields are a key, a content type, a policy and a signature: a few KB at most.
MAX_FIELDS_BYTES = 64 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024


def read_signed_upload(
    stream: IO[bytes],
    boundary: str,
    verify: Callable[[dict[str, str]], Policy],
) -> tuple[Policy, FileStorage]:
    """The verified policy and the 'file' part; UploadRejected as soon as either fails."""
    if not boundary:
        raise UploadRejected(400, "missing_file", "send multipart/form-data with a 'file' part")
    reader = _FormReader(boundary, verify)
    try:
        reader.run(stream)
    except RequestEntityTooLarge:
        raise UploadRejected(413, "entity_too_large", "the form's fields are too large") from None
    except ValueError:
        raise UploadRejected(400, "invalid_form", "the multipart body is malformed") from None
    if reader.policy is None or reader.upload is None:
        verify(reader.fields)  # a form with no file is still anonymous until its check
        raise UploadRejected(400, "missing_file", "the form has no 'file' part")
    reader.upload.stream.seek(0)
    return reader.policy, reader.upload


class _FormReader:
    def __init__(self, boundary: str, verify: Callable[[dict[str, str]], Policy]) -> None:
        # The decoder's buffer is bounded too: a part's data is handed on as it arrives.
        self.decoder = MultipartDecoder(boundary.encode("latin-1"), max_form_memory_size=4 * CHUNK)
        self.verify = verify
        self.fields: dict[str, str] = {}
        self.policy: Policy | None = None
        self.upload: FileStorage | None = None
        self._field: str | None = None  # the field whose data is arriving, if any
        self._value = bytearray()
        self._fields_bytes = 0
        self._file_bytes = 0

    def run(self, stream: IO[bytes]) -> None:
        ended = False
        while True:
            event = self.decoder.next_event()
            if isinstance(event, NeedData):
                if ended:
                    raise ValueError("the body ended inside the form")
                chunk = stream.read(CHUNK)
                ended = not chunk
                self.decoder.receive_data(chunk or None)
            elif isinstance(event, File):  # before Field: a File is a Field subclass
                self._start_file(event)
            elif isinstance(event, Field):
                self._field, self._value = event.name, bytearray()
            elif isinstance(event, Data):
                self._data(event)
            elif isinstance(event, Epilogue):
                return

    def _start_file(self, event: File) -> None:
        if event.name != "file" or self.policy is not None:
            raise UploadRejected(400, "invalid_form", "the form takes one 'file' part")
        # Everything S3 checks is in the fields before the file: check it now.
        self.policy = self.verify(self.fields)
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        self.upload = FileStorage(
            stream=spool, filename=event.filename, name="file", headers=Headers(event.headers)
        )
        self._field = None

    def _data(self, event: Data) -> None:
        if self._field is not None:
            self._value += event.data
            self._fields_bytes += len(event.data)
            if self._fields_bytes > MAX_FIELDS_BYTES:
                raise RequestEntityTooLarge()
            if not event.more_data:
                self.fields[self._field] = self._value.decode("utf-8", "replace")
                self._field = None
        elif self.upload is not None and self.policy is not None:
            self._file_bytes += len(event.data)
            if self._file_bytes > self.policy.max_bytes:
                raise UploadRejected(
                    413,
                    "entity_too_large",
                    f"the upload is over the {self.policy.max_bytes} bytes its policy allows",
                )
            self.upload.stream.write(event.data)
