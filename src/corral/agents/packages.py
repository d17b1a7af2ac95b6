"""Agent packages as zip files: `manifest.json` and `prompt.md`, optionally in one folder.

Reading a zip is defensive: the archive, its entry count and every entry's uncompressed size are
bounded before anything is decompressed, and reading stops at the bound whatever the headers
claim, so a zip bomb costs at most the bound. Entry names are never used as paths.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from corral.agents.manifest import Manifest, prompt_problem
from corral.core.errors import InvalidInput, PayloadTooLarge

MAX_PACKAGE_BYTES = 1_048_576
MAX_ENTRIES = 16
MAX_ENTRY_BYTES = 524_288
MANIFEST_FILE = "manifest.json"
PROMPT_FILE = "prompt.md"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Package:
    manifest: Manifest
    prompt: str


def build_zip(manifest: dict[str, Any], prompt: str) -> bytes:
    """A package zip; the same manifest and prompt always give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in (
            (
                MANIFEST_FILE,
                orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS),
            ),
            (PROMPT_FILE, prompt.encode()),
        ):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _invalid(detail: str, code: str = "package_invalid") -> InvalidInput:
    return InvalidInput(detail, code=code)


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_ENTRY_BYTES:
        raise PayloadTooLarge(
            f"{info.filename} is larger than {MAX_ENTRY_BYTES} bytes", code="package_too_large"
        )
    with archive.open(info) as entry:
        data = entry.read(MAX_ENTRY_BYTES + 1)
    if len(data) > MAX_ENTRY_BYTES:
        raise PayloadTooLarge(
            f"{info.filename} is larger than {MAX_ENTRY_BYTES} bytes", code="package_too_large"
        )
    return data


def _entries(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The package's files by name, with one enclosing folder (as `zip -r` makes) removed."""
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if len(archive.infolist()) > MAX_ENTRIES:
        raise _invalid(f"a package holds at most {MAX_ENTRIES} entries")
    names = [info.filename for info in infos]
    folders = {name.split("/", 1)[0] for name in names if "/" in name}
    strip = ""
    if len(folders) == 1 and all("/" in name for name in names):
        strip = folders.pop() + "/"
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename.removeprefix(strip)
        if name not in (MANIFEST_FILE, PROMPT_FILE):
            raise _invalid(
                f"unexpected file {info.filename!r}: a package holds only "
                f"{MANIFEST_FILE} and {PROMPT_FILE}"
            )
        if info.flag_bits & 0x1:
            raise _invalid("encrypted zip entries are not supported")
        entries[name] = info
    for required in (MANIFEST_FILE, PROMPT_FILE):
        if required not in entries:
            raise _invalid(f"the package has no {required}")
    return entries


def read_zip(data: bytes) -> Package:
    """The validated package in a zip, or an error that says what is wrong."""
    if len(data) > MAX_PACKAGE_BYTES:
        raise PayloadTooLarge(
            f"a package is at most {MAX_PACKAGE_BYTES} bytes", code="package_too_large"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise _invalid(f"not a zip file: {exc}") from None
    with archive:
        entries = _entries(archive)
        try:
            raw_manifest = _read_bounded(archive, entries[MANIFEST_FILE])
            raw_prompt = _read_bounded(archive, entries[PROMPT_FILE])
        except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError) as exc:
            raise _invalid(f"the zip cannot be read: {exc}") from None
    try:
        manifest_data = orjson.loads(raw_manifest)
    except orjson.JSONDecodeError as exc:
        raise _invalid(f"{MANIFEST_FILE} is not valid JSON: {exc}") from None
    try:
        prompt = raw_prompt.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(f"{PROMPT_FILE} is not UTF-8 text") from None
    if (problem := prompt_problem(prompt)) is not None:
        raise _invalid(f"{PROMPT_FILE}: {problem}")
    try:
        manifest = Manifest.model_validate(manifest_data)
    except ValidationError as exc:
        errors = [
            {"loc": ["manifest", *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise InvalidInput(
            f"{MANIFEST_FILE} is not a valid manifest",
            code="manifest_invalid",
            extra={"errors": errors},
        ) from None
    return Package(manifest, prompt)
