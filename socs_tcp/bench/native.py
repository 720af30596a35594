"""The C client column: :data:`SOURCE` compiled here, driven over a pipe.

The client is a process of its own that runs each whole loop (``ask N``,
receive to EOF) in C and answers when it is done, so the pipe costs one
exchange per loop, not per call; its CPU time is its own, read with
``getrusage``. It is compiled on first use with the system's C compiler
into a private folder of the temporary directory, once per version of its
source.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile

from socs_tcp.bench import peer

#: The client's C source: compiled where the bench runs, so there is nothing
#: to ship built (and the package ships no ``.c`` file).
SOURCE = r"""/* The benchmark's C client: what a round trip costs without Python.
 *
 * client HOST PORT TIMEOUT REQUEST connects (TCP_NODELAY, SO_RCVTIMEO =
 * TIMEOUT seconds), prints "ready", then obeys one command a line on stdin,
 * each answered by one line on stdout ("error: ..." when it fails):
 *
 *   ask N     N round trips: send REQUEST, receive a reply as long
 *             with blocking recv() (the least a client can do: 2 syscalls)
 *   send N    send the next N bytes of stdin; answers "ok"
 *   eof N     recv(N) until EOF; answers the byte count
 *   cpu       answers the CPU seconds this process has used so far
 *
 * It exits at EOF on stdin. REQUEST comes from the command line, so the
 * Python side keeps the one definition.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int fd = -1;
static const char *request;
static size_t request_size;

static int fail(const char *what) {
    printf("error: %s: %s\n", what, strerror(errno));
    fflush(stdout);
    return -1;
}

static int send_all(const char *data, size_t n) {
    while (n) {
        ssize_t sent = send(fd, data, n, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += sent;
        n -= (size_t)sent;
    }
    return 0;
}

static int ask(long n) {
    char reply[4096];
    for (long i = 0; i < n; i++) {
        if (send_all(request, request_size) < 0)
            return fail("send");
        size_t got = 0;
        while (got < request_size) { /* a reply in pieces: not on loopback */
            ssize_t r = recv(fd, reply, sizeof reply, 0);
            if (r == 0) {
                errno = ECONNRESET;
                return fail("recv");
            }
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                return fail("recv");
            }
            got += (size_t)r;
        }
    }
    printf("ok\n");
    return 0;
}

static int send_from_stdin(long n) {
    char *data = malloc(n > 0 ? (size_t)n : 1);
    if (data == NULL || fread(data, 1, (size_t)n, stdin) != (size_t)n) {
        free(data);
        errno = EIO;
        return fail("stdin");
    }
    int rc = send_all(data, (size_t)n);
    free(data);
    if (rc < 0)
        return fail("send");
    printf("ok\n");
    return 0;
}

static int to_eof(long size) {
    static char buffer[1 << 20];
    size_t want = sizeof buffer;
    if (size > 0 && (size_t)size < want)
        want = (size_t)size;
    long long total = 0;
    for (;;) {
        ssize_t r = recv(fd, buffer, want, 0);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return fail("recv");
        }
        total += r;
    }
    printf("%lld\n", total);
    return 0;
}

static int cpu(void) {
    struct rusage use;
    if (getrusage(RUSAGE_SELF, &use) < 0)
        return fail("getrusage");
    double seconds = use.ru_utime.tv_sec + use.ru_stime.tv_sec +
                     (use.ru_utime.tv_usec + use.ru_stime.tv_usec) / 1e6;
    printf("%.9f\n", seconds);
    return 0;
}

static int connect_to(const char *host, const char *port, double timeout) {
    struct addrinfo hints = {0}, *found;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &found);
    if (rc != 0) {
        printf("error: getaddrinfo: %s\n", gai_strerror(rc));
        return -1;
    }
    fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (fd < 0 || connect(fd, found->ai_addr, found->ai_addrlen) < 0) {
        freeaddrinfo(found);
        return fail("connect");
    }
    freeaddrinfo(found);
    int one = 1;
    struct timeval limit;
    limit.tv_sec = (time_t)timeout;
    limit.tv_usec = (suseconds_t)((timeout - (double)limit.tv_sec) * 1e6);
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) < 0)
        return fail("setsockopt");
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOST PORT TIMEOUT REQUEST\n", argv[0]);
        return 2;
    }
    request = argv[4];
    request_size = strlen(request);
    if (connect_to(argv[1], argv[2], atof(argv[3])) < 0) {
        fflush(stdout);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    char line[64], command[16];
    long n = 0;
    while (fgets(line, sizeof line, stdin)) {
        int fields = sscanf(line, "%15s %ld", command, &n);
        if (fields >= 1 && strcmp(command, "cpu") == 0)
            cpu();
        else if (fields != 2)
            printf("error: bad command: %s", line);
        else if (strcmp(command, "ask") == 0)
            ask(n);
        else if (strcmp(command, "send") == 0)
            send_from_stdin(n);
        else if (strcmp(command, "eof") == 0)
            to_eof(n);
        else
            printf("error: unknown command: %s", line);
        fflush(stdout);
    }
    close(fd);
    return 0;
}
"""


def compiler() -> str | None:
    """The C compiler to build the client with: ``$CC``, cc or gcc; None if none."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and (path := shutil.which(name)):
            return path
    return None


def _cache() -> str:
    """This user's private folder for the built client, in the temp directory.

    Only its owner can write it, so what runs from it is what was built.
    """
    folder = os.path.join(tempfile.gettempdir(), f"socs_tcp-bench-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or os.path.islink(folder):
        raise ImportError(f"{folder} is not private to this user; remove it")
    return folder


@functools.cache
def executable() -> str:
    """The path of the compiled client, building it if needed.

    Raises
    ------
    ImportError
        No C compiler here, or it failed (the message says which).
    """
    digest = hashlib.sha256(SOURCE.encode()).hexdigest()[:16]
    target = os.path.join(_cache(), f"client-{digest}")
    if os.access(target, os.X_OK):
        return target
    cc = compiler()
    if cc is None:
        raise ImportError("no C compiler (apt-get install gcc, or set CC)")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "client.c")
        with open(src, "w", encoding="ascii") as file:
            file.write(SOURCE)
        built = os.path.join(tmp, "client")
        done = subprocess.run(
            [cc, "-O2", "-o", built, src], capture_output=True, text=True, timeout=120
        )
        if done.returncode:
            raise ImportError(
                f"{cc} could not build the C client: {done.stderr[-300:]}"
            )
        os.replace(built, target)  # atomic: a concurrent build replaces alike
    return target


class Process:
    """One running C client, connected to ``host:port``.

    Parameters
    ----------
    host, port : str, int
        The peer.
    timeout : float
        Seconds each ``recv`` may block (``SO_RCVTIMEO``).
    request : bytes
        What ``ask`` sends; the reply is as long.
    """

    def __init__(self, host: str, port: int, timeout: float, request: bytes) -> None:
        self._proc = subprocess.Popen(
            [executable(), host, str(port), repr(timeout), request.decode("ascii")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            first = self._answer()
            if first != b"ready":
                raise ConnectionError(f"C client: no connection: {first!r}")
        except BaseException:
            self.close()
            raise

    def _answer(self) -> bytes:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if line.startswith(b"error"):
            raise ConnectionError(f"C client: {line.decode(errors='replace')}")
        return line

    def command(self, line: str, data: bytes = b"") -> bytes:
        """Send one command line (and ``data`` after it); return its answer."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(line.encode("ascii") + b"\n" + data)
        self._proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        """End the client (EOF on its stdin) and wait for it."""
        peer.end(self._proc)
