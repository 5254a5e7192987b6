/*
 * The descriptor rings of the Intel 8254x (e1000) as pure logic: legacy RX
 * and TX descriptors (SDM 317453, 3.2.3 and 3.3.3), the index arithmetic, and
 * the two loops that move frames between the stack and the rings. No
 * register access here: the functions say where the tail register must go
 * and drivers/e1000.c writes it, so the host unit tests drive the same code
 * against a fake device (tests/unit/test_e1000_ring.c). The device is not
 * trusted: a length it writes back is checked against the buffer before the
 * frame is handed on.
 *
 * Context: the service loop, one caller at a time (no locking).
 */
#ifndef TERN_E1000_RING_H
#define TERN_E1000_RING_H

#include <tern/nic.h>
#include <tern/types.h>

/* Legacy receive descriptor (3.2.3): the device writes back length..special. */
struct e1000_rx_desc {
	u64 addr;
	u16 length;
	u16 csum;
	u8 status;
	u8 errors;
	u16 special;
};

/* Legacy transmit descriptor (3.3.3). */
struct e1000_tx_desc {
	u64 addr;
	u16 length;
	u8 cso;
	u8 cmd;
	u8 status;
	u8 css;
	u16 special;
};

/* Natural alignment gives the hardware layout; no packing needed. */
_Static_assert(sizeof(struct e1000_rx_desc) == 16, "RX descriptor is 16 bytes");
_Static_assert(sizeof(struct e1000_tx_desc) == 16, "TX descriptor is 16 bytes");

#define E1000_RXD_STAT_DD (1u << 0)
#define E1000_RXD_STAT_EOP (1u << 1)
/* CE, SE, SEQ, CXE, RXE: the frame itself is bad. TCPE/IPE (bits 5, 6) are
 * checksum-offload verdicts, off in Tern (RXCSUM = 0), and never drop. */
#define E1000_RXD_ERR_FRAME 0x97u

#define E1000_TXD_CMD_EOP (1u << 0)
#define E1000_TXD_CMD_IFCS (1u << 1)
#define E1000_TXD_CMD_RS (1u << 3)
#define E1000_TXD_STAT_DD (1u << 0)
#define E1000_TXD_STAT_EC (1u << 1) /* excess collisions */
#define E1000_TXD_STAT_LC (1u << 2) /* late collision */

/* The ring length registers take multiples of 128 bytes: 8 descriptors. */
#define E1000_RING_ALIGN 8u
#define E1000_RING_MAX 65536u
/* Smallest frame worth a look: an Ethernet header. The device pads on TX. */
#define E1000_FRAME_MIN 14u
/* Largest frame accepted on RX: NIC_FRAME_MAX plus one 802.1Q tag. */
#define E1000_RX_FRAME_MAX (NIC_FRAME_MAX + 4u)

/*
 * Descriptor memory is shared with the device. On x86 the CPU keeps stores
 * (and loads) in order even toward uncached MMIO, so only the compiler must
 * be stopped from moving accesses across the points that matter.
 */
#define e1000_barrier() __asm__ __volatile__("" ::: "memory")

/*
 * One ring with one buffer of buf_size bytes per descriptor, all buffers in
 * one block: descriptor i owns buf_virt + i * buf_size, which the device
 * sees at buf_phys + i * buf_size.
 */
struct e1000_ring {
	void *desc;    /* struct e1000_rx_desc[] or struct e1000_tx_desc[] */
	u8 *buf_virt;
	u64 buf_phys;
	u32 buf_size;
	u32 size;      /* descriptors: a multiple of 8, at most 65536 */
	/*
	 * RX: next is the descriptor software reads next; the device owns
	 * [RDH, RDT) and the tail sits one behind next, so one descriptor is
	 * always held back and a full ring is never mistaken for an empty one.
	 * TX: next is the descriptor software fills next (= TDT); clean is the
	 * oldest one handed to the device and not yet reclaimed.
	 */
	u32 next;
	u32 clean;
	bool discarding; /* RX: inside a frame spread over descriptors */
};

static inline u32 e1000_ring_next(u32 i, u32 size)
{
	return i + 1 == size ? 0 : i + 1;
}

/* Descriptors between from and to going forward, for indices below size. */
static inline u32 e1000_ring_dist(u32 from, u32 to, u32 size)
{
	return to >= from ? to - from : size - from + to;
}

/* Does the geometry make sense? Checked before any ring function runs. */
bool e1000_ring_valid(const struct e1000_ring *r);

/*
 * RX: point every descriptor at its buffer with status clear. Returns the
 * first value for RDT (size - 1: all but the held-back descriptor).
 */
u32 e1000_rx_init(struct e1000_ring *r);
/* Value of RDT that gives the device every descriptor software is done with. */
u32 e1000_rx_tail(const struct e1000_ring *r);
/*
 * Harvest up to budget good frames: each is handed to nic->rx (or counted as
 * dropped if no receiver is set) and its descriptor goes back to the device.
 * Frames with error bits, without EOP (spread over descriptors), shorter
 * than E1000_FRAME_MIN or longer than E1000_RX_FRAME_MAX or the buffer are
 * counted in rx_errors and dropped. Looks at no more than size descriptors.
 * Returns the frames delivered; *moved says whether RDT must be rewritten.
 */
int e1000_rx_poll(struct e1000_ring *r, struct nic *nic, int budget, bool *moved);

/* TX: every descriptor empty and owned by software. next = clean = 0 (TDT = TDH = 0). */
void e1000_tx_init(struct e1000_ring *r);
/* Descriptors free to fill right now (at most size - 1). */
u32 e1000_tx_free(const struct e1000_ring *r);
/* Take back descriptors the device finished (DD); counts EC/LC in tx_errors. */
u32 e1000_tx_reclaim(struct e1000_ring *r, struct nic_stats *st);
/*
 * Reclaim, then copy up to n frames into descriptors (EOP|IFCS|RS). A frame
 * shorter than E1000_FRAME_MIN or longer than NIC_FRAME_MAX or the buffer is
 * counted in tx_dropped and consumed, so callers never retry it. Stops at
 * the first frame that finds the ring full. Returns the frames consumed;
 * TDT must then be set to r->next if it changed.
 */
int e1000_tx_queue(struct e1000_ring *r, const struct nic_frame *frames, int n,
		   struct nic_stats *st);

#endif
