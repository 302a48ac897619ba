/* Uniswap V3 core math on u256, line for line after tallyio/protocols/uniswap_v3_math.py and
 * uniswap_v3.swap (the readable reference). Every function returns 0 on success and nonzero
 * where the reference raises (or leaves 256 bits): the caller then asks the reference. */
#ifndef TALLYIO_V3_H
#define TALLYIO_V3_H

#include "u256.h"

#define V3_MIN_TICK (-887272)
#define V3_MAX_TICK 887272
#define V3_FEE_DENOMINATOR 1000000ULL

static const u256 V3_MIN_SQRT = {{4295128739ULL, 0, 0, 0}};
static const u256 V3_MAX_SQRT = {{0x5d951d5263988d26ULL, 0xefd1fc6a50648849ULL,
                                  0x00000000fffd8963ULL, 0}};
static const u256 V3_MAX_U160 = {{~0ULL, ~0ULL, 0xffffffffULL, 0}};

/* -- FullMath / UnsafeMath ---------------------------------------------------------------- */
static inline int v3_mul_div_rem(u256 *r, int *inexact, const u256 *a, const u256 *b,
                                 const u256 *d) {
    uint64_t p[8];
    if (u256_is_zero(d)) return 1;
    u256_mul_full(p, a, b);
    if (!(p[2] | p[3] | p[4] | p[5] | p[6] | p[7]) && u256_fits128(d)) {
        /* both fit 128 bits: one native division */
        u128 n = ((u128)p[1] << 64) | p[0], dd = u256_low128(d);
        *r = u256_from128(n / dd);
        *inexact = (n % dd) != 0;
        return 0;
    }
    return u512_div_u256(r, inexact, p, d);
}

static inline int v3_mul_div(u256 *r, const u256 *a, const u256 *b, const u256 *d) {
    int inexact;
    return v3_mul_div_rem(r, &inexact, a, b, d);
}

static inline int v3_mul_div_up(u256 *r, const u256 *a, const u256 *b, const u256 *d) {
    int inexact;
    if (v3_mul_div_rem(r, &inexact, a, b, d)) return 1;
    if (inexact) {
        if (u256_cmp(r, &U256_MAX) >= 0) return 1;
        u256_inc(r);
    }
    return 0;
}

/* a * b / 2**96: a shift, since the divisor is a power of two. */
static inline int v3_mul_q96(u256 *r, const u256 *a, const u256 *b, int round_up) {
    uint64_t p[8];
    u256_mul_full(p, a, b);
    if (p[5] | p[6] | p[7] | (p[4] >> 32)) return 1;  /* quotient past 256 bits */
    for (int i = 0; i < 4; i++) r->w[i] = (p[i + 1] >> 32) | (p[i + 2] << 32);
    if (round_up && (p[0] | (p[1] & 0xffffffffULL))) {
        if (u256_cmp(r, &U256_MAX) >= 0) return 1;
        u256_inc(r);
    }
    return 0;
}

static inline u256 v3_div_rounding_up(const u256 *x, const u256 *y) {
    u256 q, r = U256_ZERO;
    if (u256_is_zero(y)) return U256_ZERO;
    u256_divmod(&q, &r, x, y);
    if (!u256_is_zero(&r)) u256_inc(&q);
    return q;
}

/* -- TickMath ----------------------------------------------------------------------------- */
static const u128 V3_RATIO_AT_BIT[20] = {  /* 2**128 / sqrt(1.0001)**(2**i) */
    ((u128)0xfffcb933bd6fad37ULL << 64) | 0xaa2d162d1a594001ULL,
    ((u128)0xfff97272373d4132ULL << 64) | 0x59a46990580e213aULL,
    ((u128)0xfff2e50f5f656932ULL << 64) | 0xef12357cf3c7fdccULL,
    ((u128)0xffe5caca7e10e4e6ULL << 64) | 0x1c3624eaa0941cd0ULL,
    ((u128)0xffcb9843d60f6159ULL << 64) | 0xc9db58835c926644ULL,
    ((u128)0xff973b41fa98c081ULL << 64) | 0x472e6896dfb254c0ULL,
    ((u128)0xff2ea16466c96a38ULL << 64) | 0x43ec78b326b52861ULL,
    ((u128)0xfe5dee046a99a2a8ULL << 64) | 0x11c461f1969c3053ULL,
    ((u128)0xfcbe86c7900a88aeULL << 64) | 0xdcffc83b479aa3a4ULL,
    ((u128)0xf987a7253ac41317ULL << 64) | 0x6f2b074cf7815e54ULL,
    ((u128)0xf3392b0822b70005ULL << 64) | 0x940c7a398e4b70f3ULL,
    ((u128)0xe7159475a2c29b74ULL << 64) | 0x43b29c7fa6e889d9ULL,
    ((u128)0xd097f3bdfd2022b8ULL << 64) | 0x845ad8f792aa5825ULL,
    ((u128)0xa9f746462d870fdfULL << 64) | 0x8a65dc1f90e061e5ULL,
    ((u128)0x70d869a156d2a1b8ULL << 64) | 0x90bb3df62baf32f7ULL,
    ((u128)0x31be135f97d08fd9ULL << 64) | 0x81231505542fcfa6ULL,
    ((u128)0x09aa508b5b7a84e1ULL << 64) | 0xc677de54f3e99bc9ULL,
    ((u128)0x005d6af8dedb8119ULL << 64) | 0x6699c329225ee604ULL,
    ((u128)0x00002216e584f5faULL << 64) | 0x1ea926041bedfe98ULL,
    ((u128)0x00000000048a1703ULL << 64) | 0x91f7dc42444e8fa2ULL,
};

