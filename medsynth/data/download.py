"""Fetch, verify and extract the files of a public dataset.

Every dataset adapter acquires its files through this module, so every
download behaves the same way:

- the bytes go to ``<name>.part`` and the final name appears only after the
  published size and MD5 (where the publisher gives them) have been checked;
  a mismatch removes the partial file and raises an error naming the file;
- an interrupted download resumes from the ``.part`` file with an HTTP Range
  request (a server that ignores ranges gets a fresh download), and a file
  already complete is not downloaded again;
- an unreachable server is reported as such, with the address and the reason;
- archives are extracted into a temporary sibling of the target folder and
  renamed into place, refusing any member that would land outside the target
  (absolute paths, ``..``, links, devices), so a half-extracted or hostile
  archive never leaves files behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from medsynth import io

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60.0


class DownloadError(RuntimeError):
    """A download or extraction problem; the message names the file or address."""


@dataclass(frozen=True)
class Remote:
    """One published file: where it is and what its publisher says it is."""

    url: str
    name: str  # file name in the downloads folder
    size: int | None = None  # bytes, where published
    md5: str | None = None  # hex digest, where published


def md5sum(path: str | os.PathLike) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | os.PathLike, remote: Remote) -> None:
    """Raise DownloadError naming `path` if its size or MD5 differs from the published one."""
    path = Path(path)
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise DownloadError(f"{path}: size {size} bytes differs from the published "
                            f"{remote.size} bytes of {remote.url}")
    if remote.md5 is not None:
        found = md5sum(path)
        if found != remote.md5.lower():
            raise DownloadError(f"{path}: MD5 {found} differs from the published "
                                f"{remote.md5} of {remote.url}")


def _open(url: str, offset: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "medsynth"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s) only, checked)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: the server answered HTTP {err.code} {err.reason}") from err
    except OSError as err:  # URLError, timeouts, refused connections
        reason = getattr(err, "reason", err)
        raise DownloadError(
            f"{url}: cannot reach the server ({reason}); check the network connection, "
            "a proxy (http_proxy/https_proxy), or give the address of a local mirror") from err


def fetch(remote: Remote, folder: str | os.PathLike, timeout: float = TIMEOUT_S) -> Path:
    """Download `remote` into `folder` unless it is already there; return its path.

    A complete file is trusted when its size matches the published size (or
    when no size is published, since it was renamed into place only after
    verification); the MD5 is checked once, when the download completes.
    """
    if not remote.url.startswith(("http://", "https://")):
        raise DownloadError(f"{remote.url}: only http and https addresses are supported")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final, part = folder / remote.name, folder / f"{remote.name}.part"
    if final.exists() and (remote.size is None or final.stat().st_size == remote.size):
        return final
    offset = part.stat().st_size if part.exists() else 0
    if remote.size is not None and offset > remote.size:
        part.unlink()
        offset = 0
    if remote.size is None or offset < remote.size:
        with _open(remote.url, offset, timeout) as response:
            if offset and response.status != 206:  # the server ignored the range: start again
                offset = 0
            try:
                with open(part, "ab" if offset else "wb") as handle:
                    for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                        handle.write(chunk)
            except OSError as err:
                raise DownloadError(f"{remote.url}: the transfer broke off after "
                                    f"{part.stat().st_size} bytes ({err}); run again to resume "
                                    f"from {part}") from err
    try:
        verify(part, remote)
    except DownloadError:
        part.unlink()
        raise
    os.replace(part, final)
    return final


def _member_target(root: Path, name: str, archive: Path) -> Path:
    """Where an archive member would land; refuse anything outside `root`."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise DownloadError(f"{archive}: member {name!r} would be written outside the target folder")
    target = (root / pure).resolve()
    if not target.is_relative_to(root.resolve()):
        raise DownloadError(f"{archive}: member {name!r} would be written outside the target folder")
    return target


def extract(archive: str | os.PathLike, target: str | os.PathLike,
            keep: Callable[[str], bool] = lambda name: True) -> list[Path]:
    """Extract the regular files of a tar (any compression) or zip archive whose
    member names pass `keep` into `target`; return the extracted paths.

    Every member is checked before anything is written: a member escaping the
    target, a link or a device is an error naming the archive and the member.
    A truncated or corrupt archive is an error naming the archive.
    """
    archive, target = Path(archive), Path(target)
    if not archive.exists():
        raise DownloadError(f"{archive}: archive does not exist")
    with io.atomic_folder(target) as staging:
        with open(archive, "rb") as handle:
            is_zip = handle.read(4) == b"PK\x03\x04"
        if is_zip:
            written = _extract_zip(archive, staging, keep)
        else:
            written = _extract_tar(archive, staging, keep)
    return [target / p.relative_to(staging.resolve()) for p in written]


def _extract_zip(archive: Path, root: Path, keep) -> list[Path]:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                _member_target(root, info.filename, archive)
                mode = (info.external_attr >> 16) & 0o170000
                if mode and mode not in (0o100000, 0o040000):
                    raise DownloadError(f"{archive}: member {info.filename!r} is not a regular "
                                        "file or folder (links are refused)")
            written = []
            for info in members:
                if info.is_dir() or not keep(info.filename):
                    continue
                dest = _member_target(root, info.filename, archive)
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK_BYTES)
                written.append(dest)
            return written
    except (zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise DownloadError(f"{archive}: corrupt or truncated zip archive ({err})") from err


def _extract_tar(archive: Path, root: Path, keep) -> list[Path]:
    try:
        with tarfile.open(archive, "r:*") as tf:
            written = []
            for member in tf:
                _member_target(root, member.name, archive)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise DownloadError(f"{archive}: member {member.name!r} is not a regular "
                                        "file or folder (links and devices are refused)")
                if not keep(member.name):
                    continue
                dest = _member_target(root, member.name, archive)
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(member)
                with src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK_BYTES)
                if dest.stat().st_size != member.size:
                    raise DownloadError(f"{archive}: member {member.name!r} is truncated")
                written.append(dest)
            return written
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise DownloadError(f"{archive}: corrupt or truncated tar archive ({err})") from err
