/*
** test_gemm.c -- synlua's own float32 GEMM kernel (sgemm_avx512.c) and the
** kernel switch (gemm.h): every transpose pair over sizes that cross the
** kernel's block edges (6 rows, 16-lane vectors, 64-column blocks, 16 x 16
** packing tiles, 256-deep chunks, products of under 16 columns run as their
** transpose 256 rows at a time) against a double-precision product, with
** alpha and beta of every kind (beta 0 must not read C: it holds NaN),
** leading dimensions past the sizes (their padding must stay untouched);
** the same bits for any split of the rows or the columns and through
** sy_gemm_f32 at one and two threads; BLAS's rules for K = 0 and alpha = 0.
** Where the CPU or the build lacks the kernel, only the switch is checked.
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/threads.h"
#include "ops/gemm.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float uniform(void) {   /* in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / (double)(1ull << 52) - 1.0);
}

static float *filled(size_t n) {
    float *p = malloc(n * sizeof *p);
    size_t i;
    for (i = 0; i < n; i++) p[i] = uniform();
    return p;
}

#define GUARD 12345.0f

/* The products' operands: op(A) [M, K], op(B) [K, N], C [M, N], each with
** its leading dimension padded by 3; C's padding holds GUARD. */
typedef struct {
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float *A, *B, *C0;   /* C0: C before the product */
} problem;

static void problem_init(problem *p, int ta, int tb, int64_t M, int64_t N, int64_t K, int nan_c) {
    int64_t i, j;
    p->ta = ta, p->tb = tb, p->M = M, p->N = N, p->K = K;
    p->lda = (ta ? M : K) + 3;
    p->ldb = (tb ? K : N) + 3;
    p->ldc = N + 3;
    p->A = filled((size_t)((ta ? K : M) * p->lda + 1));
    p->B = filled((size_t)((tb ? N : K) * p->ldb + 1));
    p->C0 = filled((size_t)(M * p->ldc + 1));
    for (i = 0; i < M; i++)
        for (j = N; j < p->ldc; j++) p->C0[i * p->ldc + j] = GUARD;
    if (nan_c)
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) p->C0[i * p->ldc + j] = NAN;
}

static void problem_free(problem *p) {
    free(p->A);
    free(p->B);
    free(p->C0);
}

static double opa(const problem *p, int64_t i, int64_t k) {
    return p->ta ? p->A[k * p->lda + i] : p->A[i * p->lda + k];
}
static double opb(const problem *p, int64_t k, int64_t j) {
    return p->tb ? p->B[j * p->ldb + k] : p->B[k * p->ldb + j];
}

/* C against alpha op(A) op(B) + beta C0 in double, within float rounding
** of the sum of magnitudes; padding untouched. Returns the failures. */
static int check_product(const problem *p, float alpha, float beta, const float *C) {
    int64_t i, j, k;
    int bad = 0;
    for (i = 0; i < p->M; i++) {
        for (j = 0; j < p->N; j++) {
            double s = 0, mag = 0, want;
            for (k = 0; k < p->K; k++) {
                s += opa(p, i, k) * opb(p, k, j);
                mag += fabs(opa(p, i, k) * opb(p, k, j));
            }
            want = alpha * s;
            mag = fabs(alpha) * mag;
            if (beta != 0) {
                want += beta * (double)p->C0[i * p->ldc + j];
                mag += fabs(beta * (double)p->C0[i * p->ldc + j]);
            }
            if (!(fabs(C[i * p->ldc + j] - want) <= 4e-7 * (mag + 1) * (p->K + 2))) {
                if (bad++ < 3)
                    fprintf(stderr, "  ta %d tb %d M %lld N %lld K %lld alpha %g beta %g: C[%lld, %lld] = %.9g, expected %.9g\n",
                            p->ta, p->tb, (long long)p->M, (long long)p->N, (long long)p->K,
                            alpha, beta, (long long)i, (long long)j, C[i * p->ldc + j], want);
            }
        }
        for (j = p->N; j < p->ldc; j++)
            if (C[i * p->ldc + j] != GUARD && bad++ < 3)
                fprintf(stderr, "  padding C[%lld, %lld] overwritten\n", (long long)i, (long long)j);
    }
    return bad;
}

