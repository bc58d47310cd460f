/*
** check.h -- a minimal C test harness: CHECK macros that report file:line
** and keep going, and a summary line ctest and CI can read.
**
**   int main(void) { test_views(); test_copy(); return check_summary("tensor"); }
*/
#ifndef SY_CHECK_H
#define SY_CHECK_H

#include <math.h>
#include <stdio.h>

#include "core/error.h"

static int check_passed, check_failed;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (cond) check_passed++;                                                       \
        else {                                                                          \
            check_failed++;                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                               \
    } while (0)

/* A core call that must succeed; prints the core's message if it does not. */
#define CHECK_OK(call)                                                                  \
    do {                                                                                \
        sy_status check_st_ = (call);                                                   \
        if (check_st_ == SY_OK) check_passed++;                                         \
        else {                                                                          \
            check_failed++;                                                             \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,       \
                    sy_error_message());                                                \
        }                                                                               \
    } while (0)

/* A core call that must fail with the given status. */
#define CHECK_FAILS(call, status)                                                       \
    do {                                                                                \
        sy_status check_st_ = (call);                                                   \
        if (check_st_ == (status)) check_passed++;                                      \
        else {                                                                          \
            check_failed++;                                                             \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d\n", __FILE__, __LINE__, \
                    #call, (int)check_st_, (int)(status));                              \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                           \
    do {                                                                                \
        double check_a_ = (a), check_b_ = (b);                                          \
        if (fabs(check_a_ - check_b_) <= (tol)) check_passed++;                         \
        else {                                                                          \
            check_failed++;                                                             \
            fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__,     \
                    __LINE__, #a, check_a_, check_b_, (double)(tol));                   \
        }                                                                               \
    } while (0)

static int check_summary(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
