// Fused second-order Taylor jets of a tanh MLP, forward and backward, in float32.
//
// pinnlab compiles this file on first use (see mlp_kernel.py) with the system C++
// compiler; it has no dependency on torch's headers. It computes, for a batch of
// points, the value and the first- and second-order input derivatives that a PDE
// needs of  x -> W_{L+1} tanh(W_L ... tanh(W_1 x + b_1) ... + b_L) + b_{L+1},
// and the gradient of a loss with respect to every weight, given the loss's
// gradient with respect to those outputs.
//
// Why: on a CPU the per-operation cost of doing the same with separate tensor
// operations (one matrix product and a few elementwise kernels per layer and jet
// component) dominates for the narrow networks PINNs use. Here each tile of TP
// points runs through all layers while it sits in the L1 cache, the matrix
// products are register-blocked and vectorised along the points, and tanh is a
// rational approximation (max relative error 3.2e-7 in float32, against
// float64 tanh).
//
// Layout. Jet components are numbered c = 0 (value), 1..n1 (first derivatives,
// direction c-1 of the caller's list), n1+1..n1+n2 (second derivatives: pair
// (pa[j], pb[j]) of first-derivative positions). Inside a tile every quantity is
// features-major: [component][feature][TP points]. Rows: component c is wanted
// for the first rows[c] points only (a ragged jet); a tile computes the
// components wanted by any of its points.
//
// Jet rule of h = tanh(z), with s = tanh(z0), s1 = 1 - s^2, s2 = -2 s s1:
//   h0 = s,  h_i = s1 z_i,  h_ab = s2 z_a z_b + s1 z_ab.
// Its adjoint (g = dL/dh, returns dL/dz; s3 = -2 s1 (s1 - 2 s^2)):
//   gz_ab = g_ab s1
//   gz_i  = g_i s1 + sum over pairs containing i of g_ab s2 z_(other)
//   gz0   = g0 s1 + s2 sum_i g_i z_i + sum_ab g_ab (s3 z_a z_b + s2 z_ab)

#include <cstring>
#include <cstdint>
#include <vector>
#include <omp.h>

