/* test_record.c - unit tests of record.c and its hand-over from OpenSSL
 * (tls_detach): a real OpenSSL client handshakes with stud's server
 * context, then reads what record.c seals and writes what it opens, for
 * every AEAD suite of TLS 1.2 and 1.3, with KeyUpdate, close_notify,
 * renegotiation, tampering and malformed records; AES-GCM both through
 * aesgcm.c and through EVP. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "configuration.h"
#include "record.h"
#include "tls.h"
#include "tls_fixture.h"
#include "unit.h"

static SSL_CTX		*server_ctx;
static SSL_CTX		*client_ctx;

/* One connection: the client's two memory BIOs, the server end of a BIO
 * pair (wire: the test's end) and the server's record state. */
struct link {
	SSL		*client;
	BIO		*c_in;		/* what the client will read */
	BIO		*c_out;		/* what the client wrote */
	SSL		*server;
	BIO		*wire;
	struct rec_state rs;
};

static void
make_contexts(void)
{
	server_ctx = fixture_server_ctx(NULL);
	client_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
}

/* Move what each side wrote to the other. */
static void
shuttle(struct link *l)
{
	unsigned char buf[65536];
	int n;

	while ((n = BIO_read(l->c_out, buf, sizeof(buf))) > 0)
		BIO_write(l->wire, buf, n);
	while ((n = BIO_read(l->wire, buf, sizeof(buf))) > 0)
		BIO_write(l->c_in, buf, n);
}

/* Handshake version (TLS1_2_VERSION, TLS1_3_VERSION) with one suite. */
static int
link_open(struct link *l, int version, const char *suite)
{
	BIO *sbio;
	int i, cd = 0, sd = 0;

	memset(l, 0, sizeof(*l));
	l->client = SSL_new(client_ctx);
	SSL_set_min_proto_version(l->client, version);
	SSL_set_max_proto_version(l->client, version);
	if (version == TLS1_3_VERSION)
		SSL_set_ciphersuites(l->client, suite);
	else
		SSL_set_cipher_list(l->client, suite);
	fixture_client_bios(l->client, &l->c_in, &l->c_out);
	BIO_new_bio_pair(&sbio, 0, &l->wire, 0);
	l->server = tls_session_new(server_ctx, sbio, &l->rs);
	for (i = 0; i < 20 && !(cd && sd); i++) {
		if (!cd)
			cd = SSL_do_handshake(l->client) == 1;
		shuttle(l);
		if (!sd)
			sd = tls_handshake(l->server) == 1;
		shuttle(l);
	}
	ERR_clear_error();
	return cd && sd ? 0 : -1;
}

static void
link_close(struct link *l)
{
	SSL_free(l->client);
	if (l->server != NULL)
		SSL_free(l->server);
	BIO_free(l->wire);
	rec_wipe(&l->rs);
}

/* Hand the server's records to record.c. */
static int
link_detach(struct link *l)
{
	int r = tls_detach(l->server, &l->rs);

	if (r == 1) {
		SSL_free(l->server);
		l->server = NULL;
	}
	return r;
}

/* Open every record the client wrote; append application data to out.
 * Returns its length, or -alert; handshake and alert results land in
 * *flags (REC_PH_* | 0x100 per close_notify). */
static long
server_reads(struct link *l, unsigned char *out, size_t room, int *flags)
{
	static unsigned char in[1 << 20];
	unsigned char plain[REC_OPEN_ROOM];
	size_t have = 0, off = 0, got = 0;
	unsigned type;
	long n, len;
	int r;

	*flags = 0;
	while ((n = BIO_read(l->c_out, in + have, (int)(sizeof(in) - have)))
	    > 0)
		have += (size_t)n;
	while (off < have) {
		if ((n = rec_frame(in + off, have - off)) <= 0)
			return n < 0 ? n : -1000;
		if ((len = rec_open(&l->rs, in + off, (size_t)n, plain,
		    &type)) < 0)
			return len;
		off += (size_t)n;
		if (type == REC_APPDATA) {
			if (got + (size_t)len > room)
				return -2000;
			memcpy(out + got, plain, (size_t)len);
			got += (size_t)len;
		} else if (type == REC_ALERT)
			*flags |= len == 2 && plain[1] == 0 ? 0x100 : 0x200;
		else if ((r = rec_handshake(&l->rs, plain, (size_t)len)) < 0)
			return r;
		else
			*flags |= r;
	}
	return (long)got;
}

