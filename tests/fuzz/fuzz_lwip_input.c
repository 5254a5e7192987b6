/*
 * Fuzz target: Tern's network receive path end to end, built for the host:
 * a fake e1000 writes each frame into the RX ring (drivers/e1000_ring.c),
 * net_poll() (net/net.c) polls it into netif_nic.c's receive function,
 * which hands it to lwIP 2.1.3 (our lwipopts.h) with Tern's own TCP sink
 * on port 5001 (net/tcp_test.c) and ping client (net/ping.c) listening;
 * whatever Tern answers goes out through netif_nic.c's FIFO and
 * e1000_tx_queue() to the fake device. Only lwip_port.c (RDRAND, the TSC,
 * hv_panic) is replaced: a fake clock, fixed "random" numbers and ISNs, and
 * an lwIP assertion is a crash, as it panics the hypervisor.
 * Built with -DFUZZ_DHCP (fuzz_lwip_dhcp) the stack starts with ip=dhcp
 * and the frames meet the DHCP client instead of a static address.
 * Input: records [flags][len:11 action:2 time:3 (LE)][len bytes]. Flags
 * ask the harness to fix up what a fuzzer cannot guess (our MAC and IP,
 * lengths, checksums, TCP sequence numbers of a live connection), so most
 * frames get past the checks into the protocols; actions start a ping,
 * a net_send, or run `info network` meanwhile; time moves the clock for
 * lwIP's timers.
 * Invariants: no memory error, UB or lwIP assertion; every frame Tern
 * sends has our source MAC, a length in [14, 1518] and (IPv4) a valid
 * header checksum; after each input, when every connection is aborted,
 * the ARP table flushed and the timers have run, lwIP's pools and heap
 * are back where they started (nothing the network sent is leaked).
 */
#include <tern/arch.h>
#include <tern/cmdline.h>
#include <tern/e1000_ring.h>
#include <tern/log.h>
#include <tern/net.h>
#include <tern/nic.h>
#include <tern/tcp_pattern.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "lwip/dhcp.h"
#include "lwip/etharp.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/sys.h"
#include "lwip_hooks.h"

#define SEC 1000000000ULL
#define RING 256
#define BUF 2048
#define RX_PHYS 0x40000000ULL
#define TX_PHYS 0x80000000ULL
#define ISN 0x10000000u

/* Record flags. */
#define F_DST_MAC 0x01 /* Ethernet destination := our MAC */
#define F_SRC 0x02     /* source MAC and IP (Ethernet, IPv4, ARP sender) := the peer's */
#define F_DST_IP 0x04  /* IPv4 destination, ARP target := our IP */
#define F_TCP 0x08     /* a live connection to the peer's port: its ports, seq and ack;
			  a DHCP reply: the client's transaction id */
#define F_IPLEN 0x10   /* IPv4 total length := what the frame holds */
#define F_SUMS 0x20    /* IPv4 header and TCP/UDP/ICMP checksums made valid */
#define F_POLL 0x40    /* net_poll() after this frame */
#define F_MCAST 0x80   /* Ethernet destination := broadcast */

static const u8 our_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const u8 peer_mac[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
static const u8 our_ip[4] = { 10, 0, 2, 15 }, peer_ip[4] = { 10, 0, 2, 2 };

/* ---- what lwip_port.c and the rest of the hypervisor provide ---- */

static u64 now_ns = 1000 * SEC;
static u32 rand_state;
static bool verbose;

u64 arch_time_ns(void)
{
	return now_ns;
}

u32_t sys_now(void)
{
	return (u32_t)(now_ns / 1000000);
}

void net_port_init(void)
{
}

unsigned int lwip_port_rand(void)
{
	rand_state = rand_state * 1103515245u + 12345u;
	return rand_state >> 8;
}

u32_t net_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		  u16_t remote_port)
{
	return ISN;
}

static void out(const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (verbose)
		fputs(buf, stderr);
}

void lwip_port_diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out(fmt, ap);
	va_end(ap);
}

void lwip_port_assert(const char *msg, const char *file, int line)
{
	fprintf(stderr, "lwIP assertion failed (the hypervisor panics): %s at %s:%d\n", msg, file,
		line);
	abort();
}

void hv_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out(fmt, ap);
	va_end(ap);
}

void hv_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out(fmt, ap);
	va_end(ap);
}

struct nic *the_nic;

/* ---- the fake e1000: RX ring written by the "wire", TX sent at once ---- */

static struct {
	struct nic nic;
	struct e1000_ring rx, tx;
	u32 rdh, rdt, tdh;
	u64 sent;
} dev;

