# The descriptor of a socket.socket without a Python call.
#
# CPython's PySocketSockObject (Modules/socketmodule.h) starts with the
# descriptor right after PyObject_HEAD (3.9 to 3.13; SOCKET_T is an int on
# POSIX), and socket.close() sets it to -1. The transport checks this against
# sock.fileno() when it is made, so a different layout fails loudly there.

cdef extern from *:
    """
    typedef struct { PyObject_HEAD int sock_fd; } socs_tcp_sock_head;
    #define socs_tcp_sock_fd(s) (((socs_tcp_sock_head *)(s))->sock_fd)
    """
    int sock_fd "socs_tcp_sock_fd"(object sock)