/* Seal data as records of at most REC_PLAIN_MAX and give them to the
 * client. Returns 0 or -1. */
static int
server_writes(struct link *l, unsigned type, const unsigned char *data,
    size_t len)
{
	unsigned char rec[REC_HEAD_MAX + REC_PLAIN_MAX + REC_TAIL_MAX];
	size_t hl = rec_head_len(&l->rs), n;
	long r;

	do {
		n = len < REC_PLAIN_MAX ? len : REC_PLAIN_MAX;
		memcpy(rec + hl, data, n);
		if ((r = rec_seal(&l->rs, type, rec, n)) < 0)
			return -1;
		BIO_write(l->c_in, rec, (int)r);
		data += n;
		len -= n;
	} while (len > 0);
	return 0;
}

/* The client reads exactly len bytes; 1 if they equal want. */
static int
client_gets(struct link *l, const unsigned char *want, size_t len)
{
	static unsigned char buf[1 << 20];
	size_t got = 0;
	int n;

	while (got < len && (n = SSL_read(l->client, buf + got,
	    (int)(len - got))) > 0)
		got += (size_t)n;
	ERR_clear_error();
	return got == len && memcmp(buf, want, len) == 0;
}

static unsigned char pattern[200000];

/* Both ways, several sizes, one connection. */
static void
exchange(struct link *l)
{
	static const size_t sizes[] = { 1, 2, 100, 16383, 16384, 16385,
	    70000, 200000 };
	static unsigned char got[1 << 18];
	size_t i;
	int flags;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CHECK(SSL_write(l->client, pattern, (int)sizes[i]) ==
		    (int)sizes[i]);
		CHECK(server_reads(l, got, sizeof(got), &flags) ==
		    (long)sizes[i]);
		CHECK(memcmp(got, pattern, sizes[i]) == 0);
		CHECK(flags == 0);
		CHECK(server_writes(l, REC_APPDATA, pattern, sizes[i]) == 0);
		CHECK(client_gets(l, pattern, sizes[i]));
	}
}

