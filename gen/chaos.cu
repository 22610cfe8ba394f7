// The chaos game on the GPU: the CUDA twin of gen/chaos.py, compiled at run time by CuPy (NVRTC).
//
// One thread block per frame; each thread runs whole chains. The random stream of chain c is the
// CPU's: a splitmix64 hash of (clip seed, c) gives its start point and 32-bit counter, each step
// hashes the next counter value with the 32-bit hash (32-bit multiplies, native here), map
// choice uses the same alias tables, the variations the same
// formulas in float32 (the same portable functions), and escaping points restart the same way.
// Counts go to a shared-memory histogram when it fits (int counters, or 16-bit ones added out
// every few hundred steps; see hist_mode), else straight to the frame's histogram in global
// memory; single increments, the 3x3 box filter runs afterwards on the device.
//
// No headers: NVRTC provides the math functions, and the RNG needs none.

typedef unsigned long long u64;

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define MIX1 0xBF58476D1CE4E5B9ULL
#define MIX2 0x94D049BB133111EBULL
#define INV24 5.9604644775390625e-08f
#define ESCAPE 1e10f
#define EPS 1e-12f
#define PI 3.1415927410125732f
#define HALF_PI 1.5707963705062866f
#define QUARTER_PI 0.7853981852531433f
#define ROUNDER 12582912.0f

__device__ __forceinline__ u64 mix64(u64 z) {
    z = (z ^ (z >> 30)) * MIX1;
    z = (z ^ (z >> 27)) * MIX2;
    return z ^ (z >> 31);
}

// chaos.py's hash32 and its keys.
#define GOLDEN32 0x9E3779B9u
#define K1 0x85EBCA6Bu
#define K2 0xC2B2AE35u
#define K3 0x27D4EB2Fu
__device__ __forceinline__ unsigned hash32(unsigned x) {
    x = (x ^ (x >> 16)) * 0x7FEB352Du;
    x = (x ^ (x >> 15)) * 0x846CA68Bu;
    return x ^ (x >> 16);
}

// Uniforms in [0, 1) from the high 24 bits of a 64-bit or a 32-bit draw (exact in a float).
__device__ __forceinline__ float unit24(u64 z) { return (float)(z >> 40) * INV24; }
__device__ __forceinline__ float high24(unsigned z) { return (float)(z >> 8) * INV24; }

// Python's float modulo (the sign of the divisor), as gen/portable.py pymod32 computes it.
__device__ __forceinline__ float pymod(float a, float b) {
    float m = fmodf(a, b);
    if (m != 0.0f) return (b < 0.0f) != (m < 0.0f) ? m + b : m;
    return copysignf(0.0f, b);
}

__device__ __forceinline__ bool draws_randoms(int vid) {
    return vid == 13 || vid == 31 || vid == 44 || vid == 45;
}

// The portable float32 functions of gen/portable.py, operation for operation: only float
// +, -, *, /, sqrtf, exact conversions and bit casts, so with --fmad=false the device
// computes the CPU's bits, where its own sinf/expf/atan2f would differ from them.
__device__ __forceinline__ float reduce(float x, float turns) {
    const float n = ((x * 0.15915493667125702f + turns) + ROUNDER) - ROUNDER;
    return ((x - n * 6.28125f) - n * 0.0019350051879882812f) - n * 3.019916050561733e-07f;
}

__device__ __forceinline__ float sin_near(float r) {
    r = r > HALF_PI ? PI - r : r;
    r = r < -HALF_PI ? -PI - r : r;
    r = fabsf(r) > HALF_PI ? 0.0f : r;
    const float r2 = r * r, r4 = r2 * r2;
    const float low = (1.0f - 0.1666666716337204f * r2) + r4 * (0.008333333767950535f - 0.00019841270113829523f * r2);
    return r * (low + (r4 * r4) * (2.7557318844628753e-06f - 2.5052107943679403e-08f * r2));
}

__device__ __forceinline__ float fsin(float x) { return sin_near(reduce(x, 0.0f)); }

__device__ __forceinline__ float fcos(float x) { return sin_near(reduce(x, 0.25f) + HALF_PI); }

__device__ __forceinline__ float ftan(float x) { return fsin(x) / fcos(x); }

