/* Balancer V2 weighted-pool swaps on u256, line for line after tallyio/protocols/balancer.py
 * and balancer_logexp.py (the readable reference): LogExpMath ln/exp/pow, FixedPoint,
 * WeightedMath._calcOutGivenIn/_calcInGivenOut and BaseMinimalSwapInfoPool.onSwap. Every
 * function returns 0 on success and nonzero where the reference raises (a BAL# revert, a
 * division by zero) or a value would leave 256 bits: the caller then asks the reference, so
 * the order of the checks here never decides which error the caller sees.
 *
 * LogExpMath is signed; its values are kept as sign and magnitude (bal_int), since Solidity's
 * signed `/` and `%` truncate toward zero: on magnitudes they are plain unsigned divisions. */
#ifndef TALLYIO_BALANCER_H
#define TALLYIO_BALANCER_H

#include "u256.h"

#define BAL_ONE 1000000000000000000ULL /* 1e18 */
#define BAL_POW5_20 95367431640625ULL  /* 1e20 = 2**20 * 5**20 */
/* an integer written as its decimal digits hi || lo, lo padded to 18 digits */
#define BAL_D(hi, lo) ((u128)(hi) * BAL_ONE + (lo))

static const u128 BAL_E20 = BAL_D(100, 0);
static const u128 BAL_E36 = BAL_D(1000000000000000000ULL, 0);
static const u128 BAL_X0 = BAL_D(128, 0), BAL_X1 = BAL_D(64, 0);     /* 18 decimals */
static const u128 BAL_A1 = BAL_D(6235149080ULL, 811616882910000000ULL); /* e^64, no decimals */
static const u128 BAL_MIN_EXPONENT = BAL_D(41, 0);                   /* magnitude of -41e18 */
static const u128 BAL_MAX_EXPONENT = BAL_D(130, 0);
static const uint64_t BAL_LN36_LOWER = BAL_ONE - BAL_ONE / 10, BAL_LN36_UPPER = BAL_ONE + BAL_ONE / 10;
static const uint64_t BAL_MAX_RATIO = 3 * BAL_ONE / 10;  /* MAX_IN_RATIO = MAX_OUT_RATIO */
static const uint64_t BAL_MAX_POW_RELATIVE_ERROR = 10000;
/* A0 = e^128 = 38877084059945950922200000000000000000000000000000000000, A0 * 1e18,
 * A1 * 1e18 and MILD_EXPONENT_BOUND = 2**254 // 1e20, as limbs (past 128 bits: no literal) */
static const u256 BAL_A0 = {{0x0262827000000000ULL, 0xf53a27172fa9ec63ULL,
                             0x0195e54c5dd42177ULL, 0}};
static const u256 BAL_A0_E18 = {{0x03c0000000000000ULL, 0x64c63b5372d805e2ULL,
                                 0x2e933ec884fde100ULL, 0x001600ef3172e58dULL}};
static const u256 BAL_A1_E18 = {{0x04cf44619e000000ULL, 0x4d755d3c8bc8e032ULL,
                                 0x0000000001179800ULL, 0}};
static const u256 BAL_MILD_EXPONENT_BOUND = {{0x4181ea8059f76532ULL, 0xa88f4bb1ca6bcf58ULL,
                                              0x0bce5086492111aeULL, 0}};

/* 20-decimal (x_n, e^x_n) for x_n = 2^5 .. 2^-4; exp uses the first 8, _ln all 10. */
static const u128 BAL_TERMS_20[10][2] = {
    {BAL_D(3200, 0), BAL_D(7896296018268069ULL, 516100000000000000ULL)},
    {BAL_D(1600, 0), BAL_D(888611052ULL, 50787263676000000ULL)},
    {BAL_D(800, 0), BAL_D(298095ULL, 798704172827474000ULL)},
    {BAL_D(400, 0), BAL_D(5459ULL, 815003314423907810ULL)},
    {BAL_D(200, 0), BAL_D(738ULL, 905609893065022723ULL)},
    {BAL_D(100, 0), BAL_D(271ULL, 828182845904523536ULL)},
    {BAL_D(50, 0), BAL_D(164ULL, 872127070012814685ULL)},
    {BAL_D(25, 0), BAL_D(128ULL, 402541668774148407ULL)},
    {BAL_D(12, 500000000000000000ULL), BAL_D(113ULL, 314845306682631683ULL)},
    {BAL_D(6, 250000000000000000ULL), BAL_D(106ULL, 449445891785942956ULL)},
};

typedef struct {
    u256 m;
    int neg; /* zero is never negative */
} bal_int;