static const struct suite {
	int		 version;
	const char	*name;
} suites[] = {
	{ TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256" },
	{ TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384" },
	{ TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256" },
	{ TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256" },
	{ TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384" },
	{ TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305" },
};
#define NSUITES (sizeof(suites) / sizeof(suites[0]))

/* Every suite: hand-over right after the handshake, then data both ways,
 * then close_notify both ways. */
static void
test_suites(void)
{
	unsigned char got[16];
	struct link l;
	size_t i;
	int flags;

	for (i = 0; i < NSUITES; i++) {
		CHECK(link_open(&l, suites[i].version, suites[i].name) == 0);
		CHECK(link_detach(&l) == 1);
		exchange(&l);
		/* the client's close_notify */
		CHECK(SSL_shutdown(l.client) == 0);
		CHECK(server_reads(&l, got, sizeof(got), &flags) == 0);
		CHECK(flags == 0x100);
		/* ours: the client sees a clean end */
		{
			unsigned char rec[REC_HEAD_MAX + 2 + REC_TAIL_MAX];
			long n = rec_seal_alert(&l.rs, rec, 1,
			    REC_CLOSE_NOTIFY);

			CHECK(n > 0);
			BIO_write(l.c_in, rec, (int)n);
		}
		CHECK(SSL_read(l.client, got, 1) == 0);
		CHECK(SSL_get_error(l.client, 0) == SSL_ERROR_ZERO_RETURN);
		link_close(&l);
	}
}

/* Client data OpenSSL already read: no hand-over while it holds some; the
 * records it opened count in the sequence numbers. */
static void
test_detach_after_openssl_read(void)
{
	unsigned char buf[64];
	struct link l;
	size_t i;

	for (i = 0; i < NSUITES; i++) {
		CHECK(link_open(&l, suites[i].version, suites[i].name) == 0);
		CHECK(SSL_write(l.client, "one", 3) == 3);
		CHECK(SSL_write(l.client, "two", 3) == 3);
		shuttle(&l);
		/* OpenSSL reads ahead both records, returns the first */
		CHECK(SSL_read(l.server, buf, sizeof(buf)) == 3);
		CHECK(tls_detach(l.server, &l.rs) == 0);
		CHECK(SSL_read(l.server, buf, sizeof(buf)) == 3);
		CHECK(memcmp(buf, "two", 3) == 0);
		/* and one reply sealed by OpenSSL before the hand-over */
		CHECK(SSL_write(l.server, "r1", 2) == 2);
		shuttle(&l);
		CHECK(link_detach(&l) == 1);
		CHECK(client_gets(&l, (const unsigned char *)"r1", 2));
		exchange(&l);
		link_close(&l);
	}
}

/* TLS 1.3 KeyUpdate: the client's (asking for ours, or not), ours, and one
 * that went by before the hand-over. */
static void
test_key_update(void)
{
	unsigned char got[64];
	struct link l;
	size_t i;
	int flags;
	uint64_t kid;

	for (i = 0; i < 3; i++) {
		CHECK(link_open(&l, TLS1_3_VERSION, suites[i].name) == 0);
		CHECK(link_detach(&l) == 1);
		CHECK(SSL_key_update(l.client, SSL_KEY_UPDATE_REQUESTED) == 1);
		CHECK(SSL_write(l.client, "after", 5) == 5);
		CHECK(server_reads(&l, got, sizeof(got), &flags) == 5);
		CHECK(memcmp(got, "after", 5) == 0);
		CHECK(flags == REC_PH_UPDATE_REQUESTED);
		CHECK(l.rs.rd.seq == 1);	/* new key: numbering restarts */
		kid = l.rs.wr.kid;
		{
			unsigned char rec[64];
			long n = rec_seal_key_update(&l.rs, rec);

			CHECK(n > 0);
			BIO_write(l.c_in, rec, (int)n);
		}
		CHECK(l.rs.wr.seq == 0 && l.rs.wr.kid != kid);
		CHECK(server_writes(&l, REC_APPDATA, (const unsigned char *)
		    "new key", 7) == 0);
		CHECK(client_gets(&l, (const unsigned char *)"new key", 7));
		/* not asking for ours */
		CHECK(SSL_key_update(l.client, SSL_KEY_UPDATE_NOT_REQUESTED) ==
		    1);
		CHECK(SSL_write(l.client, "x", 1) == 1);
		CHECK(server_reads(&l, got, sizeof(got), &flags) == 1);
		CHECK(flags == 0);
		exchange(&l);
		link_close(&l);
	}
	/* a KeyUpdate OpenSSL saw: its secrets are outdated, no hand-over */
	CHECK(link_open(&l, TLS1_3_VERSION, suites[0].name) == 0);
	CHECK(SSL_key_update(l.client, SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
	CHECK(SSL_write(l.client, "x", 1) == 1);
	shuttle(&l);
	CHECK(SSL_read(l.server, got, sizeof(got)) == 1);
	CHECK(link_detach(&l) == -1);
	link_close(&l);
	/* a worn key asks for an update */
	memset(&l.rs, 0, sizeof(l.rs));
	l.rs.version = REC_TLS13;
	l.rs.wr.seq = REC_KEY_UPDATE_AFTER - 1;
	CHECK(!rec_wants_key_update(&l.rs));
	l.rs.wr.seq++;
	CHECK(rec_wants_key_update(&l.rs));
	l.rs.version = REC_TLS12;
	CHECK(!rec_wants_key_update(&l.rs));
}

/* Suites, lengths and versions record.c does not do stay with OpenSSL. */
static void
test_no_detach(void)
{
	SSL_CTX *keep;
	struct link l;

	/* a CBC suite (stud's default list has none) */
	CHECK(SSL_CTX_set_cipher_list(server_ctx, "ALL") == 1);
	CHECK(link_open(&l, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256") == 0);
	CHECK(link_detach(&l) == -1);
	link_close(&l);
	/* the client asked for short records */
	keep = client_ctx;
	client_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_tlsext_max_fragment_length(client_ctx,
	    TLSEXT_max_fragment_length_1024);
	CHECK(link_open(&l, TLS1_2_VERSION,
	    "ECDHE-ECDSA-AES128-GCM-SHA256") == 0);
	CHECK(link_detach(&l) == -1);
	link_close(&l);
	SSL_CTX_free(client_ctx);
	client_ctx = keep;
}

/* TLS 1.2: a ClientHello after the hand-over is a renegotiation to refuse. */
static void
test_renegotiation(void)
{
	unsigned char got[64];
	struct link l;
	int flags;

	CHECK(link_open(&l, TLS1_2_VERSION,
	    "ECDHE-ECDSA-AES128-GCM-SHA256") == 0);
	CHECK(link_detach(&l) == 1);
	CHECK(SSL_renegotiate(l.client) == 1);
	SSL_do_handshake(l.client);
	CHECK(server_reads(&l, got, sizeof(got), &flags) == 0);
	CHECK(flags == REC_PH_RENEGOTIATE);
	ERR_clear_error();
	link_close(&l);
}

/* Tampered, replayed and impossible records are refused. */
static void
test_bad_records(void)
{
	static unsigned char out[1 << 16];
	unsigned char rec[256], plain[REC_OPEN_ROOM];
	struct link l;
	unsigned type;
	size_t i;
	int n;

	for (i = 0; i < NSUITES; i++) {
		CHECK(link_open(&l, suites[i].version, suites[i].name) == 0);
		CHECK(link_detach(&l) == 1);
		CHECK(SSL_write(l.client, "secret", 6) == 6);
		n = BIO_read(l.c_out, rec, sizeof(rec));
		CHECK(n > 5 && rec_frame(rec, (size_t)n) == n);
		/* every byte after the header flipped in turn */
		{
			int j;
			unsigned char bad[256];
			int refused = 0;

			for (j = 5; j < n; j++) {
				memcpy(bad, rec, (size_t)n);
				bad[j] ^= 0x40;
				refused += rec_open(&l.rs, bad, (size_t)n,
				    plain, &type) == -REC_BAD_RECORD_MAC;
			}
			CHECK(refused == n - 5);
		}
		CHECK(rec_open(&l.rs, rec, (size_t)n, plain, &type) == 6);
		/* replayed: the sequence number moved on */
		CHECK(rec_open(&l.rs, rec, (size_t)n, plain, &type) ==
		    -REC_BAD_RECORD_MAC);
		/* truncated below a tag */
		CHECK(rec_open(&l.rs, rec, 5 + 10, plain, &type) ==
		    -REC_BAD_RECORD_MAC);
		link_close(&l);
	}
	/* framing */
	memcpy(rec, "\x17\x03\x03\x00\x10", 5);
	CHECK(rec_frame(rec, 4) == 0);
	CHECK(rec_frame(rec, 5) == 0);
	CHECK(rec_frame(rec, 21) == 21);
	rec[0] = 24;
	CHECK(rec_frame(rec, 21) == -REC_UNEXPECTED_MESSAGE);
	rec[0] = 0x17;
	rec[1] = 2;
	CHECK(rec_frame(rec, 21) == -REC_DECODE_ERROR);
	rec[1] = 3;
	rec[3] = 0x41;		/* 16640 > 2^14 + 256 - 5 */
	rec[4] = 0x01;
	CHECK(rec_frame(rec, 21) == -REC_RECORD_OVERFLOW);
	(void)out;
}

/* Two record states facing each other (one's write keys are the other's
 * read keys): TLS 1.3 inner plaintext rules and overflow. */
static void
facing(struct rec_state *a, struct rec_state *b, enum rec_aead aead)
{
	memset(a, 0, sizeof(*a));
	memset(a->rd.secret, 1, sizeof(a->rd.secret));
	memset(a->wr.secret, 2, sizeof(a->wr.secret));
	*b = *a;
	memcpy(b->rd.secret, a->wr.secret, sizeof(a->wr.secret));
	memcpy(b->wr.secret, a->rd.secret, sizeof(a->rd.secret));
	CHECK(rec_start13(a, aead, 0) == 0);
	CHECK(rec_start13(b, aead, 0) == 0);
}

static void
test_inner_plaintext(void)
{
	static unsigned char rec[REC_HEAD_MAX + REC_PLAIN_MAX + 300];
	unsigned char plain[REC_OPEN_ROOM];
	struct rec_state a, b;
	unsigned type;
	long n;

	facing(&a, &b, REC_AES_128_GCM);
	/* padding: "abc", type 23, zeros, sealed with an outer type 0 */
	memcpy(rec + 5, "abc\x17\0\0\0", 7);
	n = rec_seal(&a, 0, rec, 7);
	CHECK(rec_open(&b, rec, (size_t)n, plain, &type) == 3);
	CHECK(type == REC_APPDATA && memcmp(plain, "abc", 3) == 0);
	/* all zeros: no content type */
	memset(rec + 5, 0, 4);
	n = rec_seal(&a, 0, rec, 4);
	CHECK(rec_open(&b, rec, (size_t)n, plain, &type) ==
	    -REC_UNEXPECTED_MESSAGE);
	/* an inner type that cannot follow the handshake */
	facing(&a, &b, REC_CHACHA20_POLY1305);
	rec[5] = 'x';
	n = rec_seal(&a, REC_CHANGE_CIPHER_SPEC, rec, 1);
	CHECK(rec_open(&b, rec, (size_t)n, plain, &type) ==
	    -REC_UNEXPECTED_MESSAGE);
	/* a record above 2^14 + 1 inner bytes */
	facing(&a, &b, REC_AES_256_GCM);
	memset(rec + 5, 'y', REC_PLAIN_MAX);
	n = rec_seal(&a, REC_APPDATA, rec, REC_PLAIN_MAX);
	CHECK(n == 5 + REC_PLAIN_MAX + 1 + 16);
	CHECK(rec_open(&b, rec, (size_t)n, plain, &type) == REC_PLAIN_MAX);
	CHECK(rec_seal(&a, REC_APPDATA, rec, REC_PLAIN_MAX + 1) == -1);
	rec[3] = (unsigned char)((n - 5 + 1) >> 8);
	rec[4] = (unsigned char)(n - 5 + 1);
	CHECK(rec_open(&b, rec, (size_t)n + 1, plain, &type) ==
	    -REC_RECORD_OVERFLOW);
	/* handshake messages: fragments, strays, malformed KeyUpdates */
	CHECK(rec_handshake(&b, (const unsigned char *)"\x18\0\0", 3) ==
	    -REC_UNEXPECTED_MESSAGE);
	CHECK(rec_handshake(&b, (const unsigned char *)"\x18\0\0\x01", 4) ==
	    -REC_UNEXPECTED_MESSAGE);
	CHECK(rec_handshake(&b, (const unsigned char *)"\x04\0\0\x01\0", 5) ==
	    -REC_UNEXPECTED_MESSAGE);
	CHECK(rec_handshake(&b, (const unsigned char *)"\x18\0\0\x01\x02", 5)
	    == -REC_DECODE_ERROR);
	CHECK(rec_handshake(&b, (const unsigned char *)
	    "\x18\0\0\x01\x00\x18\0\0\x01\x00", 10) == -REC_UNEXPECTED_MESSAGE);
	CHECK(rec_handshake(&b, (const unsigned char *)"\x18\0\0\x01\x01", 5)
	    == REC_PH_UPDATE_REQUESTED);
	rec_wipe(&a);
	rec_wipe(&b);
}

int
main(void)
{
	size_t i;
	int own;

	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = (unsigned char)(i * 7 + i / 251);
	CHECK(rec_init() == 0);
	make_contexts();
	/* AES-GCM through aesgcm.c (if this CPU has it), then through EVP */
	for (own = 1; own >= 0; own--) {
		printf("AES-GCM through %s\n", rec_use_aesgcm(own) ?
		    "aesgcm.c" : "EVP");
		test_suites();
		test_detach_after_openssl_read();
		test_key_update();
		test_bad_records();
		test_inner_plaintext();
	}
	test_no_detach();
	test_renegotiation();
	/* --x25519=openssl: OpenSSL derives, the key log gives the TLS 1.3
	 * secrets to the hand-over */
	SSL_CTX_free(server_ctx);
	server_ctx = fixture_server_ctx("openssl");
	printf("TLS 1.3 secrets from the key log\n");
	test_suites();
	SSL_CTX_free(server_ctx);
	SSL_CTX_free(client_ctx);
	rec_cleanup();
	return unit_summary();
}