namespace {

typedef float v8 __attribute__((vector_size(32)));
constexpr int TP = 64;        // points per tile
constexpr int NV = TP / 8;    // vectors per tile row

inline v8 splat(float a) { return v8{a, a, a, a, a, a, a, a}; }
inline v8 ld(const float* p) { v8 r; std::memcpy(&r, p, sizeof r); return r; }
inline void st(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }

// tanh(z) ~ x P(x^2) / Q(x^2) on x = clamp(z, -9, 9): a minimax rational fit of
// degree (6, 3) in x^2, made for pinnlab.
inline v8 vtanh(v8 z) {
    const v8 lo = splat(-9.0f), hi = splat(9.0f);
    v8 x = z < lo ? lo : z;
    x = x > hi ? hi : x;
    const v8 s = x * x;
    v8 p = splat(-8.48906905e-14f);
    p = p * s + splat(5.27809880e-11f);
    p = p * s + splat(-2.02255613e-08f);
    p = p * s + splat(1.11543961e-05f);
    p = p * s + splat(3.10396495e-03f);
    p = p * s + splat(1.30840180e-01f);
    p = p * s + splat(9.99999993e-01f);
    v8 q = splat(2.54615774e-04f);
    q = q * s + splat(2.44952135e-02f);
    q = q * s + splat(4.64173451e-01f);
    q = q * s + splat(1.0f);
    v8 t = x * p / q;
    const v8 one = splat(1.0f), mone = splat(-1.0f);
    t = t > one ? one : t;
    return t < mone ? mone : t;
}

// out[o][:] = sum_k W[o*K + k] in[k][:] (+ bias[o]), over one tile: blocks of R rows
// by 16 points, whose 2R accumulators stay in registers through the k loop.
template <int R>
inline void mm_rows(const float* __restrict W, int K, const float* __restrict in, float* __restrict out,
                    const float* bias, int o0) {
    const float* w[R];
    for (int r = 0; r < R; ++r) w[r] = W + (size_t)(o0 + r) * K;
    for (int pb = 0; pb < TP; pb += 16) {
        v8 acc[R][2];
        for (int r = 0; r < R; ++r) {
            const v8 b = splat(bias ? bias[o0 + r] : 0.0f);
            acc[r][0] = b;
            acc[r][1] = b;
        }
        const float* a = in + pb;
        for (int k = 0; k < K; ++k, a += TP) {
            const v8 a0 = ld(a), a1 = ld(a + 8);
            for (int r = 0; r < R; ++r) {
                const v8 wv = splat(w[r][k]);
                acc[r][0] += wv * a0;
                acc[r][1] += wv * a1;
            }
        }
        for (int r = 0; r < R; ++r) {
            st(out + (o0 + r) * TP + pb, acc[r][0]);
            st(out + (o0 + r) * TP + pb + 8, acc[r][1]);
        }
    }
}

inline void mm(const float* W, int O, int K, const float* in, float* out, const float* bias) {
    int o = 0;
    for (; o + 6 <= O; o += 6) mm_rows<6>(W, K, in, out, bias, o);
    if (O - o >= 4) { mm_rows<4>(W, K, in, out, bias, o); o += 4; }
    if (O - o >= 2) { mm_rows<2>(W, K, in, out, bias, o); o += 2; }
    if (O - o >= 1) mm_rows<1>(W, K, in, out, bias, o);
}

// lane[o*K + k] += sum over the listed components c and the tile's points of
// G[c][o][:] * H[c][k][:], kept as 8 partial sums (one per vector lane).
template <int RO, int RK>
inline void outer_block(v8* lane, const float* G, const float* H, int O, int K,
                        const int* comps, int nc, int o0, int k0) {
    v8 acc[RO][RK];
    for (int r = 0; r < RO; ++r)
        for (int q = 0; q < RK; ++q) acc[r][q] = lane[(o0 + r) * K + k0 + q];
    for (int ci = 0; ci < nc; ++ci) {
        const float* g = G + (size_t)comps[ci] * O * TP;
        const float* h = H + (size_t)comps[ci] * K * TP;
        for (int v = 0; v < NV; ++v) {
            v8 hv[RK];
            for (int q = 0; q < RK; ++q) hv[q] = ld(h + (k0 + q) * TP + v * 8);
            for (int r = 0; r < RO; ++r) {
                const v8 gv = ld(g + (o0 + r) * TP + v * 8);
                for (int q = 0; q < RK; ++q) acc[r][q] += gv * hv[q];
            }
        }
    }
    for (int r = 0; r < RO; ++r)
        for (int q = 0; q < RK; ++q) lane[(o0 + r) * K + k0 + q] = acc[r][q];
}

// The 4 x 2 block of outer_block with named accumulators and pointer walks: the generic
// form's arrays made GCC spill them and recompute addresses in the inner loop.
inline void outer_4x2(v8* lane, const float* G, const float* H, int O, int K,
                      const int* comps, int nc, int o0, int k0) {
    v8* l0 = lane + (size_t)o0 * K + k0;
    v8 a00 = l0[0], a01 = l0[1], a10 = l0[K], a11 = l0[K + 1];
    v8 a20 = l0[2 * K], a21 = l0[2 * K + 1], a30 = l0[3 * K], a31 = l0[3 * K + 1];
    for (int ci = 0; ci < nc; ++ci) {
        const float* g = G + ((size_t)comps[ci] * O + o0) * TP;
        const float* h = H + ((size_t)comps[ci] * K + k0) * TP;
        for (int v = 0; v < TP; v += 8) {
            const v8 h0 = ld(h + v), h1 = ld(h + TP + v);
            const v8 g0 = ld(g + v), g1 = ld(g + TP + v), g2 = ld(g + 2 * TP + v), g3 = ld(g + 3 * TP + v);
            a00 += g0 * h0; a01 += g0 * h1;
            a10 += g1 * h0; a11 += g1 * h1;
            a20 += g2 * h0; a21 += g2 * h1;
            a30 += g3 * h0; a31 += g3 * h1;
        }
    }
    l0[0] = a00; l0[1] = a01; l0[K] = a10; l0[K + 1] = a11;
    l0[2 * K] = a20; l0[2 * K + 1] = a21; l0[3 * K] = a30; l0[3 * K + 1] = a31;
}

template <int RO>
inline void outer_rows(v8* lane, const float* G, const float* H, int O, int K,
                       const int* comps, int nc, int o0) {
    int k = 0;
    for (; k + 2 <= K; k += 2) {
        if (RO == 4) outer_4x2(lane, G, H, O, K, comps, nc, o0, k);
        else outer_block<RO, 2>(lane, G, H, O, K, comps, nc, o0, k);
    }
    for (; k < K; ++k) outer_block<RO, 1>(lane, G, H, O, K, comps, nc, o0, k);
}

inline void outer(v8* lane, const float* G, const float* H, int O, int K, const int* comps, int nc) {
    int o = 0;
    for (; o + 4 <= O; o += 4) outer_rows<4>(lane, G, H, O, K, comps, nc, o);
    for (; o < O; ++o) outer_rows<1>(lane, G, H, O, K, comps, nc, o);
}

// lane[o] += sum over the tile of G[o][:]
inline void rowsum(v8* lane, const float* G, int O) {
    for (int o = 0; o < O; ++o)
        for (int v = 0; v < NV; ++v) lane[o] += ld(G + o * TP + v * 8);
}

struct Spec {
    int n, d, width, depth, m, n1, n2, nc;
    const int* pa;     // n2 pairs of first-derivative positions (0-based)
    const int* pb;
    const int64_t* rows;  // nc row counts
};

// Active components of the tile starting at t0, in increasing c.
inline int active(const Spec& S, int64_t t0, int* comps) {
    int nc = 0;
    for (int c = 0; c < S.nc; ++c)
        if (S.rows[c] > t0) comps[nc++] = c;
    return nc;
}

// The tiles [begin, end) of thread `tid`: contiguous ranges of about equal work (a tile
// costs its number of active components). Deterministic for a given thread count, so
// that the gradient's per-thread partial sums, and hence its rounding, are too.
inline void split(const Spec& S, int64_t tiles, int nthreads, int tid, int64_t* begin, int64_t* end) {
    int64_t total = 0;
    for (int64_t t = 0; t < tiles; ++t)
        for (int c = 0; c < S.nc; ++c) total += S.rows[c] > t * TP;
    const int64_t lo = total * tid / nthreads, hi = total * (tid + 1) / nthreads;
    int64_t acc = 0;
    *begin = tiles;
    *end = tiles;
    for (int64_t t = 0; t < tiles; ++t) {
        if (acc >= lo && *begin == tiles) *begin = t;
        if (acc >= hi && tid + 1 < nthreads) { *end = t; break; }
        for (int c = 0; c < S.nc; ++c) acc += S.rows[c] > t * TP;
    }
    if (*end < *begin) *end = *begin;
}

// ds = [s1 | s2 | s3] over one plane: s1 = 1 - s^2, s2 = -2 s s1, and (when `third`)
// s3 = -2 s1 (s1 - 2 s^2), the first three derivatives of tanh at z0 (s = tanh(z0)).
inline void tanh_derivs(const float* s, float* ds, size_t plane, bool third) {
    float* s1 = ds;
    float* s2 = ds + plane;
    float* s3 = ds + 2 * plane;
    for (size_t e = 0; e < plane; e += 8) {
        const v8 sv = ld(s + e);
        const v8 a = splat(1.0f) - sv * sv;
        st(s1 + e, a);
        st(s2 + e, splat(-2.0f) * sv * a);
        if (third) st(s3 + e, splat(-2.0f) * a * (a - splat(2.0f) * sv * sv));
    }
}

// h = jet rule of tanh applied to z (all features-major [c][width][TP]); s is
// tanh(z0). Writes the active components of h. Each component is one tight loop
// over the plane; ds is scratch for 3 planes.
inline void act_forward(const Spec& S, const float* s, const float* z, float* h, const int* comps, int nc,
                        float* ds) {
    const size_t plane = (size_t)S.width * TP;
    std::memcpy(h, s, plane * sizeof(float));
    if (nc == 1) return;
    tanh_derivs(s, ds, plane, false);
    const float* s1 = ds;
    const float* s2 = ds + plane;
    for (int ci = 1; ci < nc; ++ci) {
        const int c = comps[ci];
        float* hc = h + c * plane;
        const float* zc = z + c * plane;
        if (c <= S.n1) {
            for (size_t e = 0; e < plane; e += 8) st(hc + e, ld(s1 + e) * ld(zc + e));
        } else {
            const int j = c - S.n1 - 1;
            const float* za = z + (1 + S.pa[j]) * plane;
            const float* zb = z + (1 + S.pb[j]) * plane;
            for (size_t e = 0; e < plane; e += 8)
                st(hc + e, ld(s2 + e) * ld(za + e) * ld(zb + e) + ld(s1 + e) * ld(zc + e));
        }
    }
}

// gz = adjoint of the tanh jet rule, given g = dL/dh (components in increasing c:
// first derivatives before the pairs that add to them).
inline void act_backward(const Spec& S, const float* s, const float* z, const float* g, float* gz,
                         const int* comps, int nc, float* ds) {
    const size_t plane = (size_t)S.width * TP;
    tanh_derivs(s, ds, plane, comps[nc - 1] > S.n1);  // s3 only for second derivatives
    const float* s1 = ds;
    const float* s2 = ds + plane;
    const float* s3 = ds + 2 * plane;
    for (size_t e = 0; e < plane; e += 8) st(gz + e, ld(g + e) * ld(s1 + e));
    for (int ci = 1; ci < nc; ++ci) {
        const int c = comps[ci];
        const float* gc = g + c * plane;
        const float* zc = z + c * plane;
        float* gzc = gz + c * plane;
        if (c <= S.n1) {
            for (size_t e = 0; e < plane; e += 8) {
                const v8 gv = ld(gc + e);
                st(gzc + e, gv * ld(s1 + e));
                st(gz + e, ld(gz + e) + ld(s2 + e) * gv * ld(zc + e));
            }
        } else {
            const int j = c - S.n1 - 1;
            const float* za = z + (1 + S.pa[j]) * plane;
            const float* zb = z + (1 + S.pb[j]) * plane;
            float* gza = gz + (1 + S.pa[j]) * plane;
            float* gzb = gz + (1 + S.pb[j]) * plane;
            for (size_t e = 0; e < plane; e += 8) {
                const v8 gv = ld(gc + e), av = ld(za + e), bv = ld(zb + e), s2v = ld(s2 + e);
                st(gzc + e, gv * ld(s1 + e));
                st(gz + e, ld(gz + e) + gv * (ld(s3 + e) * av * bv + s2v * ld(zc + e)));
                const v8 t = gv * s2v;
                st(gza + e, ld(gza + e) + t * bv);
                st(gzb + e, ld(gzb + e) + t * av);
            }
        }
    }
}

// Floats saved per tile for the backward pass: per hidden layer, s and z[1..nc-1].
inline size_t save_per_tile(const Spec& S) { return (size_t)S.depth * S.nc * S.width * TP; }

// The tile's inputs, features-major [d][TP], zero beyond the batch.
inline void load_x(const Spec& S, const float* xn, int64_t t0, float* X) {
    for (int k = 0; k < S.d; ++k)
        for (int p = 0; p < TP; ++p)
            X[k * TP + p] = t0 + p < S.n ? xn[(t0 + p) * S.d + k] : 0.0f;
}

// Pre-activations of the first layer: z0 = W1 x + b1 into z0, and the derivative
// components into zd (planes 1..nc-1): z_i = D1[:, i], z_ab = 0.
inline void first_layer(const Spec& S, const float* X, const float* D1, const float* W1, const float* b1,
                        float* z0, float* zd, const int* comps, int nc) {
    const int W = S.width;
    const size_t plane = (size_t)W * TP;
    mm(W1, W, S.d, X, z0, b1);
    for (int ci = 1; ci < nc; ++ci) {
        const int c = comps[ci];
        float* zc = zd + c * plane;
        for (int o = 0; o < W; ++o) {
            const float v = c <= S.n1 ? D1[o * S.n1 + (c - 1)] : 0.0f;
            for (int p = 0; p < TP; ++p) zc[o * TP + p] = v;
        }
    }
}

// Backward through a linear layer (O outputs) fed by a hidden layer whose s and z are
// saved in `saved`: dW += G h^T and db += sum G (into the lanes), gh = W^T G. h is
// recomputed from the saved values into hbuf.
inline void linear_backward(const Spec& S, const float* saved, const float* Wt, int O, const float* G,
                            v8* lane_w, v8* lane_b, float* hbuf, float* gh, const int* comps, int nc,
                            float* ds) {
    const size_t plane = (size_t)S.width * TP;
    act_forward(S, saved, saved, hbuf, comps, nc, ds);
    outer(lane_w, G, hbuf, O, S.width, comps, nc);
    rowsum(lane_b, G, O);
    for (int ci = 0; ci < nc; ++ci) {
        const int c = comps[ci];
        mm(Wt, S.width, O, G + (size_t)c * O * TP, gh + c * plane, nullptr);
    }
}

}  // namespace