/* a >> 20, unrolled (u256_shr's loop for any shift showed in profiles) */
static inline u256 bal_shr20(const u256 *a) {
    u256 r = {{(a->w[0] >> 20) | (a->w[1] << 44), (a->w[1] >> 20) | (a->w[2] << 44),
               (a->w[2] >> 20) | (a->w[3] << 44), a->w[3] >> 20}};
    return r;
}

/* floor divisions by 1e20 (a shift and one limb) and 1e36 (two one-limb divisions) */
static inline void bal_div_e20(u256 *q, const u256 *a) {
    u256 s = bal_shr20(a);
    u256_div64(q, &s, BAL_POW5_20);
}

static inline void bal_div_e36(u256 *q, const u256 *a) {
    u256_div64(q, a, BAL_ONE);
    u256_div64(q, q, BAL_ONE);
}

/* v / 1e20 for any u128 v: (v >> 20) / 5**20 is one 128-by-64 divide (the high half < 2**44) */
static inline u128 bal_div128_e20(u128 v) {
    u128 s = v >> 20;
    uint64_t rem;
    return div_2by1((uint64_t)(s >> 64), (uint64_t)s, BAL_POW5_20, &rem);
}

static inline int bal_mul128(u256 *r, const u256 *a, u128 b) {
    u256 bb = u256_from128(b);
    return u256_mul(r, a, &bb);
}

/* -- LogExpMath ------------------------------------------------------------------------- */
/* exp(x) for 0 <= x <= 130e18 (checked by the caller) */
static int bal_exp_nonneg(u256 *r, u128 x) {
    const u256 *first_an = NULL;
    u256 a1 = u256_from128(BAL_A1);
    if (x >= BAL_X0) {
        x -= BAL_X0;
        first_an = &BAL_A0;
    } else if (x >= BAL_X1) {
        x -= BAL_X1;
        first_an = &a1;
    }
    x *= 100; /* 20 decimals, below 2**73 */
    u256 product = u256_from128(BAL_E20);
    for (int i = 0; i < 8; i++) {
        if (x >= BAL_TERMS_20[i][0]) {
            x -= BAL_TERMS_20[i][0];
            if (bal_mul128(&product, &product, BAL_TERMS_20[i][1])) return 1;
            bal_div_e20(&product, &product);
        }
    }
    /* x < 0.25e20 now: a term times x stays below 2**130, so that product takes 256 bits;
     * term * x / 1e20 / n = ((term * x) >> 20) / (5**20 * n), one divide; a zero term ends it */
    u128 series_sum = BAL_E20 + x, term = x;
    for (uint64_t n = 2; n <= 12 && term; n++) {
        u256 t, tt = u256_from128(term);
        bal_mul128(&t, &tt, x);
        t = bal_shr20(&t);
        u256_div64(&t, &t, BAL_POW5_20 * n);
        term = u256_low128(&t);
        series_sum += term;
    }
    u256 res;
    if (bal_mul128(&res, &product, series_sum)) return 1;
    bal_div_e20(&res, &res);
    if (first_an && u256_mul(&res, &res, first_an)) return 1;
    u256_div64(r, &res, 100);
    return 0;
}

/* LogExpMath.exp: e^x, 18 decimals; 1e36 / e^-x below zero */
static int bal_exp(u256 *r, const bal_int *x) {
    u256 bound = u256_from128(x->neg ? BAL_MIN_EXPONENT : BAL_MAX_EXPONENT), e;
    if (u256_cmp(&x->m, &bound) > 0) return 1; /* INVALID_EXPONENT */
    if (!x->neg) return bal_exp_nonneg(r, u256_low128(&x->m));
    u256 one36 = u256_from128(BAL_E36);
    if (bal_exp_nonneg(&e, u256_low128(&x->m)) || u256_is_zero(&e)) return 1;
    return u256_divmod(r, NULL, &one36, &e) != 0;
}

/* LogExpMath._ln for a >= 1e18 (non-negative result), 20 decimals inside */
static int bal_ln_above_one(u256 *r, const u256 *a_in) {
    u256 a = *a_in, e20 = u256_from128(BAL_E20), hundred = u256_from64(100);
    u128 total = 0;
    if (u256_cmp(&a, &BAL_A0_E18) >= 0) {
        u256_divmod(&a, NULL, &a, &BAL_A0);
        total += BAL_X0;
    }
    if (u256_cmp(&a, &BAL_A1_E18) >= 0) {
        u256 a1 = u256_from128(BAL_A1);
        u256_divmod(&a, NULL, &a, &a1);
        total += BAL_X1;
    }
    total *= 100;
    if (u256_mul(&a, &a, &hundred)) return 1;
    for (int i = 0; i < 10; i++) {
        u256 an = u256_from128(BAL_TERMS_20[i][1]);
        if (u256_cmp(&a, &an) >= 0) {
            if (u256_mul(&a, &a, &e20)) return 1;
            u256_divmod(&a, NULL, &a, &an);
            total += BAL_TERMS_20[i][0];
        }
    }
    /* z = (a - 1e20) * 1e20 / (a + 1e20), with a just above 1e20 now: z < 2**64 */
    u256 num, den, z;
    if (u256_sub(&num, &a, &e20) || u256_mul(&num, &num, &e20) || u256_add(&den, &a, &e20))
        return 1;
    if (u256_divmod(&z, NULL, &num, &den) || !u256_fits64(&z)) return 1;
    /* z < 2**64 < 1e20, so z_squared < z and every term stays below 2**64 */
    uint64_t zz = z.w[0], z_squared = (uint64_t)bal_div128_e20((u128)zz * zz), term = zz;
    u128 series_sum = zz;
    for (uint64_t d = 3; d <= 11 && term; d += 2) {
        term = (uint64_t)bal_div128_e20((u128)term * z_squared);
        series_sum += term / d;
    }
    *r = u256_from128((total + series_sum * 2) / 100);
    return 0;
}