static u32 sum16(const u8 *p, size_t n, u32 acc)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (u32)p[i] << 8 | p[i + 1];
	if (n & 1)
		acc += (u32)p[n - 1] << 8;
	return acc;
}

static u16 fold(u32 acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (u16)~acc;
}

static void check_sent(const u8 *f, u32 len)
{
	CHECK(len >= 14 && len <= NIC_FRAME_MAX);
	CHECK(!memcmp(f + 6, our_mac, 6));
	u16 type = (u16)(f[12] << 8 | f[13]);
	if (type == 0x0800) {
		u32 ihl = (f[14] & 0xfu) * 4;
		CHECK((f[14] >> 4) == 4 && ihl >= 20 && 14 + ihl <= len);
		CHECK(fold(sum16(f + 14, ihl, 0)) == 0);
	} else if (type == 0x0806) {
		CHECK(len >= 42 && !memcmp(f + 22, our_mac, 6));
	}
}

static int dev_send_batch(struct nic *nic, const struct nic_frame *frames, int n)
{
	int taken = e1000_tx_queue(&dev.tx, frames, n, &nic->stats);
	/* The wire takes everything at once: TDH catches up with TDT. */
	struct e1000_tx_desc *d = dev.tx.desc;
	for (; dev.tdh != dev.tx.next; dev.tdh = e1000_ring_next(dev.tdh, RING)) {
		struct e1000_tx_desc *t = &d[dev.tdh];
		CHECK(t->addr == TX_PHYS + (u64)dev.tdh * BUF);
		check_sent(dev.tx.buf_virt + (u64)dev.tdh * BUF, t->length);
		t->status = E1000_TXD_STAT_DD;
		dev.sent++;
	}
	return taken;
}

static int dev_poll(struct nic *nic, int budget)
{
	bool moved;
	int n = e1000_rx_poll(&dev.rx, nic, budget, &moved);
	if (moved)
		dev.rdt = e1000_rx_tail(&dev.rx);
	return n;
}

static bool dev_link_up(struct nic *nic)
{
	return true;
}

static const struct nic_ops dev_ops = { dev_send_batch, dev_poll, dev_link_up };

/* The wire: one frame into the descriptor at RDH; false if the ring is full. */
static bool dev_rx(const u8 *frame, u32 len)
{
	if (dev.rdh == dev.rdt)
		return false;
	struct e1000_rx_desc *d = (struct e1000_rx_desc *)dev.rx.desc + dev.rdh;
	CHECK(d->addr == RX_PHYS + (u64)dev.rdh * BUF && d->status == 0);
	memcpy(dev.rx.buf_virt + (u64)dev.rdh * BUF, frame, len);
	d->length = (u16)len;
	d->errors = 0;
	d->status = E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP;
	dev.rdh = e1000_ring_next(dev.rdh, RING);
	return true;
}

static void ring_init(struct e1000_ring *r, u64 phys)
{
	r->desc = calloc(RING, sizeof(struct e1000_rx_desc));
	r->buf_virt = calloc(RING, BUF);
	r->buf_phys = phys;
	r->buf_size = BUF;
	r->size = RING;
	CHECK(e1000_ring_valid(r));
}

/* ---- the stack, brought up once as Tern does at boot ---- */

static u32 baseline_used[MEMP_MAX];
static const char *const pool_names[MEMP_MAX] = {
#define LWIP_MEMPOOL(name, num, size, desc) #name,
#include "lwip/priv/memp_std.h"
};
static mem_size_t baseline_heap;

static void teardown(void);

static void init(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	memcpy(dev.nic.mac, our_mac, 6);
	strcpy(dev.nic.name, "fuzz e1000");
	dev.nic.ops = &dev_ops;
	ring_init(&dev.rx, RX_PHYS);
	ring_init(&dev.tx, TX_PHYS);
	dev.rdt = e1000_rx_init(&dev.rx);
	e1000_tx_init(&dev.tx);
	the_nic = &dev.nic;

	struct hv_config cfg;
#ifdef FUZZ_DHCP
	CHECK(cmdline_parse("ip=dhcp", &cfg, NULL, NULL) == 0);
#else
	CHECK(cmdline_parse("ip=10.0.2.15/24 gw=10.0.2.2", &cfg, NULL, NULL) == 0);
#endif
	rand_state = 1;
	CHECK(net_init(&cfg) == 0);
	net_poll();
	teardown();
	for (int i = 0; i < MEMP_MAX; i++)
		baseline_used[i] = lwip_stats.memp[i]->used;
	baseline_heap = lwip_stats.mem.used;
}

