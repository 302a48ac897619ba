/* Unsigned 256-bit integers as four little-endian 64-bit limbs, with 512-bit products and
 * Knuth's long division (algorithm D) for FullMath.mulDiv. Every operation that could leave
 * its range reports it (returns nonzero) instead of wrapping: the callers turn that into
 * "not on the fast path" and the readable Python model answers instead. */
#ifndef TALLYIO_U256_H
#define TALLYIO_U256_H

#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;
typedef struct { uint64_t w[4]; } u256;

static const u256 U256_ZERO = {{0, 0, 0, 0}};
static const u256 U256_MAX = {{~0ULL, ~0ULL, ~0ULL, ~0ULL}};

static inline u256 u256_from64(uint64_t x) { u256 r = {{x, 0, 0, 0}}; return r; }
static inline u256 u256_from128(u128 x) {
    u256 r = {{(uint64_t)x, (uint64_t)(x >> 64), 0, 0}};
    return r;
}
static inline int u256_is_zero(const u256 *a) { return !(a->w[0] | a->w[1] | a->w[2] | a->w[3]); }
static inline int u256_fits128(const u256 *a) { return !(a->w[2] | a->w[3]); }
static inline int u256_fits64(const u256 *a) { return !(a->w[1] | a->w[2] | a->w[3]); }
static inline u128 u256_low128(const u256 *a) { return ((u128)a->w[1] << 64) | a->w[0]; }

static inline int u256_cmp(const u256 *a, const u256 *b) {
    for (int i = 3; i >= 0; i--) {
        if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
    }
    return 0;
}

/* r = a + b; returns the carry out (1 = overflowed 256 bits). */
static inline int u256_add(u256 *r, const u256 *a, const u256 *b) {
    uint64_t c = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t s = a->w[i] + c;
        uint64_t c1 = s < c;
        r->w[i] = s + b->w[i];
        c = c1 | (r->w[i] < s);
    }
    return (int)c;
}

/* r = a - b; returns the borrow (1 = b > a). */
static inline int u256_sub(u256 *r, const u256 *a, const u256 *b) {
    uint64_t br = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t d = a->w[i] - b->w[i];
        uint64_t b1 = a->w[i] < b->w[i];
        r->w[i] = d - br;
        br = b1 | (d < br);
    }
    return (int)br;
}

static inline int u256_inc(u256 *a) {
    for (int i = 0; i < 4; i++) {
        if (++a->w[i] != 0) return 0;
    }
    return 1;
}

static inline int u256_bitlen(const u256 *a) {
    for (int i = 3; i >= 0; i--) {
        if (a->w[i]) return 64 * i + 64 - __builtin_clzll(a->w[i]);
    }
    return 0;
}

/* Logical shifts by 0..255 bits. */
static inline u256 u256_shr(const u256 *a, int s) {
    u256 r = U256_ZERO;
    int limbs = s / 64, bits = s % 64;
    for (int i = 0; i + limbs < 4; i++) {
        uint64_t lo = a->w[i + limbs] >> bits;
        uint64_t hi = (bits && i + limbs + 1 < 4) ? a->w[i + limbs + 1] << (64 - bits) : 0;
        r.w[i] = lo | hi;
    }
    return r;
}

static inline u256 u256_shl(const u256 *a, int s) {
    u256 r = U256_ZERO;
    int limbs = s / 64, bits = s % 64;
    for (int i = 3; i - limbs >= 0; i--) {
        uint64_t hi = a->w[i - limbs] << bits;
        uint64_t lo = (bits && i - limbs - 1 >= 0) ? a->w[i - limbs - 1] >> (64 - bits) : 0;
        r.w[i] = hi | lo;
    }
    return r;
}

static inline int limbs_len(const uint64_t *x, int n) {
    while (n > 0 && x[n - 1] == 0) n--;
    return n;
}