/* LogExpMath._ln(a) for a > 0: -_ln(1e36 / a) below one */
static int bal_ln(bal_int *r, const u256 *a) {
    if (u256_is_zero(a)) return 1;
    r->neg = 0;
    if (!u256_fits64(a) || a->w[0] >= BAL_ONE) return bal_ln_above_one(&r->m, a);
    u256 inv = u256_from128(BAL_E36 / a->w[0]);
    if (bal_ln_above_one(&r->m, &inv)) return 1;
    r->neg = !u256_is_zero(&r->m);
    return 0;
}

/* LogExpMath._ln_36 for 0.9e18 < x < 1.1e18: 36 decimals, 8 series terms */
static void bal_ln_36(bal_int *r, uint64_t x) {
    u128 big = (u128)x * BAL_ONE;
    int neg = big < BAL_E36;
    u256 diff = u256_from128(neg ? BAL_E36 - big : big - BAL_E36);
    u256 den = u256_from128(big + BAL_E36), z, z_squared;
    bal_mul128(&diff, &diff, BAL_E36); /* below 2**237 */
    u256_divmod(&z, NULL, &diff, &den);
    u256_mul(&z_squared, &z, &z); /* z < 2**116 */
    bal_div_e36(&z_squared, &z_squared);
    u256 term = z, series_sum = z, t;
    for (uint64_t d = 3; d <= 15 && !u256_is_zero(&term); d += 2) {
        /* every term has z's sign: sum magnitudes; a zero term ends the series */
        u256_mul(&term, &term, &z_squared);
        bal_div_e36(&term, &term);
        u256_div64(&t, &term, d);
        u256_add(&series_sum, &series_sum, &t);
    }
    r->m = u256_shl(&series_sum, 1);
    r->neg = neg && !u256_is_zero(&r->m);
}

/* LogExpMath.pow(x, y): exp(y * ln(x)), 18 decimals */
static int bal_pow(u256 *r, const u256 *x, const u256 *y) {
    if (u256_is_zero(y)) {
        *r = u256_from64(BAL_ONE);
        return 0;
    }
    if (u256_is_zero(x)) {
        *r = U256_ZERO;
        return 0;
    }
    if (x->w[3] >> 63 || u256_cmp(y, &BAL_MILD_EXPONENT_BOUND) >= 0) return 1;
    bal_int l;
    if (u256_fits64(x) && x->w[0] > BAL_LN36_LOWER && x->w[0] < BAL_LN36_UPPER) {
        bal_int ln_36;
        bal_ln_36(&ln_36, x->w[0]);
        /* (ln_36 / 1e18) * y + (ln_36 % 1e18) * y / 1e18: both terms have ln_36's sign */
        u256 high, low;
        uint64_t rem = u256_div64(&high, &ln_36.m, BAL_ONE);
        u256 rest = u256_from64(rem);
        if (u256_mul(&high, &high, y) || u256_mul(&low, &rest, y)) return 1;
        u256_div64(&low, &low, BAL_ONE);
        if (u256_add(&l.m, &high, &low)) return 1;
        l.neg = ln_36.neg;
    } else {
        bal_int ln;
        if (bal_ln(&ln, x) || u256_mul(&l.m, &ln.m, y)) return 1;
        l.neg = ln.neg;
    }
    u256_div64(&l.m, &l.m, BAL_ONE);
    l.neg = l.neg && !u256_is_zero(&l.m);
    return bal_exp(r, &l); /* its bounds are pow's PRODUCT_OUT_OF_BOUNDS */
}

/* -- FixedPoint -------------------------------------------------------------------------- */
static inline int bal_mul_down(u256 *r, const u256 *a, const u256 *b) {
    u256 p;
    if (u256_mul(&p, a, b)) return 1;
    u256_div64(r, &p, BAL_ONE);
    return 0;
}

