"""A TCP relay in front of an S3 server (moto) that a test controls, so S3 can go
"down" and come back while the server keeps its data, or answer slowly.

    proxy = S3Proxy(upstream_port).start()   # proxy.endpoint: what the service is given
    proxy.cut()        # close every relayed connection; new ones are reset at once
    proxy.restore()    # relay again
    proxy.delay = 0.025  # hold each request 25 ms before forwarding it
    proxy.requests     # requests relayed so far
    proxy.max_in_flight  # most requests awaiting their answer at once (reset_max_in_flight())

It knows nothing of HTTP beyond turn-taking: on a connection, the first bytes a
client sends after the server last spoke start a new request. That is exactly
right for HTTP/1.1 request/response traffic (one request in flight per
connection), which is what S3 clients speak.
"""

import selectors
import socket
import struct
import threading
import time


class S3Proxy:
    def __init__(self, upstream_port, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.delay = 0.0
        self._lock = threading.Lock()
        self._down = False
        self._live = set()  # sockets of relayed connections, both ends
        self._requests = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._stopping = False
        self._acceptor = threading.Thread(target=self._accept_loop, name="s3-proxy-accept", daemon=True)

    # -- control

    def start(self):
        self._acceptor.start()
        return self

    def cut(self):
        """S3 is unreachable from now on: open connections end, new ones are reset."""
        with self._lock:
            self._down = True
            live = list(self._live)
        for sock in live:
            _shutdown(sock)

    def restore(self):
        with self._lock:
            self._down = False

    @property
    def requests(self):
        with self._lock:
            return self._requests

    @property
    def max_in_flight(self):
        with self._lock:
            return self._max_in_flight

    def reset_max_in_flight(self):
        with self._lock:
            self._max_in_flight = self._in_flight

    def _request_started(self):
        with self._lock:
            self._requests += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _request_answered(self):
        with self._lock:
            self._in_flight -= 1

    def stop(self):
        self._stopping = True
        self.cut()
        self._acceptor.join(timeout=5)
        self.listener.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- relaying

    def _accept_loop(self):
        while not self._stopping:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                down = self._down
            if down:
                _reset(client)
            else:
                threading.Thread(target=self._relay, args=(client,), name="s3-proxy-relay", daemon=True).start()

    def _relay(self, client):
        try:
            server = socket.create_connection(self.upstream, timeout=10)
            server.settimeout(None)
        except OSError:
            _reset(client)
            return
        with self._lock:
            if self._down:
                _reset(client)
                server.close()
                return
            self._live.update((client, server))
        peer = {client: server, server: client}
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ)
        selector.register(server, selectors.EVENT_READ)
        server_spoke_last = True  # so the first bytes from the client start a request
        try:
            while True:
                for key, _ in selector.select(timeout=1):
                    source = key.fileobj
                    data = source.recv(256 * 1024)
                    if not data:
                        return
                    if source is client and server_spoke_last:
                        server_spoke_last = False
                        self._request_started()
                        if self.delay:
                            time.sleep(self.delay)
                    elif source is server and not server_spoke_last:
                        server_spoke_last = True
                        self._request_answered()
                    peer[source].sendall(data)
        except OSError:
            return
        finally:
            if not server_spoke_last:
                self._request_answered()
            selector.close()
            with self._lock:
                self._live.difference_update((client, server))
            for sock in (client, server):
                _shutdown(sock)
                sock.close()


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _reset(sock):
    """Closes with a TCP reset: the client learns at once that nothing is there."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()