/* Abort every connection, forget every neighbour, let the timers run. */
static void teardown(void)
{
	while (tcp_active_pcbs)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	for (int i = 0; i < 8; i++) {
		now_ns += 30 * SEC;
		net_poll();
	}
#ifdef FUZZ_DHCP
	/* The DHCP client starts over: a fresh DISCOVER, no address. */
	dhcp_release_and_stop(netif_default);
	CHECK(dhcp_start(netif_default) == ERR_OK);
#endif
	etharp_cleanup_netif(netif_default);
	net_poll();
}

/* ---- the harness's fix-ups ---- */

static u16 rd16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static void wr16(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static void wr32(u8 *p, u32 v)
{
	wr16(p, v >> 16);
	wr16(p + 2, v);
}

static void fixup(u8 *f, u32 len, u8 flags)
{
	if (len < 14)
		return;
	if (flags & F_DST_MAC)
		memcpy(f, our_mac, 6);
	if (flags & F_MCAST)
		memset(f, 0xff, 6);
	if (flags & F_SRC)
		memcpy(f + 6, peer_mac, 6);
	u16 type = rd16(f + 12);
	if (type == 0x0806 && len >= 42) {
		if (flags & F_SRC) {
			memcpy(f + 22, peer_mac, 6);
			memcpy(f + 28, peer_ip, 4);
		}
		if (flags & F_DST_IP)
			memcpy(f + 38, our_ip, 4);
		return;
	}
	if (type != 0x0800 || len < 34)
		return;
	u8 *ip = f + 14;
	u32 ihl = (ip[0] & 0xfu) * 4;
	if (ihl < 20 || 14 + ihl > len)
		return;
	if (flags & F_SRC)
		memcpy(ip + 12, peer_ip, 4);
	if (flags & F_DST_IP)
		memcpy(ip + 16, our_ip, 4);
	if (flags & F_IPLEN)
		wr16(ip + 2, len - 14);
	u32 tot = rd16(ip + 2);
	if (tot > len - 14)
		tot = len - 14;
	u32 l4len = tot > ihl ? tot - ihl : 0;
	u8 *l4 = ip + ihl, proto = ip[9];
	if ((flags & F_TCP) && proto == 6 && l4len >= 20) {
		/* The first live connection with the peer's port: in window, acking all. */
		for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next) {
			if (p->remote_port != rd16(l4))
				continue;
			wr16(l4 + 2, p->local_port);
			if (p->state != SYN_SENT)
				wr32(l4 + 4, p->rcv_nxt);
			wr32(l4 + 8, p->snd_nxt);
			break;
		}
	}
#ifdef FUZZ_DHCP
	struct dhcp *dhcp = netif_dhcp_data(netif_default);
	if ((flags & F_TCP) && proto == 17 && l4len >= 8 + 8 && rd16(l4 + 2) == 68 && dhcp)
		wr32(l4 + 8 + 4, dhcp->xid);
#endif
	if (!(flags & F_SUMS))
		return;
	wr16(ip + 10, 0);
	wr16(ip + 10, fold(sum16(ip, ihl, 0)));
	u32 off = proto == 6 ? 16 : proto == 17 ? 6 : proto == 1 ? 2 : 0;
	if (!off || l4len < off + 2)
		return;
	wr16(l4 + off, 0);
	u32 acc = 0;
	if (proto != 1) { /* the pseudo header */
		acc = sum16(ip + 12, 8, 0);
		acc += proto + l4len;
	}
	wr16(l4 + off, fold(sum16(l4, l4len, acc)));
}

/* ---- one input ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const u64 steps[8] = { 0, SEC / 1000, SEC / 50, SEC / 4, SEC, 5 * SEC, 30 * SEC,
				      120 * SEC };
	init();
	rand_state = 1;
	size_t pos = 0;
	while (pos + 3 <= size) {
		u8 flags = data[pos];
		u16 hdr = (u16)(data[pos + 1] | data[pos + 2] << 8);
		pos += 3;
		u32 len = hdr & 0x7ff;
		if (len > size - pos)
			len = (u32)(size - pos);
		u8 frame[2048];
		memcpy(frame, data + pos, len);
		pos += len;
		fixup(frame, len, flags);
		if (!dev_rx(frame, len)) { /* the ring is full: the stack catches up */
			net_poll();
			CHECK(dev_rx(frame, len));
		}
		switch ((hdr >> 11) & 3) {
		case 1:
			net_ping("10.0.2.2", "3");
			break;
		case 2:
			net_send("10.0.2.2", "5001", "20K");
			break;
		case 3:
			net_info();
			break;
		}
		now_ns += steps[hdr >> 13];
		if ((flags & F_POLL) || (hdr >> 13))
			net_poll();
	}
	for (int i = 0; i < 8 && dev.rx.next != dev.rdh; i++)
		net_poll();
	CHECK(dev.rx.next == dev.rdh);
	teardown();
	for (int i = 0; i < MEMP_MAX; i++) {
		if (lwip_stats.memp[i]->used == baseline_used[i])
			continue;
		fprintf(stderr, "%s:%d: invariant failed: lwIP pool %s leaked: %u in use, %u before\n",
			__FILE__, __LINE__, pool_names[i], (unsigned)lwip_stats.memp[i]->used,
			baseline_used[i]);
		abort();
	}
	CHECK(lwip_stats.mem.used == baseline_heap);
	return 0;
}