static float *copy_c(const problem *p) {
    size_t n = (size_t)(p->M * p->ldc + 1);
    float *c = malloc(n * sizeof *c);
    memcpy(c, p->C0, n * sizeof *c);
    return c;
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

#if SY_SGEMM_AVX512
/* The kernel against the double product, and split in two by rows and by
** columns at `cut` giving the same bits. */
static void check_kernel(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
    problem p;
    float *C, *Cs;
    int64_t cut;
    size_t n;
    problem_init(&p, ta, tb, M, N, K, beta == 0);
    n = (size_t)(M * p.ldc + 1);
    C = copy_c(&p);
    sy_sgemm_avx512(ta, tb, M, N, K, alpha, p.A, p.lda, p.B, p.ldb, beta, C, p.ldc);
    CHECK(check_product(&p, alpha, beta, C) == 0);
    if (M > 1) {   /* rows [0, cut) and [cut, M) */
        cut = M / 2 + 1;
        Cs = copy_c(&p);
        sy_sgemm_avx512(ta, tb, cut, N, K, alpha, p.A, p.lda, p.B, p.ldb, beta, Cs, p.ldc);
        sy_sgemm_avx512(ta, tb, M - cut, N, K, alpha, p.A + (ta ? cut : cut * p.lda), p.lda, p.B,
                        p.ldb, beta, Cs + cut * p.ldc, p.ldc);
        CHECK(same_bits(C, Cs, n));
        free(Cs);
    }
    if (N > 1) {   /* columns [0, cut) and [cut, N); N = 20: 16 and 4 */
        cut = N == 20 ? 16 : N / 2 + 3 < N ? N / 2 + 3 : N - 1;
        Cs = copy_c(&p);
        sy_sgemm_avx512(ta, tb, M, cut, K, alpha, p.A, p.lda, p.B, p.ldb, beta, Cs, p.ldc);
        sy_sgemm_avx512(ta, tb, M, N - cut, K, alpha, p.A, p.lda, p.B + (tb ? cut * p.ldb : cut),
                        p.ldb, beta, Cs + cut, p.ldc);
        CHECK(same_bits(C, Cs, n));
        free(Cs);
    }
    free(C);
    problem_free(&p);
}

static void test_kernel_sizes(void) {
    static const int64_t Ms[] = {1, 2, 5, 6, 7, 12, 13, 40};
    static const int64_t Ns[] = {1, 3, 15, 16, 17, 33, 64, 65, 100, 130};
    static const int64_t Ks[] = {1, 2, 15, 16, 17, 64, 255, 256, 257, 600};
    int ta, tb;
    unsigned m, nn, k;
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++)
            for (m = 0; m < sizeof Ms / sizeof *Ms; m++)
                for (nn = 0; nn < sizeof Ns / sizeof *Ns; nn++)
                    for (k = 0; k < sizeof Ks / sizeof *Ks; k++)
                        check_kernel(ta, tb, Ms[m], Ns[nn], Ks[k], 1.0f, 0.0f);
}

static void test_kernel_scalars(void) {
    static const float alphas[] = {1.0f, 0.5f, -2.0f}, betas[] = {0.0f, 1.0f, 0.25f, -1.5f};
    unsigned a, b;
    int t;
    for (t = 0; t < 4; t++)
        for (a = 0; a < 3; a++)
            for (b = 0; b < 4; b++) {
                check_kernel(t & 1, t >> 1, 13, 70, 300, alphas[a], betas[b]);
                check_kernel(t & 1, t >> 1, 6, 16, 5, alphas[a], betas[b]);
                /* fewer than 16 columns, over MT = 256 rows: by C^T in parts */
                check_kernel(t & 1, t >> 1, 300, 5, 40, alphas[a], betas[b]);
                /* a column split leaving 4 (C^T's way when A is transposed)
                ** over several chunks of k */
                check_kernel(t & 1, t >> 1, 7, 20, 600, alphas[a], betas[b]);
            }
}

/* K = 0 or alpha = 0: C = beta C without reading A or B (they hold NaN);
** beta = 0 also without reading C */
static void test_kernel_degenerate(void) {
    float a[8], b[8], c[6];
    int i;
    for (i = 0; i < 8; i++) a[i] = b[i] = NAN;
    for (i = 0; i < 6; i++) c[i] = (float)i;
    sy_sgemm_avx512(0, 0, 2, 3, 0, 1.0f, a, 1, b, 3, 0.5f, c, 3);
    CHECK(c[0] == 0.0f && c[1] == 0.5f && c[5] == 2.5f);
    sy_sgemm_avx512(1, 1, 2, 3, 2, 0.0f, a, 2, b, 2, -2.0f, c, 3);
    CHECK(c[1] == -1.0f && c[5] == -5.0f);
    for (i = 0; i < 6; i++) c[i] = NAN;
    sy_sgemm_avx512(0, 1, 2, 3, 2, 0.0f, a, 2, b, 2, 0.0f, c, 3);
    for (i = 0; i < 6; i++) CHECK(c[i] == 0.0f);
    sy_sgemm_avx512(0, 0, 0, 3, 2, 1.0f, a, 2, b, 3, 0.0f, c, 3);   /* M = 0: nothing */
    CHECK(c[0] == 0.0f);
}

