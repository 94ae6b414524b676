/* record.c - the line splitter and the record formats (record.h). */
#include "record.h"

#include <string.h>

static inline bool utf8_cont(char c)
{
    return ((unsigned char)c & 0xc0) == 0x80;
}

size_t rec_cut(const char *p, size_t line_max)
{
    for (size_t k = 0; k <= 3; k++)
        if (!utf8_cont(p[line_max - k]))
            return line_max - k;
    return line_max;            /* not UTF-8 here: cut anywhere */
}

size_t rec_next(const char *p, size_t n, size_t line_max, struct rec *r)
{
    size_t look = n <= line_max ? n : line_max + 1;
    const char *nl = memchr(p, '\n', look);
    r->text = p;
    if (nl) {
        r->len = (size_t)(nl - p);
        r->cont = false;
        return r->len + 1;
    }
    if (n <= line_max)
        return 0;
    r->len = rec_cut(p, line_max);
    r->cont = true;
    return r->len;
}

char *rec_put_file(char *dst, const char *stamp, size_t stamp_len, const struct rec *r)
{
    if (stamp_len) {
        memcpy(dst, stamp, stamp_len);
        dst += stamp_len;
        *dst++ = r->cont ? '+' : ' ';
        memcpy(dst, r->text, r->len);
        dst += r->len;
    } else {
        memcpy(dst, r->text, r->len);
        dst += r->len;
        if (r->cont)
            *dst++ = '\\';
    }
    *dst++ = '\n';
    return dst;
}

char *rec_put_copy(char *dst, const char *name, size_t name_len, const struct rec *r)
{
    memcpy(dst, name, name_len);
    dst += name_len;
    *dst++ = r->cont ? '+' : ':';
    *dst++ = ' ';
    memcpy(dst, r->text, r->len);
    dst += r->len;
    *dst++ = '\n';
    return dst;
}
