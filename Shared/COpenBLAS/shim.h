// The OpenBLAS that PPF links: scipy-openblas32 (OpenBLAS 0.3.34, pinned in
// infra/packages.lock, unpacked by `make setup` into .deps/lib). Its exported
// symbols carry a `scipy_` prefix so it never clashes with a system OpenBLAS;
// this shim declares the few PPF calls, mapped to those names, so the build
// needs no header from the wheel. Only PPFTensor imports this module.
//
// Why not Debian's OpenBLAS 0.3.21: it does not know recent Intel Xeons and
// falls back to its SSE3 `Prescott` kernels there (a quarter of the sgemm
// rate); 0.3.34 picks SkylakeX/Cooperlake on those and Zen/Haswell on EPYC.
#ifndef PPF_COPENBLAS_SHIM_H
#define PPF_COPENBLAS_SHIM_H

#include <stddef.h>

// CBLAS enumerations, values as fixed by the CBLAS standard (cblas.h).
enum PPF_CBLAS_ORDER { PPFCblasRowMajor = 101, PPFCblasColMajor = 102 };
enum PPF_CBLAS_TRANSPOSE { PPFCblasNoTrans = 111, PPFCblasTrans = 112 };

// The 32-bit-integer interface (scipy-openblas32: blasint is int).
void scipy_cblas_sgemm(enum PPF_CBLAS_ORDER order,
                       enum PPF_CBLAS_TRANSPOSE transA, enum PPF_CBLAS_TRANSPOSE transB,
                       int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb,
                       float beta, float *c, int ldc);
void scipy_openblas_set_num_threads(int count);
int scipy_openblas_get_num_threads(void);
int scipy_openblas_get_num_procs(void);
char *scipy_openblas_get_config(void);
char *scipy_openblas_get_corename(void);

// The caller-managed threading backend (OpenBLAS 0.3.27+, cblas.h's
// openblas_set_threads_callback_function): OpenBLAS hands each parallel call's
// jobs to `callback`, which must run job i as
// dojob(i, (char *)jobdata + i * jobdata_elsize, dojob_data), all of them
// concurrently (the level-3 drivers busy-wait on each other), before returning.
typedef void (*ppf_openblas_dojob)(int thread_num, void *jobdata, int dojob_data);
typedef void (*ppf_openblas_threads_callback)(int sync, ppf_openblas_dojob dojob, int numjobs,
                                              size_t jobdata_elsize, void *jobdata, int dojob_data);
void scipy_openblas_set_threads_callback_function(ppf_openblas_threads_callback callback);

#endif
