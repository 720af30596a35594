# <sys/socket.h>: only what the transport calls. Cython ships no socket.pxd.

cdef extern from "<sys/socket.h>" nogil:
    ctypedef long ssize_t

    enum:
        MSG_DONTWAIT
        MSG_NOSIGNAL

    ssize_t send(int fd, const void *buf, size_t n, int flags)
    ssize_t recv(int fd, void *buf, size_t n, int flags)

