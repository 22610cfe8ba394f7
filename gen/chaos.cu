// The chaos game on the GPU: the CUDA twin of gen/chaos.py, compiled at run time by CuPy (NVRTC).
//
// One thread block per frame; each thread runs whole chains. The random stream of chain c is the
// same counter-based splitmix64 sequence as on the CPU (keyed by the clip seed and c, advanced
// by the golden-ratio increment), map choice uses the same alias tables, the variations the same
// formulas, and escaping points restart the same way. Counts go to a shared-memory histogram
// when it fits (flushed once at the end), else straight to the frame's histogram in global
// memory; single increments, the 3x3 box filter runs afterwards on the device.
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

// Python's float modulo (the sign of the divisor), as numba computes it on the CPU.
__device__ __forceinline__ double pymod(double a, double b) { return a - b * floor(a / b); }

__device__ __forceinline__ bool draws_randoms(int vid) {
    return vid == 13 || vid == 31 || vid == 44 || vid == 45;
}

// V(x, y) of flame variation vid (the flame paper's numbering), as gen/variations.py.
__device__ void apply_variation(int vid, double x, double y, double b, double c, double e,
                                double f, double r1, double r2, double* ox, double* oy) {
    double s, rr, r, theta, a;
    switch (vid) {
    case 0: *ox = x; *oy = y; return;
    case 14: *ox = x < 0.0 ? 2.0 * x : x; *oy = y < 0.0 ? y / 2.0 : y; return;
    case 29: *ox = sin(x); *oy = y; return;
    case 16: s = 2.0 / (sqrt(x * x + y * y) + 1.0); *ox = s * y; *oy = s * x; return;
    case 27: s = 2.0 / (sqrt(x * x + y * y) + 1.0); *ox = s * x; *oy = s * y; return;
    case 4:
        s = 1.0 / (sqrt(x * x + y * y) + EPS);
        *ox = s * (x - y) * (x + y); *oy = s * 2.0 * x * y; return;
    case 17:
        *ox = x + c * sin(tan(3.0 * y)); *oy = y + f * sin(tan(3.0 * x)); return;
    case 20: {
        double ey = exp(y), iy = 1.0 / ey;
        *ox = cos(PI * x) * 0.5 * (ey + iy); *oy = -sin(PI * x) * 0.5 * (ey - iy); return;
    }
    case 1: *ox = sin(x); *oy = sin(y); return;
    }
    rr = x * x + y * y;
    switch (vid) {
    case 2: s = 1.0 / (rr + EPS); *ox = x * s; *oy = y * s; return;
    case 3: {
        double sr = sin(rr), cr = cos(rr);
        *ox = x * sr - y * cr; *oy = x * cr + y * sr; return;
    }
    case 28: s = 4.0 / (rr + 4.0); *ox = s * x; *oy = s * y; return;
    case 15:
        *ox = x + b * sin(y / (c * c + EPS)); *oy = y + e * sin(x / (f * f + EPS)); return;
    case 18: s = exp(x - 1.0); *ox = s * cos(PI * y); *oy = s * sin(PI * y); return;
    case 31: a = 2.0 * PI * r2; *ox = r1 * x * cos(a); *oy = r1 * y * sin(a); return;
    case 42: *ox = sin(x) / cos(y); *oy = tan(y); return;
    case 44: s = tan(r1 * PI) / (rr + EPS); *ox = s * cos(x); *oy = s * sin(y); return;
    case 48: s = 1.0 / (fabs(x * x - y * y) + EPS); *ox = s * x; *oy = s * y; return;
    }
    r = sqrt(rr);
    if (vid == 45) {
        a = r1 * r;
        double ca = cos(a), sa = sin(a);
        *ox = x * (ca + sa); *oy = x * (ca - sa); return;
    }
    theta = atan2(x, y);
    switch (vid) {
    case 5: *ox = theta / PI; *oy = r - 1.0; return;
    case 6: *ox = r * sin(theta + r); *oy = r * cos(theta - r); return;
    case 7: *ox = r * sin(theta * r); *oy = -r * cos(theta * r); return;
    case 8: s = theta / PI; *ox = s * sin(PI * r); *oy = s * cos(PI * r); return;
    case 9:
        s = 1.0 / (r + EPS);
        *ox = s * (cos(theta) + sin(r)); *oy = s * (sin(theta) - cos(r)); return;
    case 10: *ox = sin(theta) / (r + EPS); *oy = r * cos(theta); return;
    case 11: *ox = sin(theta) * cos(r); *oy = cos(theta) * sin(r); return;
    case 12: {
        double p0 = sin(theta + r), p1 = cos(theta - r);
        double p03 = p0 * p0 * p0, p13 = p1 * p1 * p1;
        *ox = r * (p03 + p13); *oy = r * (p03 - p13); return;
    }
    case 13: {
        double omega = r1 < 0.5 ? PI : 0.0;
        s = sqrt(r);
        *ox = s * cos(theta / 2.0 + omega); *oy = s * sin(theta / 2.0 + omega); return;
    }
    case 19: s = pow(r, sin(theta)); *ox = s * cos(theta); *oy = s * sin(theta); return;
    case 21: {
        double c2 = c * c + EPS;
        s = pymod(r + c2, 2.0 * c2) - c2 + r * (1.0 - c2);
        *ox = s * cos(theta); *oy = s * sin(theta); return;
    }
    case 22: {
        double t = PI * c * c + EPS;
        a = pymod(theta + f, t) > t / 2.0 ? theta - t / 2.0 : theta + t / 2.0;
        *ox = r * cos(a); *oy = r * sin(a); return;
    }
    }
    *ox = x; *oy = y;
}

