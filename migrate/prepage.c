/*
 * What the source sends next once the guest runs on the destination
 * (tern/mig_postcopy.h): first the pages the destination faulted on, in the
 * order it asked, then pre-paging, the neighbours of the last fault and
 * after them the rest of RAM in address order. Pure: the engine owns the
 * bitmap of pages still to send and clears each bit as the page goes.
 */
#include <tern/bitmap.h>
#include <tern/mig_postcopy.h>

void mig_req_init(struct mig_req_queue *q)
{
	q->head = 0;
	q->count = 0;
	q->dropped = 0;
}

/*
 * The destination asks again when a reply is slow; a second copy in the
 * queue would only send the page twice. A linear scan is fine: at most
 * MIG_REQ_QUEUE_MAX entries, and a request costs a network round trip.
 */
static bool req_queued(const struct mig_req_queue *q, u64 gfn)
{
	for (u32 i = 0; i < q->count; i++)
		if (q->gfn[(q->head + i) % MIG_REQ_QUEUE_MAX] == gfn)
			return true;
	return false;
}

bool mig_req_push(struct mig_req_queue *q, u64 gfn)
{
	if (req_queued(q, gfn))
		return false;
	if (q->count == MIG_REQ_QUEUE_MAX) {
		/* The destination re-requests a page it still lacks, and
		 * pre-paging reaches it anyway: dropping loses no page. */
		q->dropped++;
		return false;
	}
	q->gfn[(q->head + q->count) % MIG_REQ_QUEUE_MAX] = gfn;
	q->count++;
	return true;
}

bool mig_req_pop(struct mig_req_queue *q, u64 *gfn)
{
	if (!q->count)
		return false;
	*gfn = q->gfn[q->head];
	q->head = (q->head + 1) % MIG_REQ_QUEUE_MAX;
	q->count--;
	return true;
}

void mig_prepage_init(struct mig_prepage *p, u64 nr_pages)
{
	p->nr_pages = nr_pages;
	p->cursor = 0;
	p->near = 0;
	p->near_end = 0;
}

void mig_prepage_fault(struct mig_prepage *p, u64 gfn)
{
	if (gfn >= p->nr_pages)
		return; /* not a page of this guest: no hint */
	p->near = gfn + 1;
	/* Clipped at the end of RAM, written so that it cannot overflow. */
	p->near_end = p->nr_pages - gfn > MIG_PREPAGE_WINDOW ? gfn + MIG_PREPAGE_WINDOW : p->nr_pages;
}

/*
 * Neither the window's start nor the cursor moves past a set bit, only up
 * to it: a page the caller has not sent yet comes back, and once it is sent
 * bitmap_next skips it in the same word. Each call thus costs the words
 * between two pages still to send, and the wrapped scan (from 0 to the
 * cursor) runs only when nothing is left after the cursor.
 */
u64 mig_prepage_next(struct mig_prepage *p, const u64 *todo)
{
	if (p->near < p->near_end) {
		u64 n = bitmap_next(todo, p->near_end, p->near);
		p->near = n;
		if (n < p->near_end)
			return n;
	}
	u64 n = bitmap_next(todo, p->nr_pages, p->cursor);
	if (n == p->nr_pages) {
		n = bitmap_next(todo, p->cursor, 0); /* wrapped: the pages before the cursor */
		if (n == p->cursor)
			return p->nr_pages;
	}
	p->cursor = n;
	return n;
}
