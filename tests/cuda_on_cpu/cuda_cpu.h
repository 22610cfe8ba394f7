// Just enough of CUDA's execution model to run gen/chaos.cu on the CPU, so the kernel's logic
// (indexing, RNG, variations, shared-memory histogram, atomics) is tested where no GPU is.
//
// A launch runs its blocks one after another; each block runs blockDim.x POSIX threads at once,
// with a barrier for __syncthreads, one buffer for the block's dynamic shared memory (filled
// with garbage first, as on a GPU) and real atomics, so races the kernel might have are real
// races here too. Only the launch's dynamic shared bytes are the kernel's: a write past them is
// reported after the block (a canary), and under AddressSanitizer any access past them is
// reported at once (the rest is poisoned). Built with -fsanitize=thread, ThreadSanitizer sees
// the barrier and the atomics, so a missing __syncthreads is a reported race.
#pragma once
#include <math.h>
#include <pthread.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CPU_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define CPU_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define CPU_POISON(p, n) ((void)0)
#define CPU_UNPOISON(p, n) ((void)0)
#endif

#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__

struct cpu_dim3 {
    unsigned x, y, z;
};
static thread_local cpu_dim3 threadIdx, blockIdx;
static cpu_dim3 blockDim, gridDim;
static pthread_barrier_t cpu_block_barrier;

static inline void __syncthreads() { pthread_barrier_wait(&cpu_block_barrier); }

static inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

static inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static inline float __int_as_float(int v) {
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

// `extern __shared__ T name[];` in a kernel declares this symbol; the launcher defines it.
#define CPU_SHARED_BYTES (228 * 1024)
#define CPU_GARBAGE 0xA5

// Runs the launch; returns 0, or 1 when a block wrote shared memory past ``shared_bytes``.
template <typename Kernel, typename... Args>
static int cpu_launch(Kernel kernel, unsigned grid, unsigned block, unsigned char* shared,
                      unsigned shared_bytes, Args... args) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    int status = 0;
    for (unsigned b = 0; b < grid && status == 0; ++b) {
        CPU_UNPOISON(shared, CPU_SHARED_BYTES);
        memset(shared, CPU_GARBAGE, CPU_SHARED_BYTES);  // shared memory starts as garbage
        CPU_POISON(shared + shared_bytes, CPU_SHARED_BYTES - shared_bytes);
        pthread_barrier_init(&cpu_block_barrier, nullptr, block);
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; ++t)
            threads.emplace_back([=] {
                blockIdx = {b, 0, 0};
                threadIdx = {t, 0, 0};
                kernel(args...);
            });
        for (auto& th : threads) th.join();
        pthread_barrier_destroy(&cpu_block_barrier);
        CPU_UNPOISON(shared, CPU_SHARED_BYTES);
        for (unsigned i = shared_bytes; i < CPU_SHARED_BYTES; ++i)
            if (shared[i] != CPU_GARBAGE) status = 1;
    }
    return status;
}
