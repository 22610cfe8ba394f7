// The chaos game on the GPU: the CUDA twin of gen/chaos.py, compiled at run time by CuPy (NVRTC).
//
// One thread block per frame; each thread runs whole chains. The random stream of chain c is the
// same counter-based splitmix64 sequence as on the CPU (keyed by the clip seed and c, advanced
// by the golden-ratio increment), map choice uses the same alias tables, the variations the same
// formulas, and escaping points restart the same way. Counts go to a shared-memory histogram
// when it fits (int counters, or 16-bit ones added out every few hundred steps; see hist_mode),
// else straight to the frame's histogram in global memory; single increments, the 3x3 box
// filter runs afterwards on the device.
//
// No headers: NVRTC provides the math functions, and the RNG needs none.

typedef unsigned long long u64;

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define MIX1 0xBF58476D1CE4E5B9ULL
#define MIX2 0x94D049BB133111EBULL
#define INV32 (1.0 / 4294967296.0)
#define INV53 (1.0 / 9007199254740992.0)
#define ESCAPE 1e10
#define EPS 1e-12
#define PI 3.141592653589793

__device__ __forceinline__ u64 mix64(u64 z) {
    z = (z ^ (z >> 30)) * MIX1;
    z = (z ^ (z >> 27)) * MIX2;
    return z ^ (z >> 31);
}

__device__ __forceinline__ double unit53(u64 z) { return (double)(z >> 11) * INV53; }

// Python's float modulo (the sign of the divisor), computed as numba (and CPython) do.
__device__ __forceinline__ double pymod(double a, double b) {
    double m = fmod(a, b);
    if (m != 0.0) return (b < 0.0) != (m < 0.0) ? m + b : m;
    return copysign(0.0, b);
}

__device__ __forceinline__ bool draws_randoms(int vid) {
    return vid == 13 || vid == 31 || vid == 44 || vid == 45;
}

// The CPU's fast sine (gen/variations.py fast_sin): three-part reduction by 2*pi, branch-free
// fold onto [-pi/2, pi/2], degree-13 Taylor polynomial; |error| < 1e-9 for |x| < 5e7, NaN for
// inf or NaN. Also cheaper than the library's sin for the huge arguments of popcorn.
__device__ __forceinline__ double fsin(double x) {
    const double n = (x * 0.15915494309189535 + 6755399441055744.0) - 6755399441055744.0;
    double r = ((x - n * 6.28125) - n * 0.0019353071802470367) - n * -6.605598148970637e-13;
    r = r > PI / 2 ? PI - r : r;
    r = r < -PI / 2 ? -PI - r : r;
    r = fabs(r) > PI / 2 ? 0.0 : r;
    const double r2 = r * r, r4 = r2 * r2;
    const double low = (1.0 - 1.6666666666666666e-01 * r2)
                       + r4 * (8.333333333333333e-03 - 1.984126984126984e-04 * r2);
    const double high = (2.7557319223985893e-06 - 2.505210838544172e-08 * r2)
                        + r4 * 1.6059043836821613e-10;
    return r * (low + r4 * r4 * high);
}

__device__ __forceinline__ double fcos(double x) { return fsin(x + PI / 2); }

__device__ __forceinline__ double ftan(double x) { return fsin(x) / fcos(x); }