__device__ float fexp(float x) {
    x = x > 110.0f ? 110.0f : x;  // |k| <= 159: both halves of 2^k are normal floats
    x = x < -110.0f ? -110.0f : x;
    const float k = (x * 1.4426950216293335f + ROUNDER) - ROUNDER;
    const float r = (x - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
    const float r2 = r * r;
    const float q0 = (1.0f + r) + r2 * (0.5f + 0.1666666716337204f * r);
    const float q1 = (0.0416666679084301f + 0.008333333767950535f * r) + r2 * (0.0013888889225199819f + 0.00019841270113829523f * r);
    float p = q0 + (r2 * r2) * q1;
    const int ki = (int)(k == k ? k : 0.0f);
    const int k1 = ki >> 1, k2 = ki - k1;
    p = (p * __int_as_float((k1 + 127) << 23)) * __int_as_float((k2 + 127) << 23);
    return x == x ? p : x;
}

__device__ float flog(float x) {
    int e;
    float m = frexpf(x, &e);
    if (m < 0.7071067690849304f) {
        m = m * 2.0f;
        e = e - 1;
    }
    const float f = m - 1.0f;
    const float s = f / (2.0f + f);
    const float z = s * s, z2 = z * z;
    const float tail = (0.3333333432674408f + 0.20000000298023224f * z) + z2 * (0.1428571492433548f + 0.1111111119389534f * z) + (z2 * z2) * 0.09090909361839294f;
    const float log_m = 2.0f * s + 2.0f * s * (z * tail);
    const float ef = (float)e;
    return ef * 0.693145751953125f + (ef * 1.428606765330187e-06f + log_m);
}

__device__ float fpow(float r, float s) {
    if (r == 0.0f) return s > 0.0f ? 0.0f : (s == 0.0f ? 1.0f : __int_as_float(0x7F800000));
    return fexp(s * flog(r));
}

__device__ float fatan2(float y, float x) {
    const float ax = fabsf(x), ay = fabsf(y);
    const float big = ay > ax ? ay : ax, small = ay > ax ? ax : ay;
    const float t = big > 0.0f ? small / big : 0.0f;
    const bool folded = t > 0.4142135679721832f;
    const float u = folded ? (t - 1.0f) / (t + 1.0f) : t;
    const float h = u / (1.0f + sqrtf(1.0f + u * u));
    const float w = h * h, w2 = w * w;
    const float tail = (0.20000000298023224f * w - 0.3333333432674408f) + w2 * (0.1111111119389534f * w - 0.1428571492433548f) - (w2 * w2) * 0.09090909361839294f;
    float a = 2.0f * (h + h * (w * tail));
    a = folded ? a + QUARTER_PI : a;
    a = ay > ax ? HALF_PI - a : a;
    a = x < 0.0f ? PI - a : a;
    return y < 0.0f ? -a : a;
}

// V(x, y) of flame variation vid (the flame paper's numbering), as gen/variations.py.
__device__ void apply_variation(int vid, float x, float y, float b, float c, float e, float f,
                                float r1, float r2, float* ox, float* oy) {
    float s, rr, r, theta, a;
    switch (vid) {
    case 0: *ox = x; *oy = y; return;
    case 14: *ox = x < 0.0f ? 2.0f * x : x; *oy = y < 0.0f ? y / 2.0f : y; return;
    case 29: *ox = fsin(x); *oy = y; return;
    case 16: s = 2.0f / (sqrtf(x * x + y * y) + 1.0f); *ox = s * y; *oy = s * x; return;
    case 27: s = 2.0f / (sqrtf(x * x + y * y) + 1.0f); *ox = s * x; *oy = s * y; return;
    case 4:
        s = 1.0f / (sqrtf(x * x + y * y) + EPS);
        *ox = s * (x - y) * (x + y); *oy = s * 2.0f * x * y; return;
    case 17:
        *ox = x + c * fsin(ftan(3.0f * y)); *oy = y + f * fsin(ftan(3.0f * x)); return;
    case 20: {
        float ey = fexp(y), iy = 1.0f / ey;
        *ox = fcos(PI * x) * 0.5f * (ey + iy); *oy = -fsin(PI * x) * 0.5f * (ey - iy); return;
    }
    case 1: *ox = fsin(x); *oy = fsin(y); return;
    }
    rr = x * x + y * y;
    switch (vid) {
    case 2: s = 1.0f / (rr + EPS); *ox = x * s; *oy = y * s; return;
    case 3: {
        float sr = fsin(rr), cr = fcos(rr);
        *ox = x * sr - y * cr; *oy = x * cr + y * sr; return;
    }
    case 28: s = 4.0f / (rr + 4.0f); *ox = s * x; *oy = s * y; return;
    case 15:
        *ox = x + b * fsin(y / (c * c + EPS)); *oy = y + e * fsin(x / (f * f + EPS)); return;
    case 18: s = fexp(x - 1.0f); *ox = s * fcos(PI * y); *oy = s * fsin(PI * y); return;
    case 31: a = 2.0f * PI * r2; *ox = r1 * x * fcos(a); *oy = r1 * y * fsin(a); return;
    case 42: *ox = fsin(x) / fcos(y); *oy = ftan(y); return;
    case 44: s = ftan(r1 * PI) / (rr + EPS); *ox = s * fcos(x); *oy = s * fsin(y); return;
    case 48: s = 1.0f / (fabsf(x * x - y * y) + EPS); *ox = s * x; *oy = s * y; return;
    }
    r = sqrtf(rr);
    if (vid == 45) {
        a = r1 * r;
        float ca = fcos(a), sa = fsin(a);
        *ox = x * (ca + sa); *oy = x * (ca - sa); return;
    }
    theta = fatan2(x, y);
    switch (vid) {
    case 5: *ox = theta / PI; *oy = r - 1.0f; return;
    case 6: *ox = r * fsin(theta + r); *oy = r * fcos(theta - r); return;
    case 7: *ox = r * fsin(theta * r); *oy = -r * fcos(theta * r); return;
    case 8: s = theta / PI; *ox = s * fsin(PI * r); *oy = s * fcos(PI * r); return;
    case 9:
        s = 1.0f / (r + EPS);
        *ox = s * (fcos(theta) + fsin(r)); *oy = s * (fsin(theta) - fcos(r)); return;
    case 10: *ox = fsin(theta) / (r + EPS); *oy = r * fcos(theta); return;
    case 11: *ox = fsin(theta) * fcos(r); *oy = fcos(theta) * fsin(r); return;
    case 12: {
        float p0 = fsin(theta + r), p1 = fcos(theta - r);
        float p03 = p0 * p0 * p0, p13 = p1 * p1 * p1;
        *ox = r * (p03 + p13); *oy = r * (p03 - p13); return;
    }
    case 13: {
        float omega = r1 < 0.5f ? PI : 0.0f;
        s = sqrtf(r);
        *ox = s * fcos(theta / 2.0f + omega); *oy = s * fsin(theta / 2.0f + omega); return;
    }
    case 19: s = fpow(r, fsin(theta)); *ox = s * fcos(theta); *oy = s * fsin(theta); return;
    case 21: {
        float c2 = c * c + EPS;
        s = pymod(r + c2, 2.0f * c2) - c2 + r * (1.0f - c2);
        *ox = s * fcos(theta); *oy = s * fsin(theta); return;
    }
    case 22: {
        float t = PI * c * c + EPS;
        a = pymod(theta + f, t) > t / 2.0f ? theta - t / 2.0f : theta + t / 2.0f;
        *ox = r * fcos(a); *oy = r * fsin(a); return;
    }
    }
    *ox = x; *oy = y;
}

// Where a block counts its frame's points (hist_mode):
//   GLOBAL: atomics straight into the frame's histogram in global memory (any size);
//   SHARED: an int per pixel in shared memory, copied out once at the end (H W 4 bytes);
//   PACKED: two 16-bit counters per int in shared memory (H W 2 bytes: 256 px fits, 128 KB),
//     added into the frame's histogram every PACKED_SPAN steps, before any counter can wrap:
//     a block counts at most blockDim.x points a step, so PACKED_SPAN blockDim.x <= 65535.
// The counts are the same in every mode (integer sums in any order).
#define GLOBAL 0
#define SHARED 1
#define PACKED 2
#define PACKED_SPAN(threads) (65535 / (threads))

// Chaos-game histograms for F frames, one block per frame (gridDim.x = F).
//   coefs [F, nmax, 6] float; thresholds [F, nmax] unsigned = ceil(prob 2^16), alias [F, nmax]
//   int: alias tables of the first nmaps[f] maps (chaos.alias_picks); vids [F]; views [F, 6] (x_left, y_top, px/unit x, px/unit y, W, H);
//   seeds [F] (frames of one clip share a seed); hist [F, H * W] int, zeroed by the caller;
//   escapes [F] u64, zeroed by the caller. Dynamic shared memory: H * W ints (SHARED),
//   ceil(H * W / 2) ints (PACKED), or none (GLOBAL).
extern "C" __global__ void chaos_frames(
    const float* __restrict__ coefs, const unsigned* __restrict__ thresholds,
    const int* __restrict__ alias, const long long* __restrict__ nmaps,
    const long long* __restrict__ vids, const float* __restrict__ views,
    const u64* __restrict__ seeds, int nmax, int chains, int iters, int burn, int hist_mode,
    int* __restrict__ hist, u64* __restrict__ escapes) {
    extern __shared__ int local[];
    const int f = blockIdx.x;
    const float* view = views + 6 * f;
    const float x_left = view[0], y_top = view[1], sx = view[2], sy = view[3];
    const float width = view[4], height = view[5];
    const int wi = (int)width, npix = (int)width * (int)height;
    const int n = (int)nmaps[f], vid = (int)vids[f];
    const float* coef = coefs + (long long)f * nmax * 6;
    const unsigned* th = thresholds + (long long)f * nmax;
    const int* al = alias + (long long)f * nmax;
    int* out = hist + (long long)f * npix;
    const int nlocal = hist_mode == SHARED ? npix : hist_mode == PACKED ? (npix + 1) / 2 : 0;
    for (int i = threadIdx.x; i < nlocal; i += blockDim.x) local[i] = 0;
    __syncthreads();
    const bool randomized = draws_randoms(vid);
    // PACKED stops every `span` steps for the whole block to add its counters into `out`, so
    // all threads run the same rounds and spans; chains past the last are idle, not absent.
    const int span = hist_mode == PACKED ? PACKED_SPAN(blockDim.x) : iters;
    u64 escaped = 0;
    for (int round = 0; round * (int)blockDim.x < chains; ++round) {
        const int ch = round * blockDim.x + threadIdx.x;
        const bool live = ch < chains;
        const u64 key = mix64(seeds[f] ^ ((u64)(ch + 1) * GOLDEN));
        unsigned st = (unsigned)key;
        float x = 2.0f * unit24(mix64(key ^ MIX1)) - 1.0f;
        float y = 2.0f * unit24(mix64(key ^ MIX2)) - 1.0f;
        for (int start = 0; start < iters; start += span) {
            const int stop = iters - start < span ? iters : start + span;
            for (int step = start; live && step < stop; ++step) {
                st += GOLDEN32;
                const unsigned z = hash32(st);
                // The map, as numba draws it (chaos.alias_draw): slot k = floor(hi16(z) n / 2^16),
                // its alias when the low 16 bits reach k's threshold. Integers all the way.
                int k = (int)(((z >> 16) * (unsigned)n) >> 16);
                if ((z & 0xFFFFu) >= th[k]) k = al[k];
                const float* m = coef + 6 * k;
                float nx = m[0] * x + m[1] * y + m[2];
                float ny = m[3] * x + m[4] * y + m[5];
                if (vid != 0) {
                    float r1 = 0.0f, r2 = 0.0f;
                    if (randomized) {
                        r1 = high24(hash32(z ^ K2));
                        r2 = high24(hash32(z ^ K3));
                    }
                    apply_variation(vid, nx, ny, m[1], m[2], m[4], m[5], r1, r2, &nx, &ny);
                }
                if (!(fabsf(nx) < ESCAPE && fabsf(ny) < ESCAPE)) {  // also catches NaN
                    const unsigned z3 = hash32(z ^ K1);
                    nx = 2.0f * high24(z3) - 1.0f;
                    ny = 2.0f * high24(hash32(z3 ^ K2)) - 1.0f;
                    ++escaped;
                }
                x = nx;
                y = ny;
                if (step >= burn) {
                    const float fx = (x - x_left) * sx, fy = (y_top - y) * sy;
                    if (fx >= 0.0f && fx < width && fy >= 0.0f && fy < height) {
                        const int p = (int)fy * wi + (int)fx;
                        if (hist_mode == GLOBAL) atomicAdd(out + p, 1);
                        else if (hist_mode == SHARED) atomicAdd(local + p, 1);
                        else atomicAdd(local + (p >> 1), (p & 1) ? 0x10000 : 1);
                    }
                }
            }
            if (hist_mode == PACKED && stop > burn) {  // the same decision in every thread
                __syncthreads();
                for (int i = threadIdx.x; i < nlocal; i += blockDim.x) {
                    const unsigned pair = (unsigned)local[i];
                    if (pair == 0) continue;  // most of a frame is empty: skip its memory
                    out[2 * i] += (int)(pair & 0xFFFF);
                    if (2 * i + 1 < npix) out[2 * i + 1] += (int)(pair >> 16);
                    local[i] = 0;
                }
                __syncthreads();
            }
        }
    }
    if (escaped) atomicAdd(escapes + f, escaped);
    if (hist_mode == SHARED) {
        __syncthreads();
        for (int i = threadIdx.x; i < npix; i += blockDim.x) out[i] = local[i];
    }
}