/* high 128 bits of a 256-bit product of two u128 */
static inline u128 mul_hi128(u128 a, u128 b) {
    uint64_t a0 = (uint64_t)a, a1 = (uint64_t)(a >> 64), b0 = (uint64_t)b, b1 = (uint64_t)(b >> 64);
    u128 p00 = (u128)a0 * b0, p01 = (u128)a0 * b1, p10 = (u128)a1 * b0, p11 = (u128)a1 * b1;
    u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
    return p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
}

static int v3_sqrt_ratio_at_tick(u256 *out, int64_t tick) {
    int64_t abs_tick = tick < 0 ? -tick : tick;
    if (abs_tick > V3_MAX_TICK) return 1;
    int full = !(abs_tick & 1);  /* ratio is exactly 2**128 until the first factor applies */
    u128 ratio = full ? 0 : V3_RATIO_AT_BIT[0];
    for (int i = 1; i < 20; i++) {
        if (!(abs_tick & (1LL << i))) continue;
        if (full) {
            ratio = V3_RATIO_AT_BIT[i];
            full = 0;
        } else {
            ratio = mul_hi128(ratio, V3_RATIO_AT_BIT[i]);
        }
    }
    u256 r = full ? u256_shl(&(u256){{1, 0, 0, 0}}, 128) : u256_from128(ratio);
    if (tick > 0) u256_divmod(&r, NULL, &U256_MAX, &r);
    int round = (r.w[0] & 0xffffffffULL) != 0;
    *out = u256_shr(&r, 32);
    if (round) u256_inc(out);
    return 0;
}

static const u256 V3_LOG_SQRT10001 = {{0xa301d71055774c85ULL, 0x3627ULL, 0, 0}};
static const u256 V3_TICK_LOW_OFFSET = {{0x5af012a19d003aaaULL, 0x028f6481ab7f045aULL, 0, 0}};
static const u256 V3_TICK_HI_OFFSET = {{0x455e260799a0632fULL, 0xdb2df09e81959a81ULL, 0, 0}};

static int v3_tick_at_sqrt_ratio(int64_t *tick, const u256 *sqrt_price) {
    if (u256_cmp(sqrt_price, &V3_MIN_SQRT) < 0 || u256_cmp(sqrt_price, &V3_MAX_SQRT) >= 0)
        return 1;
    u256 ratio = u256_shl(sqrt_price, 32);
    int msb = u256_bitlen(&ratio) - 1;
    u256 rr = msb >= 128 ? u256_shr(&ratio, msb - 127) : u256_shl(&ratio, 127 - msb);
    u128 r = u256_low128(&rr);
    __int128 log_2 = (__int128)(msb - 128) * ((__int128)1 << 64);
    for (int shift = 63; shift > 49; shift--) {
        /* r = r * r >> 127, < 2**129; past 2**128 it takes a bit and halves: r * r >> 128 */
        u128 hi = mul_hi128(r, r), lo = r * r;
        if (hi >> 127) {
            log_2 |= (__int128)1 << shift;
            r = hi;
        } else {
            r = (hi << 1) | (lo >> 127);
        }
    }
    /* log_2 * log_sqrt(1.0001)(2) and the offsets, as int256 in two's complement */
    uint64_t ext = log_2 < 0 ? ~0ULL : 0;
    u256 l2 = {{(uint64_t)log_2, (uint64_t)((u128)log_2 >> 64), ext, ext}}, ls, lo, hi;
    u256_mul(&ls, &l2, &V3_LOG_SQRT10001);
    u256_sub(&lo, &ls, &V3_TICK_LOW_OFFSET);
    u256_add(&hi, &ls, &V3_TICK_HI_OFFSET);
    int64_t tick_low = (int64_t)lo.w[2], tick_hi = (int64_t)hi.w[2];
    if (tick_low == tick_hi) {
        *tick = tick_low;
        return 0;
    }
    u256 at_hi;
    if (v3_sqrt_ratio_at_tick(&at_hi, tick_hi)) return 1;
    *tick = u256_cmp(&at_hi, sqrt_price) <= 0 ? tick_hi : tick_low;
    return 0;
}