/* ---- seeds: a peer that talks to Tern ---- */

static u8 seed[16384];
static size_t slen;
static u8 fr[1600];

/* Append a record: frame fr[0..len) with flags, an action and a time step. */
static void rec(u8 flags, u32 len, u32 action, u32 tsel)
{
	u16 hdr = (u16)(len | action << 11 | tsel << 13);
	seed[slen++] = flags;
	seed[slen++] = (u8)hdr;
	seed[slen++] = (u8)(hdr >> 8);
	memcpy(seed + slen, fr, len);
	slen += len;
}

static u32 eth(const u8 *dst, u16 type)
{
	memset(fr, 0, sizeof(fr));
	memcpy(fr, dst, 6);
	memcpy(fr + 6, peer_mac, 6);
	wr16(fr + 12, type);
	return 14;
}

static u32 ipv4(u8 proto, u32 payload)
{
	u8 *ip = fr + eth(our_mac, 0x0800);
	ip[0] = 0x45;
	wr16(ip + 2, 20 + payload);
	wr16(ip + 4, 0x1234);
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, peer_ip, 4);
	memcpy(ip + 16, our_ip, 4);
	return 34;
}

static u32 tcp(u16 sport, u16 dport, u32 seq, u32 ack, u8 tflags, u32 payload)
{
	u32 o = ipv4(6, 20 + payload);
	wr16(fr + o, sport);
	wr16(fr + o + 2, dport);
	wr32(fr + o + 4, seq);
	wr32(fr + o + 8, ack);
	fr[o + 12] = 5 << 4;
	fr[o + 13] = tflags;
	wr16(fr + o + 14, 65535);
	return o + 20;
}

#define ALL (F_DST_MAC | F_SRC | F_DST_IP | F_IPLEN | F_SUMS | F_POLL)

