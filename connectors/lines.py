"""Reading text files as physical lines of bytes, through gzip damage, and CSV lines.

A damaged file (a truncated or corrupt gzip stream, garbage where a gzip member should
start) raises :class:`InputDamaged` with the byte of the *file* where the damage was
found, after every line before it has been handed out. Gzip is decompressed with
:mod:`zlib` directly rather than :mod:`gzip`, so that everything decodable before the
damage is kept and the damaged byte is known exactly.

Lines are split on ``\\n`` only (``\\r\\n`` loses its ``\\r``), and numbered from 1 as
editors count them. Linewatch's CSV holds one record per line: a quoted cell cannot
span lines, so a stray quote spoils its own line and nothing else.

>>> import io, gzip
>>> data = gzip.compress(b'a\\nb\\r\\nc')
>>> list(physical_lines(io.BytesIO(data).read, gzipped=True))
[b'a', b'b', b'c']
>>> try:
...     list(physical_lines(io.BytesIO(data[:-9]).read, gzipped=True))
... except InputDamaged as damage:
...     print(damage.byte_offset, damage.partial)
17 b'c'
>>> split_csv_line('kind,"a ""b"", c",')
['kind', 'a "b", c', '']
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

__all__ = ["CsvLineError", "InputDamaged", "physical_lines", "split_csv_line"]

#: Bytes read from the file at a time.
CHUNK_BYTES = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"


class InputDamaged(Exception):
    """The input file is damaged at ``byte_offset`` (of the file on disk): ``reason``.

    ``partial`` holds the bytes of an incomplete last line cut by the damage; they are
    not a whole record and are not read as one.
    """

    def __init__(self, byte_offset: int, reason: str, partial: bytes = b"") -> None:
        super().__init__(f"input damaged at byte {byte_offset}: {reason}")
        self.byte_offset = byte_offset
        self.reason = reason
        self.partial = partial


def _zlib_reason(error: zlib.error) -> str:
    text = str(error)
    if "incorrect header check" in text or "unknown compression method" in text:
        return "not gzip data (no gzip header where a member should start)"
    if "incorrect data check" in text or "incorrect length check" in text:
        return (
            "the gzip checksum does not match: the compressed data is corrupt "
            "(lines before this point may be affected too)"
        )
    return f"corrupt gzip data ({text.split(': ', 1)[-1]})"


def _locate(saved: zlib._Decompress, chunk: bytes) -> tuple[bytes, int]:
    """Feed ``chunk`` byte by byte: the output up to the bad byte, and its index."""
    out = []
    for index in range(len(chunk)):
        try:
            out.append(saved.decompress(chunk[index : index + 1]))
        except zlib.error:
            return b"".join(out), index
    return b"".join(out), len(chunk)  # pragma: no cover - the whole chunk failed before


def _gunzip(read: Callable[[int], bytes]) -> Iterator[bytes]:
    """Decompressed data of one or more gzip members; :class:`InputDamaged` on damage."""
    offset = 0  # compressed bytes consumed by finished members and fed to this one
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    in_member = False
    pending = b""
    while True:
        chunk = pending or read(CHUNK_BYTES)
        pending = b""
        if not chunk:
            if in_member:
                raise InputDamaged(
                    offset, "the gzip data ends before its end-of-stream marker (truncated file)"
                )
            return
        if not in_member:
            stripped = chunk.lstrip(b"\x00")  # zero padding between members, as gzip allows
            offset += len(chunk) - len(stripped)
            chunk = stripped
            if not chunk:
                continue
        saved = decompressor.copy()
        try:
            data = decompressor.decompress(chunk)
        except zlib.error as error:
            data, index = _locate(saved, chunk)
            if data:
                yield data
            reason = _zlib_reason(error)
            if not in_member and reason.startswith("not gzip"):
                index = 0  # a bad header is damage where the member should start
            raise InputDamaged(offset + index, reason) from None
        if data:
            yield data
        if decompressor.eof:
            pending = decompressor.unused_data
            offset += len(chunk) - len(pending)
            decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
            in_member = False
        else:
            offset += len(chunk)
            in_member = True


def _plain(read: Callable[[int], bytes]) -> Iterator[bytes]:
    while chunk := read(CHUNK_BYTES):
        yield chunk


def physical_lines(read: Callable[[int], bytes], gzipped: bool) -> Iterator[bytes]:
    """Every line that ``read`` gives, without its ``\\n``/``\\r\\n``, blank ones included."""
    chunks = _gunzip(read) if gzipped else _plain(read)
    pieces: list[bytes] = []  # the line being assembled (a long line spans chunks)
    try:
        for chunk in chunks:
            if b"\n" not in chunk:
                pieces.append(chunk)
                continue
            lines = chunk.split(b"\n")
            if pieces:
                pieces.append(lines[0])
                lines[0] = b"".join(pieces)
            last = lines.pop()
            pieces = [last] if last else []
            for line in lines:
                yield line[:-1] if line.endswith(b"\r") else line
    except InputDamaged as damage:
        damage.partial = b"".join(pieces)
        raise
    if pieces:
        line = b"".join(pieces)
        yield line[:-1] if line.endswith(b"\r") else line


class CsvLineError(ValueError):
    """A CSV line that cannot be split: ``field`` is the 0-based index of the bad cell."""

    def __init__(self, field: int, message: str) -> None:
        super().__init__(message)
        self.field = field


def split_csv_line(text: str) -> list[str]:
    """The cells of one CSV line (RFC 4180 quoting, ``""`` inside quotes).

    A quote that is never closed, text after a closing quote, or a quote inside an
    unquoted cell raise :class:`CsvLineError` naming the cell. There is no cell size
    limit (the wire fields have their own).

    >>> try:
    ...     split_csv_line('a,"b')
    ... except CsvLineError as error:
    ...     print(error.field, error)
    1 a quote opened at character 3 is never closed (Linewatch CSV has one record per line)
    """
    if '"' not in text:
        return text.split(",")
    cells: list[str] = []
    position, size = 0, len(text)
    while True:
        if position < size and text[position] == '"':
            opened, parts, start = position, [], position + 1
            while True:
                quote = text.find('"', start)
                if quote < 0:
                    raise CsvLineError(
                        len(cells),
                        f"a quote opened at character {opened + 1} is never closed "
                        "(Linewatch CSV has one record per line)",
                    )
                parts.append(text[start:quote])
                if text.startswith('"', quote + 1):
                    parts.append('"')
                    start = quote + 2
                    continue
                break
            position = quote + 1
            if position < size and text[position] != ",":
                raise CsvLineError(
                    len(cells), f"text after the closing quote at character {position}"
                )
            cells.append("".join(parts))
        else:
            comma = text.find(",", position)
            end = size if comma < 0 else comma
            cell = text[position:end]
            if '"' in cell:
                raise CsvLineError(
                    len(cells),
                    f"a quote inside an unquoted cell at character {position + cell.index(chr(34)) + 1}",
                )
            cells.append(cell)
            position = end
        if position >= size:
            return cells
        position += 1  # past the comma
        if position == size:
            cells.append("")
            return cells