/* -- SqrtPriceMath ------------------------------------------------------------------------ */
static int v3_next_from_amount0_up(u256 *out, const u256 *sqrt_p, u128 liquidity,
                                   const u256 *amount, int add) {
    if (u256_is_zero(amount)) {
        *out = *sqrt_p;
        return 0;
    }
    u256 liq = u256_from128(liquidity), numerator1 = u256_shl(&liq, 96), product, denom;
    int product_big = u256_mul(&product, amount, sqrt_p);
    if (add) {
        if (!product_big && !u256_add(&denom, &numerator1, &product))
            return v3_mul_div_up(out, &numerator1, sqrt_p, &denom);
        u256 q;
        u256_divmod(&q, NULL, &numerator1, sqrt_p);
        if (u256_add(&denom, &q, amount)) return 1;
        *out = v3_div_rounding_up(&numerator1, &denom);
        return 0;
    }
    if (product_big || u256_cmp(&numerator1, &product) <= 0) return 1;
    u256_sub(&denom, &numerator1, &product);
    if (v3_mul_div_up(out, &numerator1, sqrt_p, &denom)) return 1;
    return u256_cmp(out, &V3_MAX_U160) > 0;
}

static int v3_next_from_amount1_down(u256 *out, const u256 *sqrt_p, u128 liquidity,
                                     const u256 *amount, int add) {
    static const u256 q96 = {{0, 1ULL << 32, 0, 0}};
    u256 liq = u256_from128(liquidity), quotient;
    if (add) {
        if (v3_mul_div(&quotient, amount, &q96, &liq)) return 1;
        if (u256_add(out, sqrt_p, &quotient)) return 1;
        return u256_cmp(out, &V3_MAX_U160) > 0;
    }
    if (v3_mul_div_up(&quotient, amount, &q96, &liq)) return 1;
    if (u256_cmp(sqrt_p, &quotient) <= 0) return 1;
    u256_sub(out, sqrt_p, &quotient);
    return 0;
}

static int v3_amount0_delta(u256 *out, const u256 *a, const u256 *b, u128 liquidity,
                            int round_up) {
    if (u256_cmp(a, b) > 0) {
        const u256 *t = a;
        a = b;
        b = t;
    }
    if (u256_is_zero(a)) return 1;
    u256 liq = u256_from128(liquidity), n1 = u256_shl(&liq, 96), n2, m;
    u256_sub(&n2, b, a);
    if (round_up) {
        if (v3_mul_div_up(&m, &n1, &n2, b)) return 1;
        *out = v3_div_rounding_up(&m, a);
        return 0;
    }
    if (v3_mul_div(&m, &n1, &n2, b)) return 1;
    u256_divmod(out, NULL, &m, a);
    return 0;
}

static int v3_amount1_delta(u256 *out, const u256 *a, const u256 *b, u128 liquidity,
                            int round_up) {
    u256 diff, liq = u256_from128(liquidity);
    if (u256_cmp(a, b) > 0) u256_sub(&diff, a, b);
    else u256_sub(&diff, b, a);
    return v3_mul_q96(out, &liq, &diff, round_up);
}

/* -- SwapMath ----------------------------------------------------------------------------- */
static inline int v3_step_in(u256 *out, int zfo, const u256 *cur, const u256 *next, u128 liq) {
    return zfo ? v3_amount0_delta(out, next, cur, liq, 1) : v3_amount1_delta(out, cur, next, liq, 1);
}

static inline int v3_step_out(u256 *out, int zfo, const u256 *cur, const u256 *next, u128 liq) {
    return zfo ? v3_amount1_delta(out, next, cur, liq, 0) : v3_amount0_delta(out, cur, next, liq, 0);
}

