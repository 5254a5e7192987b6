/*
 * lwIP's compiler and platform glue for Tern (x86_64, gcc, newlib headers,
 * ring 0). Implemented in net/lwip_port.c: diagnostics and failed
 * assertions go to the console through hv_log, random numbers come from
 * RDRAND (or the TSC where the CPU has none). Byte swaps are compiler
 * builtins so lwIP's hot paths need no call.
 */
#ifndef TERN_LWIP_ARCH_CC_H
#define TERN_LWIP_ARCH_CC_H

/* newlib's types first: BYTE_ORDER and ssize_t come from there, so lwIP
 * and Tern's own files agree whatever they include before lwIP. */
#include <sys/types.h>
#ifndef SSIZE_MAX
#define SSIZE_MAX __LONG_MAX__ /* else lwIP would typedef ssize_t as int */
#endif
#define LWIP_NO_UNISTD_H 1
/* newlib's <ctype.h> pulls locale tables; lwIP's own versions suffice. */
#define LWIP_NO_CTYPE_H 1

#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_ntohs(x) lwip_htons(x)
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))
#define lwip_ntohl(x) lwip_htonl(x)

void lwip_port_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void lwip_port_assert(const char *msg, const char *file, int line);
unsigned int lwip_port_rand(void);

/* LWIP_PLATFORM_DIAG((fmt, args)): the double parentheses are lwIP's. */
#define LWIP_PLATFORM_DIAG(x) do { lwip_port_diag x; } while (0)
#define LWIP_PLATFORM_ASSERT(x) lwip_port_assert((x), __FILE__, __LINE__)
#define LWIP_RAND() ((u32_t)lwip_port_rand())

#endif
