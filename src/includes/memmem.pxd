# <string.h> memmem (a GNU extension; Python.h defines _GNU_SOURCE).

cdef extern from "<string.h>" nogil:
    void *memmem(const void *haystack, size_t haystacklen,
                 const void *needle, size_t needlelen)
