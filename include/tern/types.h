/*
 * Basic fixed-width types and helpers shared by the hypervisor, the UEFI
 * loader, the guest tests and the host unit tests. Freestanding: includes
 * only compiler-provided headers.
 */
#ifndef TERN_TYPES_H
#define TERN_TYPES_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;

#define PAGE_SIZE 4096UL
#define PAGE_SHIFT 12
#define SZ_2M (2UL << 20)
#define SZ_1G (1UL << 30)

#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((u64)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((u64)(a) - 1))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* newlib's <sys/cdefs.h> defines some of these too, identically. */
#ifndef __packed
#define __packed __attribute__((packed))
#endif
#ifndef __noreturn
#define __noreturn __attribute__((noreturn))
#endif
#ifndef __unused
#define __unused __attribute__((unused))
#endif
#ifndef __printf
#define __printf(f, a) __attribute__((format(printf, f, a)))
#endif

#endif