extern "C" {

// Points per tile: the saved buffer holds tiles * TP * depth * nc * width floats.
int pinnlab_mlpjet_tile() { return TP; }

// out: (nc, n, m) row-major; save: pinnlab_mlpjet_save_floats(...) floats, or null.
void pinnlab_mlpjet_forward(int n, int d, int width, int depth, int m, int n1, int n2,
                            const int* pa, const int* pb, const int64_t* rows,
                            const float* xn, const float* D1, const float* const* Ws,
                            const float* const* bs, float* out, float* save, int nthreads) {
    const Spec S{n, d, width, depth, m, n1, n2, 1 + n1 + n2, pa, pb, rows};
    const int64_t tiles = (n + TP - 1) / TP;
    const size_t plane = (size_t)width * TP;
    const size_t per_tile = save_per_tile(S);
#pragma omp parallel num_threads(nthreads)
    {
        std::vector<float> X((size_t)d * TP), z(S.nc * plane), h(S.nc * plane),
            s_local(plane), o((size_t)S.nc * m * TP), ds(3 * plane);
        std::vector<int> comps(S.nc);
        int64_t begin, end;
        split(S, tiles, omp_get_num_threads(), omp_get_thread_num(), &begin, &end);
        for (int64_t t = begin; t < end; ++t) {
            const int64_t t0 = t * TP;
            const int nc = active(S, t0, comps.data());
            load_x(S, xn, t0, X.data());
            // a layer's derivative components go straight to its slot of the saved buffer
            // (plane 0 of the slot holds s = tanh(z0)); without saving, to z
            auto slot = [&](int l) { return save ? save + t * per_tile + (size_t)l * S.nc * plane : z.data(); };
            first_layer(S, X.data(), D1, Ws[0], bs[0], z.data(), slot(0), comps.data(), nc);
            for (int l = 0; l < depth; ++l) {
                float* zd = slot(l);
                float* sv = save ? zd : s_local.data();
                for (int e = 0; e < width * NV; ++e) st(sv + e * 8, vtanh(ld(z.data() + e * 8)));
                act_forward(S, sv, zd, h.data(), comps.data(), nc, ds.data());
                const bool last = l == depth - 1;
                const int O = last ? m : width;
                for (int ci = 0; ci < nc; ++ci) {
                    const int c = comps[ci];
                    float* dst = last ? o.data() + (size_t)c * O * TP : (c == 0 ? z.data() : slot(l + 1) + c * plane);
                    mm(Ws[l + 1], O, width, h.data() + c * plane, dst, c == 0 ? bs[l + 1] : nullptr);
                }
            }
            for (int ci = 0; ci < nc; ++ci) {
                const int c = comps[ci];
                const int64_t upto = rows[c] < t0 + TP ? rows[c] : t0 + TP;
                for (int64_t p = t0; p < upto; ++p)
                    for (int j = 0; j < m; ++j)
                        out[((size_t)c * n + p) * m + j] = o[((size_t)c * m + j) * TP + (p - t0)];
            }
        }
    }
}

// gout: (nc, n, m), dL/d(out). Writes gW[l], gb[l] (l = 0..depth) and gD1 (width, n1).
void pinnlab_mlpjet_backward(int n, int d, int width, int depth, int m, int n1, int n2,
                             const int* pa, const int* pb, const int64_t* rows,
                             const float* xn, const float* const* Ws, const float* save,
                             const float* gout, float* const* gW, float* const* gb, float* gD1,
                             int nthreads) {
    const Spec S{n, d, width, depth, m, n1, n2, 1 + n1 + n2, pa, pb, rows};
    const int64_t tiles = (n + TP - 1) / TP;
    const size_t plane = (size_t)width * TP;
    const size_t per_tile = save_per_tile(S);
    // transposed weights, for dL/dh = W^T dL/dz
    std::vector<std::vector<float>> Wt(depth + 1);
    for (int l = 1; l <= depth; ++l) {
        const int O = l == depth ? m : width;
        Wt[l].resize((size_t)O * width);
        for (int o = 0; o < O; ++o)
            for (int k = 0; k < width; ++k) Wt[l][(size_t)k * O + o] = Ws[l][(size_t)o * width + k];
    }
    // per-thread partial sums, one vector lane each, reduced in a fixed order below
    std::vector<size_t> offW(depth + 1), offb(depth + 1);
    size_t off = 0;
    for (int l = 0; l <= depth; ++l) {
        const int O = l == depth ? m : width, K = l == 0 ? d : width;
        offW[l] = off; off += (size_t)O * K;
        offb[l] = off; off += O;
    }
    const size_t offD = off;
    const size_t lane_size = off + (size_t)width * n1;
    std::vector<v8> lanes((size_t)nthreads * lane_size, splat(0.0f));
#pragma omp parallel num_threads(nthreads)
    {
        const int tid = omp_get_thread_num();
        v8* L = lanes.data() + (size_t)tid * lane_size;
        std::vector<float> X((size_t)d * TP), g(S.nc * plane), gz(S.nc * plane), h(S.nc * plane),
            go((size_t)S.nc * m * TP), ds(3 * plane);
        std::vector<int> comps(S.nc);
        int64_t begin, end;
        split(S, tiles, omp_get_num_threads(), tid, &begin, &end);
        for (int64_t t = begin; t < end; ++t) {
            const int64_t t0 = t * TP;
            const int nc = active(S, t0, comps.data());
            const float* sv = save + t * per_tile;
            // dL/d(out) of the tile, features-major, zero beyond each component's rows
            for (int ci = 0; ci < nc; ++ci) {
                const int c = comps[ci];
                for (int j = 0; j < m; ++j)
                    for (int p = 0; p < TP; ++p)
                        go[((size_t)c * m + j) * TP + p] =
                            t0 + p < rows[c] ? gout[((size_t)c * n + t0 + p) * m + j] : 0.0f;
            }
            // output layer
            linear_backward(S, sv + (size_t)(depth - 1) * S.nc * plane, Wt[depth].data(), m, go.data(),
                            L + offW[depth], L + offb[depth], h.data(), g.data(), comps.data(), nc, ds.data());
            for (int l = depth - 1; l >= 0; --l) {
                const float* cur = sv + (size_t)l * S.nc * plane;
                act_backward(S, cur, cur, g.data(), gz.data(), comps.data(), nc, ds.data());
                if (l > 0) {
                    linear_backward(S, sv + (size_t)(l - 1) * S.nc * plane, Wt[l].data(), width, gz.data(),
                                    L + offW[l], L + offb[l], h.data(), g.data(), comps.data(), nc, ds.data());
                } else {
                    load_x(S, xn, t0, X.data());
                    const int zero = 0;
                    outer(L + offW[0], gz.data(), X.data(), width, d, &zero, 1);
                    rowsum(L + offb[0], gz.data(), width);
                    for (int ci = 1; ci < nc; ++ci) {
                        const int c = comps[ci];
                        if (c > n1) continue;
                        for (int o = 0; o < width; ++o)
                            for (int v = 0; v < NV; ++v)
                                L[offD + (size_t)o * n1 + (c - 1)] += ld(gz.data() + c * plane + o * TP + v * 8);
                    }
                }
            }
        }
    }
    // reduce: threads in order, then lanes, in double
    auto reduce = [&](size_t at, float* dst, size_t count) {
        for (size_t i = 0; i < count; ++i) {
            double acc = 0.0;
            for (int th = 0; th < nthreads; ++th) {
                const v8 v = lanes[(size_t)th * lane_size + at + i];
                for (int q = 0; q < 8; ++q) acc += v[q];
            }
            dst[i] = (float)acc;
        }
    };
    for (int l = 0; l <= depth; ++l) {
        const int O = l == depth ? m : width, K = l == 0 ? d : width;
        reduce(offW[l], gW[l], (size_t)O * K);
        reduce(offb[l], gb[l], O);
    }
    if (n1 > 0) reduce(offD, gD1, (size_t)width * n1);
}

}  // extern "C"