// Chaos-game histograms for F frames, one block per frame (gridDim.x = F).
//   coefs [F, nmax, 6] double; prob [F, nmax] double, alias [F, nmax] long long: alias tables of
//   the first nmaps[f] maps; vids [F]; views [F, 6] (x_left, y_top, px/unit x, px/unit y, W, H);
//   seeds [F] (frames of one clip share a seed); hist [F, H * W] int, zeroed by the caller;
//   escapes [F] u64, zeroed by the caller. Dynamic shared memory: H * W ints, or 0 for global
//   atomics.
extern "C" __global__ void chaos_frames(
    const double* coefs, const double* prob, const long long* alias, const long long* nmaps,
    const long long* vids, const double* views, const u64* seeds, int nmax, int chains,
    int iters, int burn, int use_shared, int* hist, u64* escapes) {
    extern __shared__ int local[];
    const int f = blockIdx.x;
    const double* view = views + 6 * f;
    const double x_left = view[0], y_top = view[1], sx = view[2], sy = view[3];
    const double width = view[4], height = view[5];
    const int wi = (int)width, npix = (int)width * (int)height;
    const int n = (int)nmaps[f], vid = (int)vids[f];
    const double nf = (double)n;
    const double* coef = coefs + (long long)f * nmax * 6;
    const double* pr = prob + (long long)f * nmax;
    const long long* al = alias + (long long)f * nmax;
    int* out = hist + (long long)f * npix;
    int* target = use_shared ? local : out;
    if (use_shared) {
        for (int i = threadIdx.x; i < npix; i += blockDim.x) local[i] = 0;
        __syncthreads();
    }
    const bool randomized = draws_randoms(vid);
    u64 escaped = 0;
    for (int ch = threadIdx.x; ch < chains; ch += blockDim.x) {
        u64 st = mix64(seeds[f] ^ ((u64)(ch + 1) * GOLDEN));
        double x = 2.0 * unit53(mix64(st ^ MIX1)) - 1.0;
        double y = 2.0 * unit53(mix64(st ^ MIX2)) - 1.0;
        for (int step = 0; step < iters; ++step) {
            st += GOLDEN;
            const u64 z = mix64(st);
            long long k = (long long)((double)(z >> 32) * INV32 * nf);
            const double frac = (double)(z & 0xFFFFFFFFULL) * INV32;
            if (frac >= pr[k]) k = al[k];
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
                if (fx >= 0.0 && fx < width && fy >= 0.0 && fy < height)
                    atomicAdd(target + (int)fy * wi + (int)fx, 1);
            }
        }
    }
    if (escaped) atomicAdd(escapes + f, escaped);
    if (use_shared) {
        __syncthreads();
        for (int i = threadIdx.x; i < npix; i += blockDim.x) out[i] = local[i];
    }
}