typedef struct { u256 next, in, out, fee; } v3_step;

/* SwapMath.computeSwapStep; `remaining` is |amountRemaining|, exact_in its sign. */
static int v3_compute_swap_step(v3_step *s, const u256 *cur, const u256 *target, u128 liq,
                                const u256 *remaining, int exact_in, uint64_t fee_pips) {
    int zfo = u256_cmp(cur, target) >= 0;
    u256 fee = u256_from64(fee_pips), rest = u256_from64(V3_FEE_DENOMINATOR - fee_pips);
    u256 denom = u256_from64(V3_FEE_DENOMINATOR);
    s->in = s->out = U256_ZERO;
    if (exact_in) {
        u256 less_fee;
        if (v3_mul_div(&less_fee, remaining, &rest, &denom)) return 1;
        if (v3_step_in(&s->in, zfo, cur, target, liq)) return 1;
        if (u256_cmp(&less_fee, &s->in) >= 0) {
            s->next = *target;
        } else {
            if (liq == 0) return 1;
            int bad = zfo ? v3_next_from_amount0_up(&s->next, cur, liq, &less_fee, 1)
                          : v3_next_from_amount1_down(&s->next, cur, liq, &less_fee, 1);
            if (bad) return 1;
        }
    } else {
        if (v3_step_out(&s->out, zfo, cur, target, liq)) return 1;
        if (u256_cmp(remaining, &s->out) >= 0) {
            s->next = *target;
        } else {
            if (liq == 0) return 1;
            int bad = zfo ? v3_next_from_amount1_down(&s->next, cur, liq, remaining, 0)
                          : v3_next_from_amount0_up(&s->next, cur, liq, remaining, 0);
            if (bad) return 1;
        }
    }
    int reached = u256_cmp(target, &s->next) == 0;
    if (!(reached && exact_in) && v3_step_in(&s->in, zfo, cur, &s->next, liq)) return 1;
    if (!(reached && !exact_in) && v3_step_out(&s->out, zfo, cur, &s->next, liq)) return 1;
    if (!exact_in && u256_cmp(&s->out, remaining) > 0) s->out = *remaining;
    if (exact_in && !reached) return u256_sub(&s->fee, remaining, &s->in);
    return v3_mul_div_up(&s->fee, &s->in, &fee, &rest);
}

/* -- the pool's swap loop ----------------------------------------------------------------- */
typedef struct {
    uint64_t fee;
    int64_t spacing;
    u256 sqrt_price;
    int64_t tick;
    u128 liquidity;
    Py_ssize_t n;
    int64_t *ticks;   /* initialized ticks, ascending */
    __int128 *nets;   /* their liquidityNet */
    u256 *sqrts;      /* their getSqrtRatioAtTick, computed once */
} v3_pool;

typedef struct {
    u256 amount0, amount1;  /* magnitudes */
    int neg0, neg1;         /* signs: 1 = the pool pays this token out */
    u256 sqrt_price;
    int64_t tick;
    u128 liquidity;
    int64_t crossed, steps;
    u256 remaining;         /* |amount not filled| */
} v3_result;

static inline int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* TickBitmap.nextInitializedTickWithinOneWord over the sorted ticks; *idx is the tick's
 * index when initialized. */
