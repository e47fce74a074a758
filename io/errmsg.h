/* Error reporting shared by io/ loaders: messages go into a caller's buffer, never to stderr,
 * and the functions return -1 so that `return io_fail(err, errlen, ...)` reads as one step. */
#ifndef ATTRUN_ERRMSG_H
#define ATTRUN_ERRMSG_H
#include <stddef.h>

/* Formats the message into err (when err and errlen are set) and returns -1. */
int io_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
