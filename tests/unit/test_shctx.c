/* test_shctx.c - unit test of shctx.c: store/lookup/remove, refusals, LRU
 * order, four processes hammering one cache, and recovery after a process
 * dies holding the lock. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shctx.h"
#include "unit.h"

#define MP_CHILDREN	4
#define MP_OPS		20000
#define MP_SLOTS	64
#define MP_IDS		200
#define MP_DATA		256
#define TIMEOUT		20	/* seconds before a hang fails the test */

/* splitmix64: a small deterministic PRNG. */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
put_be32(unsigned char *p, uint32_t x)
{
	p[0] = x >> 24;
	p[1] = x >> 16;
	p[2] = x >> 8;
	p[3] = x;
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* The ID of entry n (< 256): 1..32 bytes, byte 0 is n so IDs are unique. */
static size_t
id_make(uint32_t n, unsigned char id[SHCTX_ID_MAX])
{
	uint64_t s = n;
	size_t len = 1 + rnd(&s) % SHCTX_ID_MAX, i;

	id[0] = (unsigned char)n;
	for (i = 1; i < len; i++)
		id[i] = (unsigned char)rnd(&s);
	return len;
}

/* The blob of version ver of entry n: n, ver, then bytes and a length
 * (8..max) drawn from both, so a torn or misplaced blob is detected. */
static size_t
blob_make(uint32_t n, uint32_t ver, unsigned char *buf, size_t max)
{
	uint64_t s = (uint64_t)n << 32 | ver;
	size_t len = 8 + rnd(&s) % (max - 7), i;

	put_be32(buf, n);
	put_be32(buf + 4, ver);
	for (i = 8; i < len; i++)
		buf[i] = (unsigned char)rnd(&s);
	return len;
}

/* Nonzero if buf (len bytes) is some version of entry n's blob. */
static int
blob_ok(uint32_t n, const unsigned char *buf, size_t len, size_t max)
{
	unsigned char want[MP_DATA];

	if (len < 8 || len > max || max > sizeof(want) ||
	    get_be32(buf) != n)
		return 0;
	return blob_make(n, get_be32(buf + 4), want, max) == len &&
	    memcmp(want, buf, len) == 0;
}

/* SIGALRM: a lock or a tree walk hung; fail rather than wait forever. */
static void
on_alarm(int sig)
{
	static const char msg[] = "test_shctx: timed out (hung lock or tree)\n";

	ssize_t r;

	(void)sig;
	r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(r < 0 ? 3 : 2);
}

static void
stats(struct shctx *c, struct shctx_stats *st)
{
	memset(st, 0xff, sizeof(*st));
	shctx_stats(c, st);
}

/* Store version ver of entry n for the small tests (blobs of 8..64 bytes). */
static int
put(struct shctx *c, uint32_t n, uint32_t ver)
{
	unsigned char id[SHCTX_ID_MAX], blob[64];
	size_t idlen = id_make(n, id);

	return shctx_store(c, id, idlen, blob, blob_make(n, ver, blob, 64));
}

/* Look entry n up: 1 if found and sound, 0 if not found, -1 otherwise. */
static int
get(struct shctx *c, uint32_t n)
{
	unsigned char id[SHCTX_ID_MAX], out[MP_DATA];
	size_t idlen = id_make(n, id);
	int r = shctx_lookup(c, id, idlen, out, sizeof(out));

	if (r == SHCTX_E_NOTFOUND)
		return 0;
	return r > 0 && blob_ok(n, out, (size_t)r, 64) ? 1 : -1;
}

static void
test_create_args(void)
{
	struct shctx *c;

	errno = 0;
	CHECK(shctx_create(0, 64) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(shctx_create(4, 0) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(shctx_create(4, (size_t)INT_MAX + 1) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(shctx_create(UINT_MAX, INT_MAX) == NULL && errno == ENOMEM);
	c = shctx_create(1, SHCTX_DEFAULT_DATA);
	CHECK(c != NULL && shctx_check(c) == 0);
	shctx_destroy(c);
	shctx_destroy(NULL);
}

static void
test_basic(void)
{
	struct shctx *c = shctx_create(8, 64);
	unsigned char out[64];
	struct shctx_stats st;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(shctx_store(c, (const unsigned char *)"abc", 3,
	    (const unsigned char *)"hello", 5) == 0);
	memset(out, 0, sizeof(out));
	CHECK(shctx_lookup(c, (const unsigned char *)"abc", 3, out, 64) == 5);
	CHECK(memcmp(out, "hello", 5) == 0);
	CHECK(shctx_lookup(c, (const unsigned char *)"abc", 3, out, 5) == 5);
	CHECK(shctx_lookup(c, (const unsigned char *)"abc", 3, out, 4) ==
	    SHCTX_E_TOOBIG);
	CHECK(shctx_lookup(c, (const unsigned char *)"abd", 3, out, 64) ==
	    SHCTX_E_NOTFOUND);
	stats(c, &st);
	CHECK(st.entries == 1 && st.capacity == 8 && st.stores == 1);
	CHECK(st.hits == 2 && st.misses == 2 && st.evictions == 0);
	CHECK(st.recoveries == 0);
	CHECK(shctx_remove(c, (const unsigned char *)"abc", 3) == 0);
	CHECK(shctx_lookup(c, (const unsigned char *)"abc", 3, out, 64) ==
	    SHCTX_E_NOTFOUND);
	CHECK(shctx_remove(c, (const unsigned char *)"abc", 3) ==
	    SHCTX_E_NOTFOUND);
	stats(c, &st);
	CHECK(st.entries == 0);
	CHECK(shctx_check(c) == 0);
	shctx_destroy(c);
}

static void
test_replace(void)
{
	struct shctx *c = shctx_create(4, 64);
	const unsigned char id[] = { 1, 2, 3, 4 };
	unsigned char out[64];
	struct shctx_stats st;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(shctx_store(c, id, 4, (const unsigned char *)"0123456789",
	    10) == 0);
	CHECK(shctx_store(c, id, 4, (const unsigned char *)"wxyz", 4) == 0);
	CHECK(shctx_lookup(c, id, 4, out, sizeof(out)) == 4);
	CHECK(memcmp(out, "wxyz", 4) == 0);
	CHECK(shctx_store(c, id, 4, (const unsigned char *)"0123456789",
	    10) == 0);
	CHECK(shctx_lookup(c, id, 4, out, sizeof(out)) == 10);
	CHECK(memcmp(out, "0123456789", 10) == 0);
	stats(c, &st);
	CHECK(st.entries == 1 && st.stores == 3 && st.evictions == 0);
	CHECK(shctx_check(c) == 0);
	shctx_destroy(c);
}

/* "ab", "ab\0", "a", and "ab" zero-padded to 32 bytes are four IDs. */
static void
test_prefix_ids(void)
{
	struct shctx *c = shctx_create(8, 64);
	unsigned char ids[4][SHCTX_ID_MAX], out[64];
	const size_t lens[4] = { 2, 3, 1, SHCTX_ID_MAX };
	struct shctx_stats st;
	int i;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	memset(ids, 0, sizeof(ids));
	for (i = 0; i < 4; i++) {
		memcpy(ids[i], "ab", 2);
		out[0] = (unsigned char)('A' + i);
		CHECK(shctx_store(c, ids[i], lens[i], out, 1) == 0);
	}
	stats(c, &st);
	CHECK(st.entries == 4);
	for (i = 0; i < 4; i++) {
		out[0] = 0;
		CHECK(shctx_lookup(c, ids[i], lens[i], out, 64) == 1);
		CHECK(out[0] == 'A' + i);
	}
	CHECK(shctx_remove(c, ids[0], lens[0]) == 0);
	CHECK(shctx_lookup(c, ids[0], lens[0], out, 64) == SHCTX_E_NOTFOUND);
	for (i = 1; i < 4; i++)
		CHECK(shctx_lookup(c, ids[i], lens[i], out, 64) == 1 &&
		    out[0] == 'A' + i);
	CHECK(shctx_check(c) == 0);
	shctx_destroy(c);
}

/* Refused calls change nothing: no entry, no eviction, no lost slot. */
static void
test_refused(void)
{
	struct shctx *c = shctx_create(4, 32);
	unsigned char id[SHCTX_ID_MAX + 1], blob[33], out[33];
	struct shctx_stats st;
	int i;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	memset(id, 'i', sizeof(id));
	memset(blob, 'b', sizeof(blob));
	for (i = 0; i < 4; i++) {
		id[0] = (unsigned char)i;
		CHECK(shctx_store(c, id, 8, blob, 32) == 0);
	}
	for (i = 0; i < 1000; i++) {
		id[0] = (unsigned char)(i % 8);
		CHECK(shctx_store(c, id, 8, blob, 33) == SHCTX_E_TOOBIG);
	}
	CHECK(shctx_store(c, id, 0, blob, 1) == SHCTX_E_INVAL);
	CHECK(shctx_store(c, id, SHCTX_ID_MAX + 1, blob, 1) == SHCTX_E_INVAL);
	CHECK(shctx_store(c, NULL, 8, blob, 1) == SHCTX_E_INVAL);
	CHECK(shctx_store(c, id, 8, NULL, 1) == SHCTX_E_INVAL);
	CHECK(shctx_store(c, id, 8, blob, 0) == SHCTX_E_INVAL);
	CHECK(shctx_store(NULL, id, 8, blob, 1) == SHCTX_E_INVAL);
	CHECK(shctx_lookup(c, id, 0, out, 33) == SHCTX_E_INVAL);
	CHECK(shctx_lookup(c, id, SHCTX_ID_MAX + 1, out, 33) == SHCTX_E_INVAL);
	CHECK(shctx_lookup(c, id, 8, NULL, 33) == SHCTX_E_INVAL);
	CHECK(shctx_remove(c, id, 0) == SHCTX_E_INVAL);
	CHECK(shctx_remove(c, id, SHCTX_ID_MAX + 1) == SHCTX_E_INVAL);
	stats(c, &st);
	CHECK(st.entries == 4 && st.stores == 4 && st.evictions == 0);
	for (i = 0; i < 4; i++) {
		id[0] = (unsigned char)i;
		CHECK(shctx_lookup(c, id, 8, out, sizeof(out)) == 32);
		CHECK(memcmp(out, blob, 32) == 0);
	}
	id[0] = 5;
	CHECK(shctx_lookup(c, id, 8, out, sizeof(out)) == SHCTX_E_NOTFOUND);
	/* a full-length ID and a max_data blob fit */
	CHECK(shctx_store(c, id, SHCTX_ID_MAX, blob, 32) == 0);
	CHECK(shctx_lookup(c, id, SHCTX_ID_MAX, out, 32) == 32);
	CHECK(shctx_check(c) == 0);
	shctx_destroy(c);
}

static void
test_lru(void)
{
	struct shctx *c = shctx_create(16, 64);
	struct shctx_stats st;
	uint32_t n;
	int found = 0;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	for (n = 0; n < 16; n++)
		CHECK(put(c, n, 0) == 0);
	CHECK(get(c, 0) == 1);		/* a hit refreshes #0 ... */
	CHECK(put(c, 16, 0) == 0);	/* ... so #1 is the one evicted */
	CHECK(get(c, 1) == 0);
	CHECK(get(c, 0) == 1);
	stats(c, &st);
	CHECK(st.evictions == 1 && st.entries == 16);
	CHECK(put(c, 2, 1) == 0);	/* a store refreshes #2 ... */
	CHECK(put(c, 17, 0) == 0);	/* ... so #3 goes */
	CHECK(get(c, 3) == 0);
	CHECK(get(c, 2) == 1);
	{
		unsigned char id[SHCTX_ID_MAX];
		size_t idlen = id_make(5, id);

		CHECK(shctx_remove(c, id, idlen) == 0);
	}
	stats(c, &st);
	CHECK(st.evictions == 2 && st.entries == 15);
	CHECK(put(c, 18, 0) == 0);	/* a freed slot is reused: no eviction */
	stats(c, &st);
	CHECK(st.evictions == 2 && st.entries == 16);
	for (n = 0; n <= 18; n++) {
		int want = n != 1 && n != 3 && n != 5;

		CHECK(get(c, n) == want);
		found += want;
	}
	CHECK(found == 16);
	CHECK(shctx_check(c) == 0);
	shctx_destroy(c);
}

/* What each child did, written to a shared page for the parent to sum. */
struct mp_report {
	uint64_t	 stores;
	uint64_t	 lookups;
	uint64_t	 hits;
	uint64_t	 bad;
};

static void
mp_child(struct shctx *c, struct mp_report *rep, uint64_t seed)
{
	unsigned char id[SHCTX_ID_MAX], buf[MP_DATA];
	size_t idlen, len;
	uint32_t n, op;
	int i, r;

	for (i = 0; i < MP_OPS; i++) {
		n = rnd(&seed) % MP_IDS;
		op = rnd(&seed) % 10;
		idlen = id_make(n, id);
		if (op < 5) {
			r = shctx_lookup(c, id, idlen, buf, sizeof(buf));
			rep->lookups++;
			if (r > 0 && blob_ok(n, buf, (size_t)r, MP_DATA))
				rep->hits++;
			else if (r != SHCTX_E_NOTFOUND)
				rep->bad++;
		} else if (op < 9) {
			len = blob_make(n, (uint32_t)rnd(&seed), buf, MP_DATA);
			if (shctx_store(c, id, idlen, buf, len) == 0)
				rep->stores++;
			else
				rep->bad++;
		} else {
			r = shctx_remove(c, id, idlen);
			if (r != 0 && r != SHCTX_E_NOTFOUND)
				rep->bad++;
		}
		if (i % 1000 == 0 && shctx_check(c) != 0)
			rep->bad++;
	}
}

static void
test_multiprocess(void)
{
	struct shctx *c = shctx_create(MP_SLOTS, MP_DATA);
	struct mp_report *rep, sum = { 0, 0, 0, 0 };
	unsigned char id[SHCTX_ID_MAX], buf[MP_DATA];
	struct shctx_stats st;
	pid_t pid[MP_CHILDREN];
	int i, r, status, found = 0, bad = 0, go[2];
	char b;

	rep = mmap(NULL, sizeof(*rep) * MP_CHILDREN, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(c != NULL && rep != MAP_FAILED);
	if (c == NULL || rep == MAP_FAILED || pipe(go) != 0) {
		CHECK(!"setup");
		return;
	}
	/* The children all start when the pipe is closed, to overlap. */
	for (i = 0; i < MP_CHILDREN; i++) {
		if ((pid[i] = fork()) == 0) {
			close(go[1]);
			alarm(TIMEOUT);
			if (read(go[0], &b, 1) != 0)
				_exit(1);
			mp_child(c, &rep[i], 1000 + (uint64_t)i);
			_exit(rep[i].bad == 0 ? 0 : 1);
		}
		CHECK(pid[i] > 0);
	}
	close(go[0]);
	close(go[1]);
	alarm(TIMEOUT + 5);
	for (i = 0; i < MP_CHILDREN; i++) {
		if (pid[i] <= 0 || waitpid(pid[i], &status, 0) != pid[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
		sum.stores += rep[i].stores;
		sum.lookups += rep[i].lookups;
		sum.hits += rep[i].hits;
		sum.bad += rep[i].bad;
	}
	CHECK(bad == 0);		/* every child ran and exited 0 */
	CHECK(sum.bad == 0);
	if (bad != 0 || sum.bad != 0) {	/* the cache may be in any state */
		alarm(0);
		munmap(rep, sizeof(*rep) * MP_CHILDREN);
		return;
	}
	CHECK(sum.stores > 0 && sum.hits > 0 && sum.hits < sum.lookups);
	stats(c, &st);
	/* counters are only updated under the lock: none may be lost */
	CHECK(st.stores == sum.stores);
	CHECK(st.hits == sum.hits && st.hits + st.misses == sum.lookups);
	CHECK(st.evictions > 0 && st.recoveries == 0);
	CHECK(st.entries <= st.capacity && st.capacity == MP_SLOTS);
	CHECK(shctx_check(c) == 0);
	for (i = 0; i < MP_IDS; i++) {
		size_t idlen = id_make((uint32_t)i, id);

		r = shctx_lookup(c, id, idlen, buf, sizeof(buf));
		if (r > 0 && blob_ok((uint32_t)i, buf, (size_t)r, MP_DATA))
			found++;
		else if (r != SHCTX_E_NOTFOUND)
			bad++;
	}
	CHECK(bad == 0);
	CHECK((unsigned)found == st.entries);
	alarm(0);
	munmap(rep, sizeof(*rep) * MP_CHILDREN);
	shctx_destroy(c);
}

/* Fork a child that takes the lock, tells us over a pipe, then either
 * exits after a while (we block on the lock meanwhile) or waits to be
 * SIGKILLed. Returns the child's pid once it holds the lock, or -1. */
static pid_t
spawn_holder(struct shctx *c, int wait_for_kill)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	int fd[2];
	pid_t pid;
	char b = 0;

	if (pipe(fd) != 0)
		return -1;
	if ((pid = fork()) == 0) {
		close(fd[0]);
		if (shctx_lock_for_test(c) != 0)
			_exit(1);
		if (write(fd[1], "L", 1) != 1)
			_exit(1);
		if (wait_for_kill)
			for (;;)
				pause();
		nanosleep(&ts, NULL);
		_exit(0);		/* dies holding the lock */
	}
	close(fd[1]);
	if (pid > 0 && read(fd[0], &b, 1) != 1)
		pid = -1;
	close(fd[0]);
	return b == 'L' ? pid : -1;
}

static void
test_robust_lock(void)
{
	struct shctx *c = shctx_create(16, 64);
	struct shctx_stats st;
	pid_t pid;
	int status;
	uint32_t n;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	for (n = 0; n < 8; n++)
		CHECK(put(c, n, 0) == 0);

	/* The holder exits while we are blocked on the lock. */
	pid = spawn_holder(c, 0);
	CHECK(pid > 0);
	alarm(TIMEOUT);
	CHECK(put(c, 100, 0) == 0);
	CHECK(get(c, 100) == 1);
	alarm(0);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	stats(c, &st);
	CHECK(st.recoveries == 1);
	CHECK(st.entries == 1);		/* wiped, then our store */
	CHECK(get(c, 0) == 0);
	CHECK(shctx_check(c) == 0);

	/* The holder is SIGKILLed before we try the lock. */
	for (n = 0; n < 8; n++)
		CHECK(put(c, n, 0) == 0);
	pid = spawn_holder(c, 1);
	CHECK(pid > 0);
	if (pid > 0) {
		kill(pid, SIGKILL);
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	}
	alarm(TIMEOUT);
	CHECK(get(c, 3) == 0);		/* the lookup recovers and misses */
	CHECK(put(c, 101, 0) == 0);
	CHECK(get(c, 101) == 1);
	alarm(0);
	stats(c, &st);
	CHECK(st.recoveries == 2 && st.entries == 1);
	CHECK(shctx_check(c) == 0);
	for (n = 0; n < 40; n++)
		CHECK(put(c, n, 1) == 0);
	stats(c, &st);
	CHECK(st.entries == 16 && st.recoveries == 2);
	CHECK(shctx_check(c) == 0);
	shctx_destroy(c);
}

int
main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	test_create_args();
	test_basic();
	test_replace();
	test_prefix_ids();
	test_refused();
	test_lru();
	test_multiprocess();
	test_robust_lock();
	return unit_summary();
}
