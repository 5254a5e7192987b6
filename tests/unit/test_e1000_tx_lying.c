/*
 * drivers/e1000_ring.c's TX reclaim against a device that lies: DD set on
 * descriptors Tern never handed over (a buggy or hostile 8254x, or stale
 * write-backs from before a reset). Only [clean, next) may come back;
 * reclaiming past next would make the free count exceed the ring and let
 * queued frames be overwritten before they are sent. Found by `make mutate`
 * (tests/mutate/mutations.txt: e1000-reclaim-past-next): no other test sets
 * DD outside the handed-over range.
 */
#include "unit.h"
#include <tern/e1000_ring.h>

#define SIZE 16u
#define BUF 2048u

static struct e1000_tx_desc desc[SIZE];
static struct e1000_ring r;
static struct nic_stats st;

static void setup(void)
{
	memset(&r, 0, sizeof(r));
	memset(&st, 0, sizeof(st));
	r.desc = desc;
	r.size = SIZE;
	r.buf_size = BUF;
	r.buf_virt = calloc(SIZE, BUF);
	r.buf_phys = 0x40000000ULL;
	CHECK(r.buf_virt);
	e1000_tx_init(&r);
	CHECK(e1000_ring_valid(&r));
}

static void device_sets_dd_everywhere(void)
{
	for (u32 i = 0; i < SIZE; i++)
		desc[i].status |= E1000_TXD_STAT_DD;
}

static int queue(int n)
{
	static u8 frame[64];
	struct nic_frame f[SIZE];
	for (int i = 0; i < n; i++)
		f[i] = (struct nic_frame){ .data = frame, .len = sizeof(frame) };
	return e1000_tx_queue(&r, f, n, &st);
}

TEST(reclaim_stops_at_next_when_dd_is_set_beyond)
{
	setup();
	CHECK_EQ(queue(3), 3);
	device_sets_dd_everywhere();
	CHECK_EQ(e1000_tx_reclaim(&r, &st), 3);
	CHECK_EQ(r.clean, r.next);
	CHECK_EQ(e1000_tx_free(&r), SIZE - 1);
	CHECK(e1000_ring_valid(&r));
	free(r.buf_virt);
}

TEST(empty_ring_reclaims_nothing_from_a_lying_device)
{
	setup();
	device_sets_dd_everywhere();
	CHECK_EQ(e1000_tx_reclaim(&r, &st), 0);
	CHECK_EQ(r.clean, 0);
	CHECK_EQ(e1000_tx_free(&r), SIZE - 1);
	/* and the ring still takes exactly size - 1 frames */
	CHECK_EQ(queue(SIZE), SIZE - 1);
	free(r.buf_virt);
}
