// Just enough of CUDA's execution model to run gen/chaos.cu on the CPU, so the kernel's logic
// (indexing, RNG, variations, shared-memory histogram, atomics) is tested where no GPU is.
//
// A launch runs its blocks one after another; each block runs blockDim.x POSIX threads at once,
// with a barrier for __syncthreads, one buffer for the block's dynamic shared memory (filled
// with garbage first, as on a GPU) and real atomics, so races the kernel might have are real
// races here too.
#pragma once
#include <math.h>
#include <pthread.h>
#include <string.h>

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

static inline double __longlong_as_double(long long v) {
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

// `extern __shared__ T name[];` in a kernel declares this symbol; the launcher defines it.
#define CPU_SHARED_BYTES (228 * 1024)

template <typename Kernel, typename... Args>
static void cpu_launch(Kernel kernel, unsigned grid, unsigned block, void* shared,
                       Args... args) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned b = 0; b < grid; ++b) {
        memset(shared, 0xA5, CPU_SHARED_BYTES);  // shared memory starts as garbage
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
    }
}
