// chaos.cu compiled for the CPU (see cuda_cpu.h), with a C entry point for ctypes.
#include "cuda_cpu.h"
#include "chaos.cu"

int local[CPU_SHARED_BYTES / sizeof(int)];  // chaos_frames' dynamic shared memory

// 0, or 1 when the kernel wrote shared memory past the launch's ``shared_bytes``.
extern "C" int launch_chaos_frames(
    unsigned grid, unsigned block, unsigned shared_bytes, const float* coefs, const unsigned* thresholds,
    const int* alias, const long long* nmaps, const long long* vids, const float* views,
    const u64* seeds, int nmax, int chains, int iters, int burn, int hist_mode, int* hist,
    u64* escapes) {
    return cpu_launch(chaos_frames, grid, block, reinterpret_cast<unsigned char*>(local),
                      shared_bytes, coefs, thresholds, alias, nmaps, vids, views, seeds, nmax, chains,
                      iters, burn, hist_mode, hist, escapes);
}
