# <sys/socket.h>: only what the transport calls. Cython ships no socket.pxd.

from posix.time cimport timeval

cdef extern from "<sys/socket.h>" nogil:
    ctypedef long ssize_t
    ctypedef unsigned int socklen_t

    enum:
        MSG_DONTWAIT
        MSG_NOSIGNAL
        MSG_PEEK
        SOL_SOCKET
        SO_RCVTIMEO

    ssize_t send(int fd, const void *buf, size_t n, int flags)
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    int setsockopt(int fd, int level, int name, const void *value, socklen_t size)