static void arp_request(void)
{
	u8 *a = fr + eth((const u8[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 0x0806);
	wr16(a, 1);
	wr16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, 1);
	memcpy(a + 8, peer_mac, 6);
	memcpy(a + 14, peer_ip, 4);
	memcpy(a + 24, our_ip, 4);
	rec(F_POLL, 42, 0, 0);
}

static void begin(void)
{
	slen = 0;
	arp_request();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!seed_dir())
		return 0;
	/* ARP, then an echo request. */
	begin();
	u32 o = ipv4(1, 8 + 32);
	fr[o] = 8;
	for (int i = 0; i < 32; i++)
		fr[o + 8 + i] = (u8)i;
	rec(ALL, o + 40, 0, 0);
	seed_add(seed, slen);
	/* UDP to a closed port and to DHCP's client port. */
	begin();
	o = ipv4(17, 8 + 16);
	wr16(fr + o, 9999);
	wr16(fr + o + 2, 7);
	wr16(fr + o + 4, 24);
	rec(ALL, o + 24, 0, 0);
	wr16(fr + o, 67);
	wr16(fr + o + 2, 68);
	rec(ALL, o + 24, 0, 0);
	seed_add(seed, slen);
	/* A stream of the test pattern into the sink on 5001, then FIN. */
	begin();
	o = tcp(40000, 5001, 1000, 0, 0x02, 4);
	memcpy(fr + o - 20 + 12, "\x60", 1); /* data offset 6: one MSS option */
	memcpy(fr + o, "\x02\x04\x05\xb4", 4);
	rec(ALL, o + 4, 0, 0);
	o = tcp(40000, 5001, 1001, ISN + 1, 0x10, 0);
	rec(ALL | F_TCP, o, 0, 0);
	o = tcp(40000, 5001, 1001, ISN + 1, 0x18, 200);
	tcp_pattern_fill(fr + o, 0, 200);
	rec(ALL | F_TCP, o + 200, 0, 0);
	tcp_pattern_fill(fr + o, 200, 200);
	rec(ALL | F_TCP, o + 200, 0, 1);
	o = tcp(40000, 5001, 1401, ISN + 1, 0x11, 0);
	rec(ALL | F_TCP, o, 0, 2);
	seed_add(seed, slen);
	/* A FIN, then data, 2^31 behind rcv_nxt (1001): lwIP 2.1.3 asserts
	   "insane offset!" on them unless net/tcp_guard.c drops them. */
	begin();
	o = tcp(40000, 5001, 1000, 0, 0x02, 0);
	rec(ALL, o, 0, 0);
	o = tcp(40000, 5001, 1001, ISN + 1, 0x10, 0);
	rec(ALL | F_TCP, o, 0, 0);
	o = tcp(40000, 5001, 1001 - 0x80000000u, ISN + 1, 0x11, 0);
	rec(ALL, o, 0, 0);
	o = tcp(40000, 5001, 1001 - 0x80000000u + 2, ISN + 1, 0x10, 8);
	rec(ALL, o + 8, 0, 0);
	seed_add(seed, slen);
	/* A SYN to a closed port, a RST, a segment out of the blue. */
	begin();
	o = tcp(40001, 23, 5, 0, 0x02, 0);
	rec(ALL, o, 0, 0);
	o = tcp(40002, 5001, 5, 0, 0x04, 0);
	rec(ALL, o, 0, 0);
	o = tcp(40003, 5001, 5, 77, 0x10, 10);
	rec(ALL, o + 10, 0, 3);
	seed_add(seed, slen);
	/* ping 10.0.2.2: the echo replies (id: the first random number). */
	begin();
	rand_state = 1;
	u16 id = (u16)lwip_port_rand();
	for (u16 seq = 0; seq < 3; seq++) {
		o = ipv4(1, 64);
		fr[o] = 0;
		wr16(fr + o + 4, id);
		wr16(fr + o + 6, seq);
		for (int i = 0; i < 56; i++)
			fr[o + 8 + i] = (u8)i;
		rec(ALL, o + 64, seq == 0 ? 1 : 0, 4);
	}
	seed_add(seed, slen);
	/* net_send 10.0.2.2 5001 20K: the peer accepts and acknowledges. */
	slen = 0;
	arp_request();
	seed[slen - 42 - 1] |= 2 << 3; /* action 2 (hdr bits 11-12) rides on the ARP request */
	o = tcp(5001, 0, 7000, 0, 0x12, 0);
	rec(ALL | F_TCP, o, 0, 1);
	o = tcp(5001, 0, 7001, 0, 0x10, 0);
	for (int i = 0; i < 6; i++)
		rec(ALL | F_TCP, o, 0, 2);
	o = tcp(5001, 0, 7001, 0, 0x11, 0);
	rec(ALL | F_TCP, o, 3, 3);
	seed_add(seed, slen);
#ifdef FUZZ_DHCP
	/* DHCPOFFER and DHCPACK for the client's first transaction. */
	for (int msg = 2; msg <= 5; msg += 3) {
		if (msg == 2)
			slen = 0;
		o = ipv4(17, 8 + 300);
		memset(fr, 0xff, 6);
		memset(fr + 30, 0xff, 4);
		wr16(fr + o, 67);
		wr16(fr + o + 2, 68);
		wr16(fr + o + 4, 308);
		u8 *b = fr + o + 8;
		b[0] = 2; /* BOOTREPLY */
		b[1] = 1;
		b[2] = 6;
		memcpy(b + 16, our_ip, 4); /* yiaddr */
		memcpy(b + 28, our_mac, 6);
		memcpy(b + 236, "\x63\x82\x53\x63", 4);
		u8 opts[] = { 53, 1, (u8)msg, 54, 4, 10, 0, 2, 2, 51, 4, 0, 0, 0x0e, 0x10,
			      1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 2, 2, 255 };
		memcpy(b + 240, opts, sizeof(opts));
		rec(F_SUMS | F_POLL | F_TCP, o + 308, 0, 2);
	}
	seed_add(seed, slen);
#endif
	static const u8 words[][4] = { { 0x08, 0x00 }, { 0x08, 0x06 }, { 10, 0, 2, 15 },
				       { 0x13, 0x89 }, { 0x63, 0x82, 0x53, 0x63 } };
	static const u8 wlen[] = { 2, 2, 4, 2, 4 };
	for (size_t i = 0; i < sizeof(wlen); i++)
		seed_dict(words[i], wlen[i]);
	exit(0);
}
