/* A very small test harness for the C suite: CHECK counts and reports, never aborts, so one
 * run shows every failure; main() returns non-zero if any check failed. */
#ifndef SLOTSHIFT_TEST_CHECK_H
#define SLOTSHIFT_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotshift.h"

extern int check_count;
extern int check_failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        check_count++;                                                                \
        if (!(cond)) {                                                                \
            check_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

/* Checks that `expr` returns `expected`; on a mismatch prints both codes and the detail. */
#define CHECK_RESULT(expr, expected, err)                                                \
    do {                                                                                 \
        slotshift_result got_ = (expr);                                                  \
        check_count++;                                                                   \
        if (got_ != (slotshift_result)(expected)) {                                      \
            check_failures++;                                                            \
            fprintf(stderr, "%s:%d: %s returned %u, expected %u (%s)\n", __FILE__,       \
                    __LINE__, #expr, (unsigned)got_, (unsigned)(expected),               \
                    (err) != NULL ? slotshift_error_message(err) : "no detail");         \
        }                                                                                \
    } while (0)

#define CHECK_OK(expr, err) CHECK_RESULT(expr, SLOTSHIFT_RESULT_OK, err)

#endif
