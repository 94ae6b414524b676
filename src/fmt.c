/* fmt.c - snprintf for the daemon, without stdio (fmt.h says why). */
#include "fmt.h"

#include <stdbool.h>
#include <stdint.h>

/* The output so far: bytes go into buf while they fit (one byte is kept
 * for the NUL), len counts them all, as snprintf's return value does. */
struct out {
    char *buf;
    size_t cap;         /* bytes of buf usable for text (size - 1) */
    size_t len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len < o->cap) {
        size_t room = o->cap - o->len, k = n < room ? n : room;
        for (size_t i = 0; i < k; i++)
            o->buf[o->len + i] = s[i];
    }
    o->len += n;
}

static void pad(struct out *o, char c, size_t n)
{
    for (; n; n--)
        put(o, &c, 1);
}

/* A directive: flags, width and precision as read from the format. */
struct spec {
    bool left, zero, plus, space, alt;
    size_t width;
    int prec;           /* -1: none given */
};

/* body (n bytes) after prefix (a sign or 0x, k bytes), padded to the width:
 * spaces before (or after, with '-'), or zeros between prefix and body. */
static void field(struct out *o, const struct spec *sp, const char *prefix,
                  size_t k, const char *body, size_t n, size_t zeros)
{
    size_t all = k + zeros + n, fill = sp->width > all ? sp->width - all : 0;
    if (!sp->left && !sp->zero)
        pad(o, ' ', fill);
    put(o, prefix, k);
    if (!sp->left && sp->zero)
        pad(o, '0', fill);
    pad(o, '0', zeros);
    put(o, body, n);
    if (sp->left)
        pad(o, ' ', fill);
}

static void number(struct out *o, struct spec *sp, char conv, uintmax_t v, bool neg)
{
    static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
    const char *digits = conv == 'X' ? upper : lower;
    unsigned base = conv == 'o' ? 8 : conv == 'x' || conv == 'X' ? 16 : 10;
    char tmp[3 * sizeof v], *p = tmp + sizeof tmp;
    for (uintmax_t x = v; x; x /= base)
        *--p = digits[x % base];
    size_t n = (size_t)(tmp + sizeof tmp - p);
    char prefix[2];
    size_t k = 0;
    if (neg)
        prefix[k++] = '-';
    else if ((conv == 'd' || conv == 'i') && (sp->plus || sp->space))
        prefix[k++] = sp->plus ? '+' : ' ';
    else if (sp->alt && v && base == 16) {
        prefix[k++] = '0';
        prefix[k++] = conv;
    }
    size_t zeros = 0;
    if (sp->prec >= 0) {
        /* A precision is a minimum digit count, and turns the 0 flag off. */
        sp->zero = false;
        if ((size_t)sp->prec > n)
            zeros = (size_t)sp->prec - n;
    } else if (!n) {
        zeros = 1;                      /* the value 0 */
    }
    /* '#' with 'o': the first digit is a 0 (a precision of 0 prints one). */
    if (sp->alt && base == 8 && (zeros == 0) && (n == 0 || *p != '0'))
        zeros = 1;
    field(o, sp, prefix, k, p, n, zeros);
}

/* Width or precision: digits, or '*' taking an int.  A negative width from
 * '*' means '-' with its magnitude; a negative precision means none. */
static int amount(const char **f, va_list *ap, bool *star_neg)
{
    if (**f == '*') {
        (*f)++;
        int v = va_arg(*ap, int);
        *star_neg = v < 0;
        return v;
    }
    int v = 0;
    for (; **f >= '0' && **f <= '9'; (*f)++)
        v = v * 10 + (**f - '0');
    *star_neg = false;
    return v;
}

/* One directive after its '%'; *f is moved past it.  False if it is not
 * one of fmt.h's (then nothing was consumed from ap). */