static int64_t v3_next_tick(const v3_pool *p, int64_t tick, int lte, int *initialized,
                            Py_ssize_t *idx) {
    int64_t compressed = floor_div(tick, p->spacing);
    Py_ssize_t lo = 0, hi = p->n;
    if (lte) {
        int64_t word_start = (compressed >> 8) << 8, key = compressed * p->spacing;
        while (lo < hi) {  /* bisect_right */
            Py_ssize_t mid = (lo + hi) / 2;
            if (key < p->ticks[mid]) hi = mid;
            else lo = mid + 1;
        }
        Py_ssize_t i = lo - 1;
        *initialized = i >= 0 && p->ticks[i] >= word_start * p->spacing;
        *idx = i;
        return *initialized ? p->ticks[i] : word_start * p->spacing;
    }
    int64_t nxt = compressed + 1, word_end = ((nxt >> 8) << 8) + 255, key = nxt * p->spacing;
    while (lo < hi) {  /* bisect_left */
        Py_ssize_t mid = (lo + hi) / 2;
        if (p->ticks[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    *initialized = lo < p->n && p->ticks[lo] <= word_end * p->spacing;
    *idx = lo;
    return *initialized ? p->ticks[lo] : word_end * p->spacing;
}

/* Tick.cross with LiquidityMath.addDelta's LS / LA checks. */
static int v3_cross(u128 *liq, __int128 net, int zfo) {
    __int128 d = zfo ? -net : net;
    if (d >= 0) {
        u128 z = *liq + (u128)d;
        if (z < *liq) return 1;
        *liq = z;
        return 0;
    }
    u128 m = (u128)(-d);
    if (m > *liq) return 1;
    *liq -= m;
    return 0;
}

static int v3_apply_step(v3_result *res, u256 *calc, const v3_step *st, int exact_input) {
    u256 t;
    if (exact_input) {
        if (u256_add(&t, &st->in, &st->fee)) return 1;
        if (u256_sub(&res->remaining, &res->remaining, &t)) return 1;
        return u256_add(calc, calc, &st->out);
    }
    if (u256_sub(&res->remaining, &res->remaining, &st->out)) return 1;
    if (u256_add(&t, &st->in, &st->fee)) return 1;
    return u256_add(calc, calc, &t);
}

/* UniswapV3Pool.swap: `amount` is |amountSpecified|, exact_input its sign. want_tick 0 (a
 * quote): the tick of a price inside a range is found only when another step needs it, not
 * for the last step (the swap is filled or at its limit), so res->tick may be stale. */
static int v3_swap(v3_result *res, const v3_pool *p, int zfo, const u256 *amount,
                   int exact_input, const u256 *limit, int want_tick) {
    int fits = zfo ? u256_cmp(&V3_MIN_SQRT, limit) < 0 && u256_cmp(limit, &p->sqrt_price) < 0
                   : u256_cmp(&p->sqrt_price, limit) < 0 && u256_cmp(limit, &V3_MAX_SQRT) < 0;
    if (u256_is_zero(amount) || (amount->w[3] >> 63) || !fits) return 1;
    u256 calc = U256_ZERO;
    res->remaining = *amount;
    res->sqrt_price = p->sqrt_price;
    res->tick = p->tick;
    res->liquidity = p->liquidity;
    res->crossed = res->steps = 0;
    while (!u256_is_zero(&res->remaining) && u256_cmp(&res->sqrt_price, limit) != 0) {
        u256 start = res->sqrt_price, sqrt_next;
        int initialized;
        Py_ssize_t idx;
        int64_t tick_next = v3_next_tick(p, res->tick, zfo, &initialized, &idx);
        if (tick_next < V3_MIN_TICK) tick_next = V3_MIN_TICK;
        if (tick_next > V3_MAX_TICK) tick_next = V3_MAX_TICK;
        if (initialized && p->ticks[idx] == tick_next) sqrt_next = p->sqrts[idx];
        else if (v3_sqrt_ratio_at_tick(&sqrt_next, tick_next)) return 1;
        const u256 *target = zfo ? (u256_cmp(&sqrt_next, limit) < 0 ? limit : &sqrt_next)
                                 : (u256_cmp(&sqrt_next, limit) > 0 ? limit : &sqrt_next);
        v3_step st;
        if (v3_compute_swap_step(&st, &start, target, res->liquidity, &res->remaining,
                                 exact_input, p->fee))
            return 1;
        res->sqrt_price = st.next;
        res->steps++;
        if (v3_apply_step(res, &calc, &st, exact_input)) return 1;
        if (u256_cmp(&res->sqrt_price, &sqrt_next) == 0) {
            if (initialized) {
                if (p->ticks[idx] != tick_next || v3_cross(&res->liquidity, p->nets[idx], zfo))
                    return 1;
                res->crossed++;
            }
            res->tick = zfo ? tick_next - 1 : tick_next;
        } else if (u256_cmp(&res->sqrt_price, &start) != 0 &&
                   (want_tick || (!u256_is_zero(&res->remaining) &&
                                  u256_cmp(&res->sqrt_price, limit) != 0))) {
            if (v3_tick_at_sqrt_ratio(&res->tick, &res->sqrt_price)) return 1;
        }
    }
    u256 specified;
    u256_sub(&specified, amount, &res->remaining);
    /* exact input: specified paid in (+), calculated paid out (-); exact output: reversed */
    int spec_neg = !exact_input, calc_neg = exact_input;
    if (zfo == exact_input) {
        res->amount0 = specified, res->neg0 = spec_neg;
        res->amount1 = calc, res->neg1 = calc_neg;
    } else {
        res->amount0 = calc, res->neg0 = calc_neg;
        res->amount1 = specified, res->neg1 = spec_neg;
    }
    return 0;
}

#endif
