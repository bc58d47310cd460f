/*
** threads.c -- thread count shared by synlua's loops and OpenBLAS.
*/
#include <cblas.h>

#include "threads.h"

static int num_threads = 1;

void sy_set_num_threads(int n) {
    if (n < 1) n = 1;
    num_threads = n;
    openblas_set_num_threads(n);
}

int sy_get_num_threads(void) { return num_threads; }