/* sy_gemm_f32 through the kernel: one thread and two give the same bits,
** and both agree with the kernel called directly and with sy_gemm_serial_f32 */
static void test_split_threads(void) {
    problem p;
    float *C1, *C2, *Cd, *Cs;
    size_t n;
    int ta, tb;
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++) {
            problem_init(&p, ta, tb, 301, 190, 97, 0);
            n = (size_t)(p.M * p.ldc + 1);
            C1 = copy_c(&p), C2 = copy_c(&p), Cd = copy_c(&p), Cs = copy_c(&p);
            sy_set_num_threads(1);
            sy_gemm_f32(ta, tb, p.M, p.N, p.K, 0.75f, p.A, p.lda, p.B, p.ldb, 0.5f, C1, p.ldc);
            sy_set_num_threads(2);
            sy_gemm_f32(ta, tb, p.M, p.N, p.K, 0.75f, p.A, p.lda, p.B, p.ldb, 0.5f, C2, p.ldc);
            sy_sgemm_avx512(ta, tb, p.M, p.N, p.K, 0.75f, p.A, p.lda, p.B, p.ldb, 0.5f, Cd, p.ldc);
            sy_gemm_serial_f32(ta, tb, p.M, p.N, p.K, 0.75f, p.A, p.lda, p.B, p.ldb, 0.5f, Cs, p.ldc);
            CHECK(same_bits(C1, C2, n));
            CHECK(same_bits(C1, Cd, n));
            CHECK(same_bits(C1, Cs, n));
            CHECK(check_product(&p, 0.75f, 0.5f, C1) == 0);
            free(C1), free(C2), free(Cd), free(Cs);
            problem_free(&p);
        }
    sy_set_num_threads(1);
}
#endif

/* The switch: "blas" always; "avx512" exactly where available; anything
** else refused, the selection kept. Through BLAS the product still holds. */
static void test_switch(void) {
    problem p;
    float *C;
    const char *start = sy_gemm_kernel();
    CHECK(strcmp(start, sy_gemm_avx512_available() ? "avx512" : "blas") == 0 ||
          (getenv("SYNLUA_GEMM") && strcmp(start, "blas") == 0));
    CHECK(sy_gemm_set_kernel("blas") == 0);
    CHECK(strcmp(sy_gemm_kernel(), "blas") == 0);
    CHECK(sy_gemm_set_kernel("fast") == -1);
    CHECK(strcmp(sy_gemm_kernel(), "blas") == 0);
    problem_init(&p, 0, 1, 9, 20, 11, 1);
    C = copy_c(&p);
    sy_gemm_f32(0, 1, p.M, p.N, p.K, 1.0f, p.A, p.lda, p.B, p.ldb, 0.0f, C, p.ldc);
    CHECK(check_product(&p, 1.0f, 0.0f, C) == 0);
    free(C);
    C = copy_c(&p);
    sy_gemm_serial_f32(0, 1, p.M, p.N, p.K, 1.0f, p.A, p.lda, p.B, p.ldb, 0.0f, C, p.ldc);
    CHECK(check_product(&p, 1.0f, 0.0f, C) == 0);
    free(C);
    problem_free(&p);
    if (sy_gemm_avx512_available()) {
        CHECK(sy_gemm_set_kernel("avx512") == 0);
        CHECK(strcmp(sy_gemm_kernel(), "avx512") == 0);
    } else {
        CHECK(sy_gemm_set_kernel("avx512") == -1);
        CHECK(strcmp(sy_gemm_kernel(), "blas") == 0);
    }
}

int main(void) {
    test_switch();
#if SY_SGEMM_AVX512
    if (sy_gemm_avx512_available()) {
        CHECK(sy_gemm_set_kernel("avx512") == 0);
        test_kernel_sizes();
        test_kernel_scalars();
        test_kernel_degenerate();
        test_split_threads();
    } else {
        printf("gemm: this CPU has no AVX-512F: the kernel's own checks are skipped\n");
    }
#endif
    return check_summary("gemm");
}
