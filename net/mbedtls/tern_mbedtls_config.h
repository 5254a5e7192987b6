/*
 * mbedTLS 2.28 configuration for Tern: just enough for TLS 1.2 with
 * pre-shared keys, server (the network console, net/netcon.c) and client
 * (encrypted streams to a peer, net/tls_stream.c).
 *
 * Written for a freestanding ring-0 image built with -mgeneral-regs-only:
 * one assembly back end (AES-NI, below), no file system, no clock, no
 * threads, no platform entropy (net/tls.c feeds RDSEED/RDRAND through
 * mbedtls_hardware_poll), no X.509, no public-key code, no PSA, no self
 * tests. Used both for building the library (scripts/build-mbedtls.sh passes
 * -DMBEDTLS_CONFIG_FILE) and by Tern's own code that includes mbedTLS
 * headers (the installed mbedtls/config.h forwards here), so both sides
 * always agree on structure layouts.
 */
#ifndef TERN_MBEDTLS_CONFIG_H
#define TERN_MBEDTLS_CONFIG_H

/* ---- platform: memory comes from net/tls.c's capped allocator ---- */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT

/* ---- symmetric crypto and hashes ---- */
#define MBEDTLS_AES_C
/*
 * AES-NI and PCLMULQDQ (AES and GCM's multiply) when the CPU has them,
 * chosen at run time; portable C otherwise. Their inline assembly uses XMM
 * registers, so scripts/build-mbedtls.sh compiles aesni.c (alone) with SSE
 * allowed. That is safe because mbedTLS runs only in the service loop,
 * where the FPU holds Tern's own state: arch/x86_64/fpu.c switches guest
 * and host state eagerly around every VM entry, and Tern's interrupt and
 * exception handlers never touch XMM registers.
 */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_AESNI_C
#define MBEDTLS_AES_ROM_TABLES /* const tables: no init-order race, lives in .rodata */
#define MBEDTLS_GCM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA512_C /* SHA-384 for the AES-256 suite; also the entropy pool hash */

/* ---- randomness: hardware entropy -> CTR_DRBG ---- */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C

/* ---- TLS: 1.2 only, PSK only ---- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
/* Tell a peer why it was refused (bad_record_mac for a wrong key). */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
#define MBEDTLS_SSL_CIPHERSUITES \
	MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256, MBEDTLS_TLS_PSK_WITH_AES_256_GCM_SHA384
/* Full 16 KiB records both ways: bulk streams pay the per-record cost
 * (header, tag, a TCP push) once per 16 KiB. */
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 16384

/* Readable handshake failures in the log ("SSL - Verification of the message MAC failed"). */
#define MBEDTLS_ERROR_C

#include "mbedtls/check_config.h"

#endif