/* p[0..7] = a * b (schoolbook, 512 bits). */
static inline void u256_mul_full(uint64_t p[8], const u256 *a, const u256 *b) {
    int na = limbs_len(a->w, 4), nb = limbs_len(b->w, 4);
    memset(p, 0, 8 * sizeof(uint64_t));
    for (int i = 0; i < na; i++) {
        uint64_t carry = 0;
        for (int j = 0; j < nb; j++) {
            u128 t = (u128)a->w[i] * b->w[j] + p[i + j] + carry;
            p[i + j] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        p[i + nb] = carry;
    }
}

/* r = a * b; returns 1 if the product needs more than 256 bits. */
static inline int u256_mul(u256 *r, const u256 *a, const u256 *b) {
    if (!(a->w[2] | a->w[3] | b->w[2] | b->w[3])) {  /* 128 x 128 bits: always fits */
        u128 ll = (u128)a->w[0] * b->w[0], lh = (u128)a->w[0] * b->w[1];
        u128 hl = (u128)a->w[1] * b->w[0], hh = (u128)a->w[1] * b->w[1];
        u128 mid = (ll >> 64) + (uint64_t)lh + (uint64_t)hl;
        u128 top = hh + (lh >> 64) + (hl >> 64) + (mid >> 64);
        r->w[0] = (uint64_t)ll;
        r->w[1] = (uint64_t)mid;
        r->w[2] = (uint64_t)top;
        r->w[3] = (uint64_t)(top >> 64);
        return 0;
    }
    uint64_t p[8];
    u256_mul_full(p, a, b);
    memcpy(r->w, p, 4 * sizeof(uint64_t));
    return (p[4] | p[5] | p[6] | p[7]) != 0;
}

/* q = hi:lo / d with hi < d (so the quotient fits 64 bits); *rem gets the remainder. */
static inline uint64_t div_2by1(uint64_t hi, uint64_t lo, uint64_t d, uint64_t *rem) {
#if defined(__x86_64__)
    uint64_t q, r;
    __asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(d));
    *rem = r;
    return q;
#else
    u128 n = ((u128)hi << 64) | lo;
    *rem = (uint64_t)(n % d);
    return (uint64_t)(n / d);
#endif
}

/* Knuth 4.3.1 algorithm D: q = u / v, r = u % v over m-limb u and n-limb v (n <= 4, m <= 8).
 * q must hold m limbs (zero-filled here), r n limbs. Returns -1 when v is zero. */
static int udivmod(uint64_t *q, uint64_t *r, const uint64_t *u, int m, const uint64_t *v, int n) {
    memset(q, 0, m * sizeof(uint64_t));
    m = limbs_len(u, m);
    int nv = limbs_len(v, n);
    if (nv == 0) return -1;
    if (r) memset(r, 0, n * sizeof(uint64_t));
    if (m < nv) {
        if (r) memcpy(r, u, m * sizeof(uint64_t));
        return 0;
    }
    if (nv == 1) {
        uint64_t k = 0;
        for (int j = m - 1; j >= 0; j--) q[j] = div_2by1(k, u[j], v[0], &k);
        if (r) r[0] = k;
        return 0;
    }
    int s = __builtin_clzll(v[nv - 1]);
    uint64_t vn[4], un[9];
    for (int i = nv - 1; i > 0; i--) vn[i] = (v[i] << s) | (s ? v[i - 1] >> (64 - s) : 0);
    vn[0] = v[0] << s;
    un[m] = s ? u[m - 1] >> (64 - s) : 0;
    for (int i = m - 1; i > 0; i--) un[i] = (u[i] << s) | (s ? u[i - 1] >> (64 - s) : 0);
    un[0] = u[0] << s;
    for (int j = m - nv; j >= 0; j--) {
        uint64_t qhat, rhat;
        int rhat_big = 0;
        if (un[j + nv] >= vn[nv - 1]) {  /* the quotient digit would reach 2**64 */
            qhat = ~0ULL;
            u128 rr = (((u128)un[j + nv] << 64) | un[j + nv - 1]) - (u128)qhat * vn[nv - 1];
            rhat_big = (rr >> 64) != 0;
            rhat = (uint64_t)rr;
        } else {
            qhat = div_2by1(un[j + nv], un[j + nv - 1], vn[nv - 1], &rhat);
        }
        while (!rhat_big &&
               (u128)qhat * vn[nv - 2] > (((u128)rhat << 64) | un[j + nv - 2])) {
            qhat--;
            u128 t = (u128)rhat + vn[nv - 1];
            rhat = (uint64_t)t;
            if (t >> 64) break;
        }
        /* un[j..j+nv] -= qhat * vn */
        uint64_t borrow = 0, carry = 0;
        for (int i = 0; i < nv; i++) {
            u128 p = (u128)qhat * vn[i] + carry;
            carry = (uint64_t)(p >> 64);
            uint64_t pl = (uint64_t)p;
            uint64_t t = un[i + j] - pl;
            uint64_t b1 = un[i + j] < pl;
            un[i + j] = t - borrow;
            borrow = b1 | (t < borrow);
        }
        uint64_t t = un[j + nv] - carry;
        uint64_t b1 = un[j + nv] < carry;
        un[j + nv] = t - borrow;
        borrow = b1 | (t < borrow);
        if (borrow) {  /* qhat was one too big: add the divisor back */
            qhat--;
            uint64_t c = 0;
            for (int i = 0; i < nv; i++) {
                u128 s2 = (u128)un[i + j] + vn[i] + c;
                un[i + j] = (uint64_t)s2;
                c = (uint64_t)(s2 >> 64);
            }
            un[j + nv] += c;
        }
        q[j] = qhat;
    }
    if (r) {
        for (int i = 0; i < nv; i++) {
            r[i] = (un[i] >> s) | (s ? un[i + 1] << (64 - s) : 0);
        }
    }
    return 0;
}

