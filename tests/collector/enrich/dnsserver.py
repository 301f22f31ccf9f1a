"""A real DNS server on 127.0.0.1 for reverse-DNS tests (dnslib's, in a thread of the test
process): PTR, A and AAAA records from dictionaries, every question logged in order, and gates
that hold a name's answer until the test opens them (a resolver that answers late)."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dnslib import AAAA, PTR, QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


@dataclass
class Zone(BaseResolver):  # type: ignore[misc]
    ptr: dict[str, str] = field(default_factory=dict)  # address -> host name
    forward: dict[str, list[str]] = field(default_factory=dict)  # host name -> addresses
    # question name -> (gate, seconds): the answer waits for the gate, and leaves no sooner
    # than that many seconds after the question came
    gates: dict[str, tuple[threading.Event, float]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)  # "asked PTR name", "answered PTR name"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ip: str, name: str, forward: list[str] | None = None) -> None:
        """`ip`'s PTR is `name`; `name` resolves to `forward` (default: `ip` itself)."""
        self.ptr[ipaddress.ip_address(ip).reverse_pointer] = name
        self.forward[name] = [ip] if forward is None else forward

    def hold(self, ip: str, seconds: float = 0.0) -> threading.Event:
        """The PTR question of `ip` is answered once the returned event is set, and no sooner
        than `seconds` after it was asked."""
        gate = threading.Event()
        self.gates[ipaddress.ip_address(ip).reverse_pointer] = (gate, seconds)
        return gate

    def note(self, line: str) -> None:
        with self.lock:
            self.log.append(line)

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.note(f"asked {qtype} {qname}")
        held = self.gates.get(qname)
        if held is not None:
            asked = time.monotonic()
            held[0].wait(30)
            time.sleep(max(0.0, asked + held[1] - time.monotonic()))
        found = False
        if qtype == "PTR" and qname in self.ptr:
            reply.add_answer(RR(request.q.qname, QTYPE.PTR, rdata=PTR(self.ptr[qname]), ttl=60))
            found = True
        elif qtype in ("A", "AAAA") and qname in self.forward:
            for address in self.forward[qname]:
                version = ipaddress.ip_address(address).version
                if (qtype, version) == ("A", 4):
                    reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=60))
                elif (qtype, version) == ("AAAA", 6):
                    reply.add_answer(RR(request.q.qname, QTYPE.AAAA, rdata=AAAA(address), ttl=60))
            found = True
        if not found:
            reply.header.rcode = RCODE.NXDOMAIN
        self.note(f"answered {qtype} {qname}")
        return reply

    def asked(self, qtype: str, ip_or_name: str) -> bool:
        return f"asked {qtype} {_qname(qtype, ip_or_name)}" in self.log

    def answered(self, qtype: str, ip_or_name: str) -> bool:
        return f"answered {qtype} {_qname(qtype, ip_or_name)}" in self.log


def _qname(qtype: str, ip_or_name: str) -> str:
    return ipaddress.ip_address(ip_or_name).reverse_pointer if qtype == "PTR" else ip_or_name


@contextmanager
def dns_server(zone: Zone) -> Iterator[str]:
    """Serve `zone` on a free UDP port of 127.0.0.1; yields the INTENT_DNS_SERVERS value."""
    server = DNSServer(zone, address="127.0.0.1", port=0, logger=DNSLogger(logf=lambda *a: None))
    server.start_thread()
    port = server.server.server_address[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for gate, _seconds in zone.gates.values():
            gate.set()
        server.stop()
