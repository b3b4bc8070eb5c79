/* Peak throughput of the instructions an int8 convolution runs on AVX2 without VNNI, against
 * fp32 FMA, on one core: register-only loops of independent instructions (no loads, no
 * dependency chains a core could not overlap). An int8 dot product on AVX2 is
 * vpmaddubsw (u8 x s8 -> pairs summed to s16) + vpmaddwd with ones (pairs summed to s32) +
 * vpaddd: 32 multiply-adds for two multiplies; fp32 is one vfmadd231ps for 8.
 * Where the two lines print the same GMAC/s, int8 convolutions cannot run faster than fp32
 * ones on this core, whatever the kernel: only memory traffic can still make int8 faster.
 * The last line is one tap of a depthwise convolution summed in f32 from u8 input
 * (vpmovzxbd from memory, vcvtdq2ps, vfmadd231ps): what an int8 depthwise kernel without
 * an integer dot product costs per 8 multiply-adds.
 * Built and run by bench/int8-peak.sh. */
#include <stdio.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define TRIPLE(t, acc) "vpmaddubsw %%ymm14, %%ymm15, %%ymm" #t "\n vpmaddwd %%ymm13, %%ymm" #t ", %%ymm" #t "\n vpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n"
#define FMA(r) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #r "\n"
#define MADDUBS(r) "vpmaddubsw %%ymm14, %%ymm15, %%ymm" #r "\n"
#define MADDWD(r) "vpmaddwd %%ymm14, %%ymm15, %%ymm" #r "\n"
#define TAP(t, acc, off) "vpmovzxbd " #off "(%0), %%ymm" #t "\n vcvtdq2ps %%ymm" #t ", %%ymm" #t "\n vfmadd231ps %%ymm" #t ", %%ymm15, %%ymm" #acc "\n"
#define CLOBBER "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11"

int main(void) {
    const long n = 50000000;
    double t = seconds();
    for (long i = 0; i < n; i++)
        __asm__ volatile(FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5) FMA(6) FMA(7) FMA(8) FMA(9) ::: CLOBBER);
    double fma = n * 10.0 / (seconds() - t);
    t = seconds();
    for (long i = 0; i < n; i++)
        __asm__ volatile(TRIPLE(0, 1) TRIPLE(2, 3) TRIPLE(4, 5) TRIPLE(6, 7) TRIPLE(8, 9) TRIPLE(10, 11) ::: CLOBBER);
    double triple = n * 6.0 / (seconds() - t);
    t = seconds();
    for (long i = 0; i < n; i++)
        __asm__ volatile(MADDUBS(0) MADDUBS(1) MADDUBS(2) MADDUBS(3) MADDUBS(4) MADDUBS(5) MADDUBS(6) MADDUBS(7) ::: CLOBBER);
    double maddubs = n * 8.0 / (seconds() - t);
    t = seconds();
    for (long i = 0; i < n; i++)
        __asm__ volatile(MADDWD(0) MADDWD(1) MADDWD(2) MADDWD(3) MADDWD(4) MADDWD(5) MADDWD(6) MADDWD(7) ::: CLOBBER);
    double maddwd = n * 8.0 / (seconds() - t);
    static unsigned char bytes[64] __attribute__((aligned(64)));
    t = seconds();
    for (long i = 0; i < n; i++)
        __asm__ volatile(TAP(0, 4, 0) TAP(1, 5, 8) TAP(2, 6, 16) TAP(3, 7, 24) :: "r"(bytes) : CLOBBER, "memory");
    double tap = n * 4.0 / (seconds() - t);
    printf("one core, register-only loops (instructions per ns; multiply-adds per ns = GMAC/s):\n");
    printf("  fp32  vfmadd231ps ymm                       %5.2f /ns  %6.1f GMAC/s\n", fma * 1e-9, fma * 8e-9);
    printf("  int8  vpmaddubsw + vpmaddwd + vpaddd ymm    %5.2f /ns  %6.1f GMAC/s\n", triple * 1e-9, triple * 32e-9);
    printf("        vpmaddubsw ymm alone                  %5.2f /ns\n", maddubs * 1e-9);
    printf("        vpmaddwd ymm alone                    %5.2f /ns\n", maddwd * 1e-9);
    printf("  int8 peak / fp32 peak: %.2fx\n", triple * 32 / (fma * 8));
    printf("  u8 tap in f32: vpmovzxbd m64 + vcvtdq2ps + vfmadd231ps  %5.2f /ns  %6.1f GMAC/s\n", tap * 1e-9, tap * 8e-9);
    return 0;
}
