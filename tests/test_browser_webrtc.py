"""The browser the crawler renders with (and screenshots with) sends nothing over WebRTC.

A hostile page can try to reach private addresses through ICE over UDP, which goes round the
request router the private-address guard sits on. Real Debian Chromium, launched with the
crawler's own options, loads a page that asks a STUN server on loopback for candidates; the
test listens on that UDP port. The same check without the WebRTC switches receives a packet,
so the listener does see one when the browser sends it.
"""

from __future__ import annotations

import socket

import pytest

from crawlers.screenshots import _launch_options
from tests.conftest import serve_html

PAGE = """<html><body><script>
const pc = new RTCPeerConnection({iceServers: [{urls: 'stun:127.0.0.1:PORT'}]});
pc.createDataChannel('x');
pc.createOffer().then(o => pc.setLocalDescription(o));
</script></body></html>"""


def _stun_packets(launch: dict) -> int:
    from playwright.sync_api import sync_playwright

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(3)
    body = PAGE.replace("PORT", str(udp.getsockname()[1]))

    server = serve_html(lambda path: (200, body))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**launch)
            browser.new_page().goto(f"http://127.0.0.1:{server.server_port}/")
            packets = 0
            try:
                while True:
                    udp.recvfrom(2048)
                    packets += 1
            except TimeoutError:
                pass
            browser.close()
        return packets
    finally:
        server.shutdown()
        server.server_close()
        udp.close()


@pytest.mark.timeout(60)
def test_rendered_pages_cannot_send_webrtc_packets():
    launch = _launch_options()
    assert _stun_packets(launch) == 0
    unguarded = {**launch, "args": [a for a in launch["args"] if "webrtc" not in a]}
    assert _stun_packets(unguarded) > 0  # the listener does see a browser that sends
