/*
 * Post-copy's page-fault latency (tern/mig_postcopy.h): how long the guest
 * waited on the destination for each page fetched over the network. The
 * count, extremes and total cover every fault; the median comes from a
 * bounded sample, so a long post-copy phase needs no memory beyond the
 * struct and the median costs linear time, not a sort.
 */
#include <tern/mig_postcopy.h>

void mig_lat_init(struct mig_lat *l)
{
	l->count = 0;
	l->min = 0;
	l->max = 0;
	l->total = 0;
	l->kept = 0;
	l->next = 0;
}

void mig_lat_add(struct mig_lat *l, u64 ns)
{
	if (!l->count || ns < l->min)
		l->min = ns;
	if (ns > l->max)
		l->max = ns;
	l->total = ns > ~0ULL - l->total ? ~0ULL : l->total + ns;
	l->count++;
	if (l->kept < MIG_LAT_SAMPLES) {
		l->sample[l->kept++] = ns;
		return;
	}
	/* Full: replace the kept ones in turn, so the sample follows the
	 * latest faults instead of freezing on the first ones. */
	l->sample[l->next] = ns;
	l->next = (l->next + 1) % MIG_LAT_SAMPLES;
}

static void swap(u64 *a, u64 *b)
{
	u64 t = *a;
	*a = *b;
	*b = t;
}

/*
 * The k-th smallest of v[0..n) (k < n), by quickselect with a three-way
 * partition: many equal latencies (a quiet link) keep it linear instead of
 * the quadratic time a two-way partition takes on them. The pivot is the
 * median of the first, middle and last element, so an already sorted
 * sample (rising latencies) is no worst case either.
 */
static u64 select_kth(u64 *v, u32 n, u32 k)
{
	u32 lo = 0, hi = n; /* the answer lies in v[lo..hi) */

	while (hi - lo > 1) {
		u64 a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
		u64 pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
		/* v[lo..lt) < pivot, v[lt..i) == pivot, v[gt..hi) > pivot */
		u32 lt = lo, i = lo, gt = hi;
		while (i < gt) {
			if (v[i] < pivot)
				swap(&v[lt++], &v[i++]);
			else if (v[i] > pivot)
				swap(&v[i], &v[--gt]);
			else
				i++;
		}
		if (k < lt)
			hi = lt;
		else if (k >= gt)
			lo = gt;
		else
			return pivot;
	}
	return v[lo];
}

u64 mig_lat_median(struct mig_lat *l)
{
	if (!l->kept)
		return 0;
	return select_kth(l->sample, l->kept, (l->kept - 1) / 2);
}
