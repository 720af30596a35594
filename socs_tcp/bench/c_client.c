/* The benchmark's C client: what a round trip costs without Python.
 *
 * c_client HOST PORT TIMEOUT connects (TCP_NODELAY, SO_RCVTIMEO = TIMEOUT
 * seconds), prints "ready", then obeys one command a line on stdin, each
 * answered by one line on stdout ("error: ..." when it fails):
 *
 *   ask N     N round trips: send the request, receive its SIZE-byte reply
 *             with blocking recv() (the least a client can do: 2 syscalls)
 *   send N    send the next N bytes of stdin; answers "ok"
 *   eof N     recv(N) until EOF; answers the byte count
 *   cpu       answers the CPU seconds this process has used so far
 *
 * It exits at EOF on stdin. The request and its size come from the command
 * line (after TIMEOUT), so the Python side keeps the one definition.
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
    size_t want = size > 0 && (size_t)size < sizeof buffer ? (size_t)size : sizeof buffer;
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
    struct timeval limit = {(time_t)timeout, (suseconds_t)((timeout - (long)timeout) * 1e6)};
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
