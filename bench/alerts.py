"""Benchmark 9: from `POST /api/event` of the decisive event to the webhook's arrival.

The real server (`python -m intent serve`) with a webhook to a receiver on loopback (in this
process; it verifies each Standard Webhooks signature). Each measured company is made warm
first (two people identify; pricing and demo pages: 40 points), then one demo request makes it
hot (60): the time from sending that request to the `company.became_hot` webhook arriving is the
latency. Decisive events go out once a second (open loop: a slow alert does not delay the next
one), first on an idle server, then while a separate process sends the ingest benchmark's traffic
at a fixed rate (bench.load.open_loop).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from bench import servers, workload
from bench.load import _pct

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URL = "https://example.com"


class Receiver:
    """A CRM's webhook endpoint: (event type, company) -> arrival time (perf_counter)."""

    def __init__(self) -> None:
        self.arrived: dict[tuple[str, str], float] = {}
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    message = Webhook(SECRET).verify(body, dict(self.headers.items()))
                    key = (message["type"], message["data"]["company"]["key"])
                    receiver.arrived.setdefault(key, at)
                except Exception:
                    receiver.bad_signatures += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _env(workdir: Path, hook_url: str) -> dict[str, str]:
    geoip = workload.build_geoip(workdir / "bench-geoip.mmdb")
    env = servers.collector_env(workdir, geoip)
    Path(env["INTENT_CONFIG"]).write_text(
        f'[sites."{servers.SITE}"]\ndomains = ["example.com"]\n'
        f'[[sites."{servers.SITE}".webhooks]]\nurl = "{hook_url}"\nsecret = "{SECRET}"\n'
        f'allow_private = true\nevents = ["company.became_hot", "company.became_warm"]\n'
        f'[sites."{servers.SITE}".alerts]\non = ["became_hot", "demo_request"]\n',
        encoding="utf-8",
    )
    return env


def _post(client: httpx.Client, ip: str, *beacons: dict[str, Any]) -> None:
    body = json.dumps([{"site": servers.SITE, **b} for b in beacons])
    r = client.post("/api/event", content=body, headers={
        "Content-Type": "text/plain", "Origin": URL, "X-Forwarded-For": ip,
        "User-Agent": workload.COMMON_AGENTS[0]})  # fmt: skip
    if r.status_code != 202 or r.json().get("dropped"):
        raise RuntimeError(f"event refused: {r.status_code} {r.text}")


def _company(phase: str, i: int) -> tuple[str, str, str]:
    """(domain, first person's address, second person's address) of one measured company."""
    n = {"idle": 0, "load": 1}[phase] * 100 + i
    return f"lead-{phase}-{i:03d}.com", f"198.18.{n}.1", f"198.18.{n}.2"


def _warm_up(client: httpx.Client, receiver: Receiver, phase: str, count: int) -> None:
    for i in range(count):
        domain, first, second = _company(phase, i)
        _post(client, first, {"type": "identify", "domain": domain, "url": URL},
              {"url": URL + "/pricing"}, {"url": URL + "/demo"})  # fmt: skip
        _post(client, second, {"type": "identify", "domain": domain, "url": URL},
              {"url": URL + "/pricing"})  # fmt: skip
    warm = {_company(phase, i)[0] for i in range(count)}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all(("company.became_warm", d) in receiver.arrived for d in warm):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{phase}: not every company turned warm within 120 s")


def _decisive(client: httpx.Client, receiver: Receiver, phase: str, count: int,
              spacing_s: float, patience_s: float) -> dict[str, Any]:  # fmt: skip
    """Send each company's demo request `spacing_s` apart; latency to its became_hot webhook."""
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(count):
        time.sleep(max(0.0, start + i * spacing_s - time.perf_counter()))
        domain, _first, second = _company(phase, i)
        sent[domain] = time.perf_counter()
        _post(client, second, {"type": "event", "name": "demo_request", "url": URL + "/demo"})
    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        if all(("company.became_hot", d) in receiver.arrived for d in sent):
            break
        time.sleep(0.05)
    latencies = [receiver.arrived[("company.became_hot", d)] - t for d, t in sent.items()
                 if ("company.became_hot", d) in receiver.arrived]  # fmt: skip
    return {
        "companies": count, "arrived": len(latencies), "spacing_s": spacing_s,
        "p50_s": _pct(latencies, 50), "p95_s": _pct(latencies, 95),
        "max_s": max(latencies, default=0.0), "latencies_s": sorted(latencies),
    }  # fmt: skip


def _rescore_metrics(server: servers.Server) -> dict[str, float]:
    m = server.metrics()
    passes = m.get("intent_rescore_seconds_count", 0.0)
    return {
        "passes": passes,
        "mean_pass_s": m.get("intent_rescore_seconds_sum", 0.0) / max(passes, 1),
    }


def run(workdir: Path, companies: int, rate: float, load_seconds: float) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    receiver = Receiver()
    server = servers._start("alerts", ["-m", "intent", "serve", "--port", "{port}"],
                            _env(workdir, receiver.url), workdir)  # fmt: skip
    out: dict[str, Any] = {"rate": rate, "companies_per_phase": companies}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            _warm_up(client, receiver, "idle", companies)
            _warm_up(client, receiver, "load", companies)
            server.wait_quiet(time.monotonic() + 60)
            out["idle"] = _decisive(client, receiver, "idle", companies, 1.0, 300)
            out["idle"]["rescore"] = _rescore_metrics(server)
            port = server.url.rsplit(":", 1)[1]
            # The traffic comes from its own process, so it never competes with the receiver's
            # clock for this process's interpreter.
            load = subprocess.Popen(
                [sys.executable, "-c", "import json, sys; from bench import load; "
                 f"r = load.open_loop({port}, {rate}, {load_seconds}, 'al', warmup=1.0); "
                 "print(json.dumps(r.__dict__))"],
                stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
            )  # fmt: skip
            time.sleep(min(5.0, load_seconds / 4))  # the load is under way
            out["load"] = _decisive(client, receiver, "load", companies, 1.0, 300)
            stdout, _ = load.communicate(timeout=load_seconds + 120)
            out["load"]["traffic"] = json.loads(stdout.strip().splitlines()[-1])
            out["load"]["rescore"] = _rescore_metrics(server)
            out["bad_signatures"] = receiver.bad_signatures
    finally:
        server.stop()
        receiver.close()
    return out
