#!/usr/bin/env python3
"""Fetches the real-world detection corpus listed in tests/corpus/corpus.tsv.

Each package is downloaded once with its registry's own client (`npm pack NAME@VERSION`,
`pip download --no-deps NAME==VERSION`), its SHA-256 checked against the pinned value, and the
listed modules extracted to ${WASMHOST_CORPUS_DIR:-$HOME/.cache/wasmhost-corpus}/modules/ID.wasm.
Reruns that find the archive and the modules in place download nothing. Nothing fetched here
is ever committed: it lives outside the clone.
"""
import base64
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "tests" / "corpus" / "corpus.tsv"
WASM_B64 = re.compile(rb'"(AGFzbQ[A-Za-z0-9+/=]+)"')


def rows():
    for line in TABLE.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        ident, lang, tool, package, version, sha, member, how, evidence = line.split("\t")
        yield dict(id=ident, package=package, version=version, sha=sha, member=member)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(package, version, archives):
    """Returns the archive of package@version, downloading it only if it is not cached."""
    stem = package.lstrip("@").replace("/", "-") + "-" + version
    for existing in archives.glob(stem + ".*"):
        return existing
    with tempfile.TemporaryDirectory(dir=archives) as tmp:
        if package.startswith("pypi:"):
            name = package[len("pypi:"):]
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--ignore-requires-python", "-d", tmp, f"{name}=={version}"], check=True)
        else:
            subprocess.run(["npm", "pack", "--silent", "--pack-destination", tmp, f"{package}@{version}"], check=True, stdout=subprocess.DEVNULL)
        (got,) = Path(tmp).iterdir()
        target = archives / (stem + "".join(got.suffixes[-1:]))
        got.rename(target)
    return target


def member_bytes(archive, member):
    path, _, b64 = member.partition("#b64:")
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            data = z.read(path)
    else:
        with tarfile.open(archive) as t:
            f = t.extractfile("package/" + path)
            if f is None:
                raise SystemExit(f"{archive.name}: {path} is not a file")
            data = f.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    if b64:
        data = base64.b64decode(WASM_B64.findall(data)[int(b64)])
    if not data.startswith(b"\0asm"):
        raise SystemExit(f"{archive.name}: {member} is not WebAssembly")
    return data


def main():
    cache = Path(os.environ.get("WASMHOST_CORPUS_DIR") or Path.home() / ".cache" / "wasmhost-corpus")
    archives, modules = cache / "archives", cache / "modules"
    archives.mkdir(parents=True, exist_ok=True)
    modules.mkdir(parents=True, exist_ok=True)
    checked = set()
    fetched = 0
    for row in rows():
        out = modules / (row["id"] + ".wasm")
        if out.exists():
            continue
        archive = download(row["package"], row["version"], archives)
        if archive not in checked:
            got = sha256(archive)
            if got != row["sha"]:
                archive.unlink()
                raise SystemExit(f"{row['package']}@{row['version']}: SHA-256 {got}, expected {row['sha']}")
            checked.add(archive)
        tmp = out.with_suffix(".part")
        tmp.write_bytes(member_bytes(archive, row["member"]))
        tmp.rename(out)
        fetched += 1
    print(f"corpus: {len(list(modules.glob('*.wasm')))} modules in {modules} ({fetched} extracted now)")


if __name__ == "__main__":
    main()
