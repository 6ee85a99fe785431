// OpenBLAS's CBLAS interface plus openblas_set_num_threads.
// Only PPFTensor imports this module.
#include <cblas.h>