/* q = a / d for a one-limb d > 0 (q may be a); returns the remainder. */
static inline uint64_t u256_div64(u256 *q, const u256 *a, uint64_t d) {
    uint64_t k = 0;
    if (!(a->w[2] | a->w[3])) {  /* 128 bits, the usual case: straight-line */
        uint64_t hi = a->w[1], lo = a->w[0], qhi = 0;
        if (hi >= d) qhi = div_2by1(0, hi, d, &hi);
        q->w[0] = div_2by1(hi, lo, d, &k);
        q->w[1] = qhi;
        q->w[2] = q->w[3] = 0;
        return k;
    }
    int n = limbs_len(a->w, 4);
    for (int j = 3; j >= n; j--) q->w[j] = 0;
    if (n && a->w[n - 1] < d) {  /* the top quotient limb is 0: one divide fewer */
        k = a->w[--n];
        q->w[n] = 0;
    }
    for (int j = n - 1; j >= 0; j--) q->w[j] = div_2by1(k, a->w[j], d, &k);
    return k;
}

/* q = a / b, r = a % b on 256 bits; returns -1 on division by zero. */
static inline int u256_divmod(u256 *q, u256 *r, const u256 *a, const u256 *b) {
    if (!(b->w[1] | b->w[2] | b->w[3]) && b->w[0]) {  /* one limb: no normalising */
        u256 qq;
        uint64_t k = u256_div64(&qq, a, b->w[0]);
        if (q) *q = qq;
        if (r) *r = u256_from64(k);
        return 0;
    }
    uint64_t qq[9], rr[4] = {0, 0, 0, 0};
    if (udivmod(qq, rr, a->w, 4, b->w, 4) < 0) return -1;
    if (q) memcpy(q->w, qq, 4 * sizeof(uint64_t));
    if (r) memcpy(r->w, rr, 4 * sizeof(uint64_t));
    return 0;
}

/* floor(p / d) for a 512-bit p: *q gets it, *rem_nonzero whether it was inexact.
 * Returns 1 when d is zero or the quotient needs more than 256 bits. */
static inline int u512_div_u256(u256 *q, int *rem_nonzero, const uint64_t p[8], const u256 *d) {
    uint64_t qq[9], rr[4];
    if (udivmod(qq, rr, p, 8, d->w, 4) < 0) return 1;
    if (qq[4] | qq[5] | qq[6] | qq[7]) return 1;
    memcpy(q->w, qq, 4 * sizeof(uint64_t));
    if (rem_nonzero) *rem_nonzero = (rr[0] | rr[1] | rr[2] | rr[3]) != 0;
    return 0;
}

#endif
