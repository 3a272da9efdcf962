"""Start to first request of `asyncgen complete` against an https endpoint, for source trees
in turns: what a run against a real provider waits before its first request.

    mkdir /tmp/before && git archive 85fed52 | tar -x -C /tmp/before
    .venv/bin/python scripts/bench_startup_tls.py --rounds 8 /tmp/before .

`bench_transport.py --only startup` measures an http:// stub, where no CA certificates
are loaded. Here a stub on 127.0.0.1 answers over TLS with a certificate made for the
run, and the child trusts it through SSL_CERT_FILE: a bundle of the system's CA
certificates plus that one, so loading it costs what loading the system's costs (~20 ms
of CPU for ~145 certificates here). Per tree and round, three starts, each pinned to core
0 as in the bench; reports the wall time and CPU (every thread's schedstat, read when the
request arrives) to the first request, medians, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ipaddress
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KEY = "sk-bench-0000000000"
ANSWER = {
    "id": "x",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (made here, nothing downloaded)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def cpu_seconds(pid: int) -> float:
    """CPU seconds so far of every thread of a running process."""
    tasks = Path(f"/proc/{pid}/task")
    return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks.iterdir()) / 1e9


class TlsStub:
    """An https chat-completions stub in a thread; records when the first POST arrives."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.loop = asyncio.new_event_loop()
        self.child: int | None = None
        self.arrived: tuple[float, float] | None = None
        self.port = 0
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._answer)
        app.router.add_get("/v1/models", self._models)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.context)
        self.loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        ready.set()
        self.loop.run_forever()

    async def _answer(self, request: web.Request) -> web.Response:
        if self.arrived is None and self.child is not None:
            self.arrived = (time.monotonic(), cpu_seconds(self.child))
        await request.read()
        return web.json_response(ANSWER)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": []})


def one_start(stub: TlsStub, tree: Path, bundle: Path) -> tuple[float, float]:
    """Wall and CPU seconds from the start of `asyncgen complete` (tree's code) to its
    first request reaching the stub."""
    work = Path(tempfile.mkdtemp(prefix="asyncgen-tls-"))
    try:
        (work / "in.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
        (work / "c.yaml").write_text("engine:\n  fsync_interval: 1.0\n")
        stub.arrived, stub.child = None, None
        env = {**os.environ, "PYTHONPATH": str(tree), "OPENAI_API_KEY": KEY}
        env["SSL_CERT_FILE"] = str(bundle)
        cmd = [
            sys.executable, "-m", "asyncgen", "complete", "--input", str(work / "in.jsonl"),
            "--output", str(work / "out.jsonl"), "--base-url", f"https://127.0.0.1:{stub.port}/v1",
            "--model", "m", "--config", str(work / "c.yaml"), "--quiet",
        ]  # fmt: skip
        saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {0})  # the child inherits the pin (no preexec_fn: vfork)
        try:
            started = time.monotonic()
            proc = subprocess.Popen(
                cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        finally:
            os.sched_setaffinity(0, saved)
        stub.child = proc.pid
        _, err = proc.communicate(timeout=120)
        if proc.returncode or stub.arrived is None:
            raise SystemExit(f"{tree}: exit {proc.returncode}\n{err.decode()[-2000:]}")
        return stub.arrived[0] - started, stub.arrived[1]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.trees]
    for tree in trees:  # as pip install does (see bench_transport.first_request_delay)
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(tree / "asyncgen")], check=True
        )
    folder = Path(tempfile.mkdtemp(prefix="asyncgen-tls-cert-"))
    try:
        cert, key = self_signed(folder)
        bundle = folder / "bundle.pem"
        system = ssl.get_default_verify_paths().cafile
        bundle.write_bytes((Path(system).read_bytes() if system else b"") + cert.read_bytes())
        stub = TlsStub(cert, key)
        runs: dict[Path, list[tuple[float, float, float]]] = {tree: [] for tree in trees}
        for number in range(args.rounds):
            for tree in trees if number % 2 == 0 else trees[::-1]:
                for _ in range(3):
                    load = os.getloadavg()[0]
                    wall, cpu = one_start(stub, tree, bundle)
                    runs[tree].append((wall, cpu, load))
        for tree, figures in runs.items():
            walls = [w for w, _, _ in figures]
            cpus = [c for _, c, _ in figures]
            loads = [load for _, _, load in figures]
            print(
                f"{tree}: wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}), "
                f"CPU median {statistics.median(cpus):.3f} s, {len(figures)} starts, "
                f"load {min(loads):.2f}-{max(loads):.2f}"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
