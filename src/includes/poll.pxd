# <poll.h>: one-descriptor waits with a millisecond timeout.

cdef extern from "<poll.h>" nogil:
    ctypedef unsigned long nfds_t

    struct pollfd:
        int fd
        short events
        short revents

    enum:
        POLLIN
        POLLOUT
        POLLERR
        POLLHUP
        POLLRDHUP

    int poll(pollfd *fds, nfds_t nfds, int timeout)
