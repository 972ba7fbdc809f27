"""Downloads and extraction against a local HTTP mirror: verification, resuming,
refusing hostile or broken archives, and an unreachable server."""

import hashlib
import io
import socket
import tarfile
import zipfile

import pytest
from mirror_server import serve

from medsynth.data.download import DownloadError, Remote, extract, fetch

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB


@pytest.fixture
def mirror(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "data.bin").write_bytes(PAYLOAD)
    with serve(served) as (url, seen):
        yield url, seen, served


def remote(url, **kw):
    return Remote(f"{url}/data.bin", "data.bin", **kw)


def test_fetch_verifies_and_skips_a_complete_file(mirror, tmp_path):
    url, seen, _ = mirror
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = fetch(remote(url, size=len(PAYLOAD), md5=md5), tmp_path / "dl")
    assert path.read_bytes() == PAYLOAD
    assert fetch(remote(url, size=len(PAYLOAD), md5=md5), tmp_path / "dl") == path
    assert len(seen) == 1  # the second call did not download again


def test_checksum_mismatch_names_the_file_and_removes_the_download(mirror, tmp_path):
    url, _, _ = mirror
    with pytest.raises(DownloadError, match=r"data\.bin\.part: MD5 .* differs from the published"):
        fetch(remote(url, md5="0" * 32), tmp_path / "dl")
    assert not list((tmp_path / "dl").iterdir())


def test_size_mismatch_is_an_error(mirror, tmp_path):
    url, _, _ = mirror
    with pytest.raises(DownloadError, match="differs from the published 12 bytes"):
        fetch(remote(url, size=12), tmp_path / "dl")
    assert not list((tmp_path / "dl").iterdir())


def test_interrupted_download_resumes_with_a_range_request(mirror, tmp_path):
    url, seen, _ = mirror
    folder = tmp_path / "dl"
    folder.mkdir()
    (folder / "data.bin.part").write_bytes(PAYLOAD[:300_000])
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = fetch(remote(url, size=len(PAYLOAD), md5=md5), folder)
    assert path.read_bytes() == PAYLOAD
    assert seen[-1][1] == "bytes=300000-"


def test_unreachable_server_gets_a_clear_message(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"127\.0\.0\.1:{port}/x\.tar: cannot reach the server"):
        fetch(Remote(f"http://127.0.0.1:{port}/x.tar", "x.tar"), tmp_path, timeout=5)
    assert not (tmp_path / "x.tar").exists()


def test_missing_file_on_the_server_names_the_address(mirror, tmp_path):
    url, _, _ = mirror
    with pytest.raises(DownloadError, match="nothere.tar: the server answered HTTP 404"):
        fetch(Remote(f"{url}/nothere.tar", "nothere.tar"), tmp_path)


def _tar(path, members: dict[str, bytes], extra=None):
    with tarfile.open(path, "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if extra is not None:
            tf.addfile(extra)
    return path


def test_tar_and_zip_extract_into_the_target(tmp_path):
    archive = _tar(tmp_path / "a.tar", {"IXI002-Guys-0828-T1.nii.gz": b"x" * 10, "dir/b.txt": b"b"})
    written = extract(archive, tmp_path / "out", keep=lambda n: n.endswith(".nii.gz"))
    assert written == [tmp_path / "out" / "IXI002-Guys-0828-T1.nii.gz"]
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("Task1/brain/1BA001/mr.nii.gz", b"m")
    extract(tmp_path / "a.zip", tmp_path / "zout")
    assert (tmp_path / "zout" / "Task1" / "brain" / "1BA001" / "mr.nii.gz").read_bytes() == b"m"


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "ok/../../evil.txt"])
def test_member_escaping_the_target_is_refused(tmp_path, name):
    archive = _tar(tmp_path / "a.tar", {"good.txt": b"g", name: b"evil"})
    with pytest.raises(DownloadError, match="would be written outside the target folder"):
        extract(archive, tmp_path / "out" / "inner")
    assert not (tmp_path / "out" / "inner").exists()
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr(name, b"evil")
    with pytest.raises(DownloadError, match="would be written outside the target folder"):
        extract(tmp_path / "a.zip", tmp_path / "zout")


def test_symlink_member_is_refused(tmp_path):
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = _tar(tmp_path / "a.tar", {"good.txt": b"g"}, extra=link)
    with pytest.raises(DownloadError, match="'link' is not a regular file"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_truncated_archives_are_errors_naming_the_archive(tmp_path):
    archive = _tar(tmp_path / "a.tar", {"big.bin": PAYLOAD})
    archive.write_bytes(archive.read_bytes()[:len(PAYLOAD) // 2])
    with pytest.raises(DownloadError, match=r"a\.tar: .*truncated"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("big.bin", PAYLOAD)
    (tmp_path / "a.zip").write_bytes((tmp_path / "a.zip").read_bytes()[:-200])
    with pytest.raises(DownloadError, match=r"a\.zip: corrupt or truncated zip"):
        extract(tmp_path / "a.zip", tmp_path / "zout")
    assert not (tmp_path / "zout").exists()
