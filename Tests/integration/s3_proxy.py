"""A TCP relay in front of an S3 server (moto) that a test controls, so S3 can go
"down" and come back while the server keeps its data, or answer slowly.

    proxy = S3Proxy(upstream_port).start()   # proxy.endpoint: what the service is given
    proxy.cut()        # close every relayed connection; new ones are reset at once
    proxy.restore()    # relay again
    proxy.delay = 0.025  # hold each request 25 ms before forwarding it
    proxy.requests     # requests relayed so far
    proxy.max_in_flight  # most requests awaiting their answer at once (reset_max_in_flight())
    proxy.set_mode(m)  # how S3 misbehaves from now on (open connections end, so every
                       # request after the call sees the new mode):
        "pass"      relay (the default)
        "hang"      accept, read, never answer
        "slow"      relay, but the answers trickle back one byte a second
        "reset"     connections are reset at once (as cut())
        "slowdown"  every request is answered 503 SlowDown (Retry-After: 1) by the proxy

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
        self.mode = "pass"
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
        self.set_mode("pass")

    MODES = ("pass", "hang", "slow", "reset", "slowdown")

    def set_mode(self, mode):
        assert mode in self.MODES, mode
        with self._lock:
            self.mode = mode
            self._down = mode == "reset"
            live = list(self._live)
        # Kept-alive connections would carry on in the old mode: end them.
        for sock in live:
            _shutdown(sock)

    @property
    def connections(self):
        """Sockets open through the proxy now (relayed ones count twice, held ones once)."""
        with self._lock:
            return len(self._live)

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

    def _trickle(self, data, client):
        """One byte a second, while the mode stays "slow"."""
        for i in range(len(data)):
            if self.mode != "slow" or self._stopping:
                client.sendall(data[i:])
                return
            client.sendall(data[i:i + 1])
            _trickle_wait(self)

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
                mode = self.mode
            if down:
                _reset(client)
            elif mode == "hang":
                threading.Thread(target=self._hang, args=(client,), name="s3-proxy-hang", daemon=True).start()
            elif mode == "slowdown":
                threading.Thread(target=self._slow_down, args=(client,), name="s3-proxy-slowdown", daemon=True).start()
            else:
                threading.Thread(target=self._relay, args=(client,), name="s3-proxy-relay", daemon=True).start()

    def _hang(self, client):
        """Reads whatever comes, answers nothing, until the mode changes or the client leaves."""
        with self._lock:
            self._live.add(client)
        client.settimeout(0.2)
        try:
            while not self._stopping:
                with self._lock:
                    if self.mode != "hang":
                        break
                try:
                    if not client.recv(256 * 1024):
                        break
                except socket.timeout:
                    continue
        except OSError:
            pass
        finally:
            with self._lock:
                self._live.discard(client)
            _shutdown(client)
            client.close()

    def _slow_down(self, client):
        """Answers every request on the connection 503 SlowDown, as S3 does when throttling."""
        with self._lock:
            self._live.add(client)
        body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                b'<Message>Please reduce your request rate.</Message><RequestId>proxy</RequestId></Error>')
        answer = (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nRetry-After: 1\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        client.settimeout(10)
        buffered = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = client.recv(256 * 1024)
                    if not data:
                        return
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(buffered) < length:
                    data = client.recv(256 * 1024)
                    if not data:
                        return
                    buffered += data
                buffered = buffered[length:]
                with self._lock:
                    self._requests += 1
                client.sendall(answer)
        except OSError:
            return
        finally:
            with self._lock:
                self._live.discard(client)
            _shutdown(client)
            client.close()

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
                    if source is server and self.mode == "slow":
                        self._trickle(data, client)
                        continue
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


def _trickle_wait(proxy):
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline and proxy.mode == "slow" and not proxy._stopping:
        time.sleep(0.05)


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
