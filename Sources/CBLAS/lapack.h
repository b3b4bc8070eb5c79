#ifndef PARE_LAPACK_H
#define PARE_LAPACK_H
/* The two LAPACK routines Pare calls, as OpenBLAS exports them (Fortran symbols, every
   argument by pointer, matrices column-major). Debian ships no lapacke.h, so the
   prototypes are declared here. Hidden string-length arguments of the character
   parameters are not passed: both routines read one character only. */

/* Singular value decomposition by divide and conquer: A (m x n) = U * diag(S) * VT. */
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda,
             double *s, double *u, const int *ldu, double *vt, const int *ldvt,
             double *work, const int *lwork, int *iwork, int *info);

/* Eigenvalues (ascending) and eigenvectors of a symmetric matrix, divide and conquer. */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork, int *info);
#endif