// Portable exp, log, pow and atan2, as gen/variations.py computes them (fast_exp, fast_log,
// fast_pow, fast_atan2): only +, -, *, /, sqrt, frexp and bit casts in a fixed order, so with
// --fmad=false the device computes the CPU's bits, where its own exp/pow/atan2 would differ
// from libm in the last ones.
__device__ double fexp(double x) {
    x = x > 1000.0 ? 1000.0 : x;  // |k| <= 1443: both halves of 2^k are normal numbers
    x = x < -1000.0 ? -1000.0 : x;
    const double k = (x * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;
    const double r = (x - k * 0.693145751953125) - k * 1.4286068203094173e-06;
    const double r2 = r * r, r4 = r2 * r2;
    const double q0 = (1.0 + r) + r2 * (0.5 + 0.16666666666666666 * r);
    const double q1 = (0.041666666666666664 + 0.008333333333333333 * r)
                      + r2 * (0.001388888888888889 + 0.0001984126984126984 * r);
    const double q2 = (2.48015873015873e-05 + 2.7557319223985893e-06 * r)
                      + r2 * (2.755731922398589e-07 + 2.505210838544172e-08 * r);
    const double q3 = 2.08767569878681e-09 + 1.6059043836821613e-10 * r;
    double p = (q0 + r4 * q1) + (r4 * r4) * (q2 + r4 * q3);
    const long long ki = (long long)(k == k ? k : 0.0);
    const long long k1 = ki >> 1, k2 = ki - k1;
    p = (p * __longlong_as_double((k1 + 1023) << 52)) * __longlong_as_double((k2 + 1023) << 52);
    return x == x ? p : x;
}

__device__ double flog(double x) {
    int e;
    double m = frexp(x, &e);
    if (m < 0.7071067811865476) {
        m = m * 2.0;
        e = e - 1;
    }
    const double f = m - 1.0;
    const double s = f / (2.0 + f);
    const double z = s * s, z2 = z * z, z4 = z2 * z2;
    const double b0 = (0.3333333333333333 + 0.2 * z)
                      + z2 * (0.14285714285714285 + 0.1111111111111111 * z);
    const double b1 = (0.09090909090909091 + 0.07692307692307693 * z)
                      + z2 * (0.06666666666666667 + 0.058823529411764705 * z);
    const double b2 = 0.05263157894736842 + 0.047619047619047616 * z;
    const double tail = (b0 + z4 * b1) + (z4 * z4) * b2;
    const double log_m = 2.0 * s + 2.0 * s * (z * tail);
    const double ef = (double)e;
    return ef * 0.693145751953125 + (ef * 1.4286068203094173e-06 + log_m);
}

__device__ double fpow(double r, double s) {
    if (r == 0.0) return s > 0.0 ? 0.0 : (s == 0.0 ? 1.0 : __longlong_as_double(0x7FF0000000000000LL));
    return fexp(s * flog(r));
}

__device__ double fatan2(double y, double x) {
    const double ax = fabs(x), ay = fabs(y);
    const double big = ay > ax ? ay : ax, small = ay > ax ? ax : ay;
    const double t = big > 0.0 ? small / big : 0.0;
    const bool folded = t > 0.41421356237309503;
    const double u = folded ? (t - 1.0) / (t + 1.0) : t;
    const double h = u / (1.0 + sqrt(1.0 + u * u));
    const double w = h * h, w2 = w * w, w4 = w2 * w2;
    const double f0 = (-0.3333333333333333 + 0.2 * w)
                      + w2 * (-0.14285714285714285 + 0.1111111111111111 * w);
    const double f1 = (-0.09090909090909091 + 0.07692307692307693 * w)
                      + w2 * (-0.06666666666666667 + 0.058823529411764705 * w);
    const double f2 = (-0.05263157894736842 + 0.047619047619047616 * w)
                      + w2 * -0.043478260869565216;
    const double tail = (f0 + w4 * f1) + (w4 * w4) * f2;
    double a = 2.0 * (h + h * (w * tail));
    a = folded ? a + 0.7853981633974483 : a;
    a = ay > ax ? PI / 2 - a : a;
    a = x < 0.0 ? PI - a : a;
    return y < 0.0 ? -a : a;
}

// V(x, y) of flame variation vid (the flame paper's numbering), as gen/variations.py.
__device__ void apply_variation(int vid, double x, double y, double b, double c, double e,
                                double f, double r1, double r2, double* ox, double* oy) {
    double s, rr, r, theta, a;
    switch (vid) {
    case 0: *ox = x; *oy = y; return;
    case 14: *ox = x < 0.0 ? 2.0 * x : x; *oy = y < 0.0 ? y / 2.0 : y; return;
    case 29: *ox = fsin(x); *oy = y; return;
    case 16: s = 2.0 / (sqrt(x * x + y * y) + 1.0); *ox = s * y; *oy = s * x; return;
    case 27: s = 2.0 / (sqrt(x * x + y * y) + 1.0); *ox = s * x; *oy = s * y; return;
    case 4:
        s = 1.0 / (sqrt(x * x + y * y) + EPS);
        *ox = s * (x - y) * (x + y); *oy = s * 2.0 * x * y; return;
    case 17:
        *ox = x + c * fsin(ftan(3.0 * y)); *oy = y + f * fsin(ftan(3.0 * x)); return;
    case 20: {
        double ey = fexp(y), iy = 1.0 / ey;
        *ox = fcos(PI * x) * 0.5 * (ey + iy); *oy = -fsin(PI * x) * 0.5 * (ey - iy); return;
    }
    case 1: *ox = fsin(x); *oy = fsin(y); return;
    }
    rr = x * x + y * y;
    switch (vid) {
    case 2: s = 1.0 / (rr + EPS); *ox = x * s; *oy = y * s; return;
    case 3: {
        double sr = fsin(rr), cr = fcos(rr);
        *ox = x * sr - y * cr; *oy = x * cr + y * sr; return;
    }
    case 28: s = 4.0 / (rr + 4.0); *ox = s * x; *oy = s * y; return;
    case 15:
        *ox = x + b * fsin(y / (c * c + EPS)); *oy = y + e * fsin(x / (f * f + EPS)); return;
    case 18: s = fexp(x - 1.0); *ox = s * fcos(PI * y); *oy = s * fsin(PI * y); return;
    case 31: a = 2.0 * PI * r2; *ox = r1 * x * fcos(a); *oy = r1 * y * fsin(a); return;
    case 42: *ox = fsin(x) / fcos(y); *oy = ftan(y); return;
    case 44: s = ftan(r1 * PI) / (rr + EPS); *ox = s * fcos(x); *oy = s * fsin(y); return;
    case 48: s = 1.0 / (fabs(x * x - y * y) + EPS); *ox = s * x; *oy = s * y; return;
    }
    r = sqrt(rr);
    if (vid == 45) {
        a = r1 * r;
        double ca = fcos(a), sa = fsin(a);
        *ox = x * (ca + sa); *oy = x * (ca - sa); return;
    }
    theta = fatan2(x, y);
    switch (vid) {
    case 5: *ox = theta / PI; *oy = r - 1.0; return;
    case 6: *ox = r * fsin(theta + r); *oy = r * fcos(theta - r); return;
    case 7: *ox = r * fsin(theta * r); *oy = -r * fcos(theta * r); return;
    case 8: s = theta / PI; *ox = s * fsin(PI * r); *oy = s * fcos(PI * r); return;
    case 9:
        s = 1.0 / (r + EPS);
        *ox = s * (fcos(theta) + fsin(r)); *oy = s * (fsin(theta) - fcos(r)); return;
    case 10: *ox = fsin(theta) / (r + EPS); *oy = r * fcos(theta); return;
    case 11: *ox = fsin(theta) * fcos(r); *oy = fcos(theta) * fsin(r); return;
    case 12: {
        double p0 = fsin(theta + r), p1 = fcos(theta - r);
        double p03 = p0 * p0 * p0, p13 = p1 * p1 * p1;
        *ox = r * (p03 + p13); *oy = r * (p03 - p13); return;
    }
    case 13: {
        double omega = r1 < 0.5 ? PI : 0.0;
        s = sqrt(r);
        *ox = s * fcos(theta / 2.0 + omega); *oy = s * fsin(theta / 2.0 + omega); return;
    }
    case 19: s = fpow(r, fsin(theta)); *ox = s * fcos(theta); *oy = s * fsin(theta); return;
    case 21: {
        double c2 = c * c + EPS;
        s = pymod(r + c2, 2.0 * c2) - c2 + r * (1.0 - c2);
        *ox = s * fcos(theta); *oy = s * fsin(theta); return;
    }
    case 22: {
        double t = PI * c * c + EPS;
        a = pymod(theta + f, t) > t / 2.0 ? theta - t / 2.0 : theta + t / 2.0;
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
//   coefs [F, nmax, 6] double; thresholds [F, nmax] u64 = ceil(prob 2^32), alias [F, nmax]
//   long long: alias tables of the first nmaps[f] maps (chaos.alias_picks); vids [F]; views [F, 6] (x_left, y_top, px/unit x, px/unit y, W, H);
//   seeds [F] (frames of one clip share a seed); hist [F, H * W] int, zeroed by the caller;
//   escapes [F] u64, zeroed by the caller. Dynamic shared memory: H * W ints (SHARED),
//   ceil(H * W / 2) ints (PACKED), or none (GLOBAL).
extern "C" __global__ void chaos_frames(
    const double* __restrict__ coefs, const u64* __restrict__ thresholds,
    const long long* __restrict__ alias, const long long* __restrict__ nmaps,
    const long long* __restrict__ vids, const double* __restrict__ views,
    const u64* __restrict__ seeds, int nmax, int chains, int iters, int burn, int hist_mode,
    int* __restrict__ hist, u64* __restrict__ escapes) {
    extern __shared__ int local[];
    const int f = blockIdx.x;
    const double* view = views + 6 * f;
    const double x_left = view[0], y_top = view[1], sx = view[2], sy = view[3];
    const double width = view[4], height = view[5];
    const int wi = (int)width, npix = (int)width * (int)height;
    const int n = (int)nmaps[f], vid = (int)vids[f];
    const double* coef = coefs + (long long)f * nmax * 6;
    const u64* th = thresholds + (long long)f * nmax;
    const long long* al = alias + (long long)f * nmax;
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
        u64 st = mix64(seeds[f] ^ ((u64)(ch + 1) * GOLDEN));
        double x = 2.0 * unit53(mix64(st ^ MIX1)) - 1.0;
        double y = 2.0 * unit53(mix64(st ^ MIX2)) - 1.0;
        for (int start = 0; start < iters; start += span) {
            const int stop = iters - start < span ? iters : start + span;
            for (int step = start; live && step < stop; ++step) {
                st += GOLDEN;
                const u64 z = mix64(st);
                // The map, as numba draws it (chaos.alias_draw): k = floor(hi32(z) n / 2^32),
                // the high half of a 32 x 32-bit product; its alias when the low 32 bits reach
                // k's threshold. No float conversion on the way.
                long long k = (long long)__umulhi((unsigned)(z >> 32), (unsigned)n);
                if ((z & 0xFFFFFFFFULL) >= th[k]) k = al[k];
                const double* m = coef + 6 * k;
                double nx = m[0] * x + m[1] * y + m[2];
                double ny = m[3] * x + m[4] * y + m[5];
                if (vid != 0) {
                    double r1 = 0.0, r2 = 0.0;
                    if (randomized) {
                        const u64 z2 = mix64(z ^ MIX2);
                        r1 = unit53(z2);
                        r2 = (double)(z2 & 0xFFFFFFFFULL) * INV32;
                    }
                    apply_variation(vid, nx, ny, m[1], m[2], m[4], m[5], r1, r2, &nx, &ny);
                }
                if (!(fabs(nx) < ESCAPE && fabs(ny) < ESCAPE)) {  // also catches NaN
                    const u64 z3 = mix64(z ^ MIX1);
                    nx = 2.0 * unit53(z3) - 1.0;
                    ny = 2.0 * (double)(z3 & 0xFFFFFFFFULL) * INV32 - 1.0;
                    ++escaped;
                }
                x = nx;
                y = ny;
                if (step >= burn) {
                    const double fx = (x - x_left) * sx, fy = (y_top - y) * sy;
                    if (fx >= 0.0 && fx < width && fy >= 0.0 && fy < height) {
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