static inline int bal_mul_up(u256 *r, const u256 *a, const u256 *b) {
    u256 p;
    if (u256_mul(&p, a, b)) return 1;
    if (u256_div64(r, &p, BAL_ONE)) u256_inc(r); /* (p - 1) / 1e18 + 1 for p > 0 */
    return 0;
}

static inline int bal_div(u256 *r, const u256 *a, const u256 *b, int round_up) {
    u256 inflated, rem, one = u256_from64(BAL_ONE);
    if (u256_mul(&inflated, a, &one) || u256_divmod(r, &rem, &inflated, b)) return 1;
    if (round_up && !u256_is_zero(&rem)) u256_inc(r); /* (n - 1) / b + 1 for n > 0 */
    return 0;
}

static inline u256 bal_complement(const u256 *x) {
    u256 one = u256_from64(BAL_ONE), r = U256_ZERO;
    if (u256_cmp(x, &one) < 0) u256_sub(&r, &one, x);
    return r;
}

/* FixedPoint.powUp: exact for y = 1, 2, 4; else pow plus its maximum relative error */
static int bal_pow_up(u256 *r, const u256 *x, const u256 *y) {
    if (u256_fits64(y) && y->w[0] == BAL_ONE) {
        *r = *x;
        return 0;
    }
    if (u256_fits64(y) && (y->w[0] == 2 * BAL_ONE || y->w[0] == 4 * BAL_ONE)) {
        if (bal_mul_up(r, x, x)) return 1;
        return y->w[0] == 4 * BAL_ONE && bal_mul_up(r, r, r);
    }
    u256 raw, error, max_error = u256_from64(BAL_MAX_POW_RELATIVE_ERROR), one = u256_from64(1);
    return bal_pow(&raw, x, y) || bal_mul_up(&error, &raw, &max_error) ||
           u256_add(&error, &error, &one) || u256_add(r, &raw, &error);
}

/* -- WeightedMath and onSwap --------------------------------------------------------------- */
typedef struct {
    const u256 *balance_in, *balance_out, *weight_in, *weight_out, *scale_in, *scale_out, *fee;
} bal_swap;

/* onSwap GIVEN_IN: fee off the raw amount (up), upscale, _calcOutGivenIn, downscale (down) */
static int bal_out_given_in(u256 *out, const bal_swap *s, const u256 *amount_in) {
    u256 fee, amount, b_in, b_out, limit, total, base, exponent, power, comp, raw;
    u256 ratio = u256_from64(BAL_MAX_RATIO);
    if (bal_mul_up(&fee, amount_in, s->fee) || u256_sub(&amount, amount_in, &fee) ||
        bal_mul_down(&amount, &amount, s->scale_in) ||
        bal_mul_down(&b_in, s->balance_in, s->scale_in) ||
        bal_mul_down(&b_out, s->balance_out, s->scale_out))
        return 1;
    if (bal_mul_down(&limit, &b_in, &ratio) || u256_cmp(&amount, &limit) > 0) return 1;
    if (u256_add(&total, &b_in, &amount) || bal_div(&base, &b_in, &total, 1) ||
        bal_div(&exponent, s->weight_in, s->weight_out, 0) ||
        bal_pow_up(&power, &base, &exponent))
        return 1;
    comp = bal_complement(&power);
    return bal_mul_down(&raw, &b_out, &comp) || bal_div(out, &raw, s->scale_out, 0);
}

/* onSwap GIVEN_OUT: upscale, _calcInGivenOut, downscale (up), then add the fee (up) */
static int bal_in_given_out(u256 *in, const bal_swap *s, const u256 *amount_out) {
    u256 b_in, b_out, amount, limit, rest, base, exponent, power, raw, comp;
    u256 ratio = u256_from64(BAL_MAX_RATIO), one = u256_from64(BAL_ONE);
    if (bal_mul_down(&b_in, s->balance_in, s->scale_in) ||
        bal_mul_down(&b_out, s->balance_out, s->scale_out) ||
        bal_mul_down(&amount, amount_out, s->scale_out))
        return 1;
    if (bal_mul_down(&limit, &b_out, &ratio) || u256_cmp(&amount, &limit) > 0) return 1;
    if (u256_sub(&rest, &b_out, &amount) || bal_div(&base, &b_out, &rest, 1) ||
        bal_div(&exponent, s->weight_out, s->weight_in, 1) ||
        bal_pow_up(&power, &base, &exponent) || u256_sub(&power, &power, &one) ||
        bal_mul_up(&raw, &b_in, &power) || bal_div(&raw, &raw, s->scale_in, 1))
        return 1;
    comp = bal_complement(s->fee);
    return bal_div(in, &raw, &comp, 1);
}

#endif