static bool directive(struct out *o, const char **f, va_list *ap)
{
    struct spec sp = { .prec = -1 };
    const char *s = *f;
    for (;; s++) {
        if (*s == '-') sp.left = true;
        else if (*s == '0') sp.zero = true;
        else if (*s == '+') sp.plus = true;
        else if (*s == ' ') sp.space = true;
        else if (*s == '#') sp.alt = true;
        else break;
    }
    /* Width and precision may take arguments: check the whole directive
     * before reading any, so an unknown one consumes nothing. */
    const char *q = s;
    if (*q == '*') q++; else while (*q >= '0' && *q <= '9') q++;
    if (*q == '.') { q++; if (*q == '*') q++; else while (*q >= '0' && *q <= '9') q++; }
    int len = 0;        /* 'H' hh, 'h', 'l', 'L' ll, 'z', 'j', 't' */
    if (q[0] == 'h' && q[1] == 'h') len = 'H', q += 2;
    else if (q[0] == 'l' && q[1] == 'l') len = 'L', q += 2;
    else if (*q == 'h' || *q == 'l' || *q == 'z' || *q == 'j' || *q == 't') len = *q++;
    char conv = *q;
    bool integer = conv == 'd' || conv == 'i' || conv == 'u' || conv == 'o' ||
                   conv == 'x' || conv == 'X';
    if (!integer && (len || (conv != 'c' && conv != 's' && conv != '%')))
        return false;

    bool neg;
    int w = amount(&s, ap, &neg);
    sp.width = (size_t)(neg ? -(long)w : w);
    sp.left |= neg;
    if (*s == '.') {
        s++;
        sp.prec = amount(&s, ap, &neg);
        if (neg)
            sp.prec = -1;
    }
    *f = q + 1;
    if (sp.left)
        sp.zero = false;

    if (conv == '%') {
        put(o, "%", 1);
    } else if (conv == 'c') {
        char c = (char)va_arg(*ap, int);
        sp.zero = false;
        field(o, &sp, "", 0, &c, 1, 0);
    } else if (conv == 's') {
        const char *str = va_arg(*ap, const char *);
        if (!str)
            str = "(null)";
        size_t n = 0;               /* never past the precision */
        while ((sp.prec < 0 || n < (size_t)sp.prec) && str[n])
            n++;
        sp.zero = false;
        field(o, &sp, "", 0, str, n, 0);
    } else if (conv == 'd' || conv == 'i') {
        intmax_t v;
        switch (len) {
        case 'H': v = (signed char)va_arg(*ap, int); break;
        case 'h': v = (short)va_arg(*ap, int); break;
        case 'l': v = va_arg(*ap, long); break;
        case 'L': v = va_arg(*ap, long long); break;
        case 'z': v = va_arg(*ap, ptrdiff_t); break;   /* ssize_t's size */
        case 'j': v = va_arg(*ap, intmax_t); break;
        case 't': v = va_arg(*ap, ptrdiff_t); break;
        default: v = va_arg(*ap, int); break;
        }
        /* The magnitude in unsigned arithmetic: -INTMAX_MIN overflows. */
        number(o, &sp, conv, v < 0 ? -(uintmax_t)v : (uintmax_t)v, v < 0);
    } else {
        uintmax_t v;
        switch (len) {
        case 'H': v = (unsigned char)va_arg(*ap, unsigned); break;
        case 'h': v = (unsigned short)va_arg(*ap, unsigned); break;
        case 'l': v = va_arg(*ap, unsigned long); break;
        case 'L': v = va_arg(*ap, unsigned long long); break;
        case 'z': v = va_arg(*ap, size_t); break;
        case 'j': v = va_arg(*ap, uintmax_t); break;
        case 't': v = (uintmax_t)va_arg(*ap, ptrdiff_t); break;
        default: v = va_arg(*ap, unsigned); break;
        }
        number(o, &sp, conv, v, false);
    }
    return true;
}

int fmt_vsnprintf(char *buf, size_t size, const char *f, va_list ap)
{
    struct out o = { buf, size ? size - 1 : 0, 0 };
    va_list args;
    va_copy(args, ap);          /* directive() takes a pointer to it */
    while (*f) {
        const char *p = f;
        while (*p && *p != '%')
            p++;
        put(&o, f, (size_t)(p - f));
        if (!*p)
            break;
        f = p + 1;
        if (!directive(&o, &f, &args))
            put(&o, "%", 1);    /* unknown: the rest is copied as text */
    }
    va_end(args);
    if (size)
        buf[o.len < o.cap ? o.len : o.cap] = '\0';
    return o.len > INT32_MAX ? -1 : (int)o.len;
}

int fmt_snprintf(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = fmt_vsnprintf(buf, size, f, ap);
    va_end(ap);
    return n;
}
