
/*
 * ngx_thim: waking the requests that wait on a fetch when it lands (see
 * ngx_thim_wake.h).
 *
 * Why a socket of each worker's own, found by name, and not descriptors
 * made before the fork: workers of two generations share a zone during a
 * reload (the old ones drain), and a worker respawned after a crash is
 * forked from a master that knows nothing of the others' state; a name
 * made of a pid and a nonce kept in the zone reaches any live worker of
 * any generation, and a dead one's name is simply not bound.  Nothing a
 * datagram says is trusted: it only makes its receiver look at the zone
 * for the waiters of a key, as the poll does.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <sys/un.h>

#include "ngx_thim_cache.h"
#include "ngx_thim_wake.h"


/* a key of a zone in the table of waiters */
#define ngx_http_thim_wake_id(shpool, hash)                                   \
    ((ngx_rbtree_key_t) (hash)                                                \
     ^ ((ngx_rbtree_key_t) (uintptr_t) (shpool) << 20))


/* hashes of landed keys in one datagram */
#define NGX_HTTP_THIM_WAKE_BATCH       120


typedef struct {
    uint64_t                     shpool;       /* the zone, by its address:
                                                  the same in every worker */
    uint32_t                     n;
    uint32_t                     hash[NGX_HTTP_THIM_WAKE_BATCH];
} ngx_http_thim_wake_msg_t;


/* a fetch that ended, and the workers whose requests wait on it */
typedef struct {
    ngx_slab_pool_t             *shpool;
    ngx_http_thim_wake_table_t  *table;
    uint64_t                     own;          /* this worker's bit */
    uint64_t                     mask;
    uint32_t                     hash;
} ngx_http_thim_wake_landed_t;


/*
 * This worker's requests waiting on one key.  Two keys (or zones) that
 * share a node only cost a wake-up for nothing to the other's waiters.
 */
typedef struct {
    ngx_rbtree_node_t            node;         /* ngx_http_thim_wake_id() */
    ngx_slab_pool_t             *shpool;
    ngx_queue_t                  waiters;      /* ngx_http_thim_ctx_t */
} ngx_http_thim_wake_key_t;


static ngx_int_t ngx_http_thim_wake_open(ngx_cycle_t *cycle);
static void ngx_http_thim_wake_join(ngx_http_thim_zone_t *ctx,
    ngx_log_t *log);
static void ngx_http_thim_wake_leave(ngx_http_thim_zone_t *ctx);
static ngx_http_thim_zone_t **ngx_http_thim_wake_zones(ngx_cycle_t *cycle,
    ngx_uint_t *n);
static socklen_t ngx_http_thim_wake_addr(struct sockaddr_un *sa,
    ngx_atomic_uint_t pid, ngx_atomic_uint_t nonce);
static void ngx_http_thim_wake_flush(ngx_event_t *ev);
static void ngx_http_thim_wake_tell(ngx_http_thim_wake_landed_t *l,
    ngx_uint_t n, ngx_uint_t row);
static void ngx_http_thim_wake_send(ngx_http_thim_wake_row_t *row,
    ngx_http_thim_wake_msg_t *msg);
static void ngx_http_thim_wake_read(ngx_event_t *rev);
static void ngx_http_thim_wake_overflowed(void);
static void ngx_http_thim_wake_local(ngx_slab_pool_t *shpool,
    uint32_t hash);
static void ngx_http_thim_wake_key(ngx_http_thim_wake_key_t *wk);
static ngx_http_thim_wake_key_t *ngx_http_thim_wake_find(
    ngx_slab_pool_t *shpool, uint32_t hash);


static ngx_connection_t   *ngx_http_thim_wake_conn;
static ngx_atomic_uint_t   ngx_http_thim_wake_nonce;
static ngx_array_t        *ngx_http_thim_wake_pending;
static ngx_event_t         ngx_http_thim_wake_flush_ev;
static ngx_rbtree_t        ngx_http_thim_wake_tree;
static ngx_rbtree_node_t   ngx_http_thim_wake_sentinel;


/*
 * In a worker: its socket, and a row in each zone's table.  A worker
 * without either polls as before (every NGX_HTTP_THIM_POLL_INTERVAL).
 */

ngx_int_t
ngx_http_thim_wake_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t              i, n;
    ngx_http_thim_zone_t  **zones;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    zones = ngx_http_thim_wake_zones(cycle, &n);
    if (n == 0) {
        return NGX_OK;
    }

    ngx_rbtree_init(&ngx_http_thim_wake_tree, &ngx_http_thim_wake_sentinel,
                    ngx_rbtree_insert_value);

    ngx_http_thim_wake_pending = ngx_array_create(cycle->pool, 16,
                                        sizeof(ngx_http_thim_wake_landed_t));
    if (ngx_http_thim_wake_pending == NULL) {
        return NGX_ERROR;
    }

    ngx_http_thim_wake_flush_ev.handler = ngx_http_thim_wake_flush;
    ngx_http_thim_wake_flush_ev.log = cycle->log;

    if (ngx_http_thim_wake_open(cycle) != NGX_OK) {
        return NGX_OK;
    }

    for (i = 0; i < n; i++) {
        ngx_http_thim_wake_join(zones[i], cycle->log);
    }

    return NGX_OK;
}


/* the rows go, fetches ended here are told first, the socket closes */

void
ngx_http_thim_wake_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t              i, n;
    ngx_http_thim_zone_t  **zones;

    ngx_http_thim_wake_now();

    zones = ngx_http_thim_wake_zones(cycle, &n);

    for (i = 0; i < n; i++) {
        ngx_http_thim_wake_leave(zones[i]);
    }

    if (ngx_http_thim_wake_conn) {
        ngx_close_connection(ngx_http_thim_wake_conn);
        ngx_http_thim_wake_conn = NULL;
    }

    ngx_http_thim_wake_pending = NULL;
}


static ngx_int_t
ngx_http_thim_wake_open(ngx_cycle_t *cycle)
{
    socklen_t            len;
    ngx_socket_t         s;
    ngx_connection_t    *c;
    struct sockaddr_un   sa;

    s = socket(AF_UNIX, SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0);

    if (s == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "thim: socket() for wake-ups failed");
        return NGX_ERROR;
    }

    ngx_http_thim_wake_nonce = ((ngx_atomic_uint_t) ngx_random() << 16)
                               ^ (ngx_atomic_uint_t) ngx_random();

    len = ngx_http_thim_wake_addr(&sa, ngx_pid, ngx_http_thim_wake_nonce);

    if (bind(s, (struct sockaddr *) &sa, len) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "thim: bind() of the wake-up socket failed");
        ngx_close_socket(s);
        return NGX_ERROR;
    }

    c = ngx_get_connection(s, cycle->log);
    if (c == NULL) {
        ngx_close_socket(s);
        return NGX_ERROR;
    }

    c->pool = cycle->pool;

    /* like nginx's channel: not a client's, left alone at shutdown */
    c->read->channel = 1;
    c->write->channel = 1;
    c->read->log = cycle->log;
    c->write->log = cycle->log;
    c->read->handler = ngx_http_thim_wake_read;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_close_connection(c);
        return NGX_ERROR;
    }

    ngx_http_thim_wake_conn = c;

    return NGX_OK;
}


/*
 * A free row, or one of a worker that died without leaving it (it was
 * killed): its pid no longer exists.  A dead worker's bits left on
 * entries only cost whoever has its row a wake-up for nothing.
 */

static void
ngx_http_thim_wake_join(ngx_http_thim_zone_t *ctx, ngx_log_t *log)
{
    ngx_int_t                  row;
    ngx_uint_t                 i;
    ngx_http_thim_wake_row_t  *rows;

    rows = ctx->sh->wake.rows;
    row = -1;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (i = 0; row == -1 && i < NGX_HTTP_THIM_WAKE_ROWS; i++) {
        if (rows[i].pid == 0) {
            row = i;
        }
    }

    for (i = 0; row == -1 && i < NGX_HTTP_THIM_WAKE_ROWS; i++) {
        if (kill((ngx_pid_t) rows[i].pid, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            row = i;
        }
    }

    if (row != -1) {
        rows[row].nonce = ngx_http_thim_wake_nonce;
        rows[row].overflow = 0;
        rows[row].pid = ngx_pid;

        ctx->wake_row = row;
        ctx->wake_mask = (uint64_t) 1 << row;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (row == -1) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "thim zone \"%V\": more than %d workers, this one's "
                      "waiting requests poll", &ctx->name,
                      NGX_HTTP_THIM_WAKE_ROWS);
    }
}


static void
ngx_http_thim_wake_leave(ngx_http_thim_zone_t *ctx)
{
    ngx_http_thim_wake_row_t  *row;

    if (ctx->wake_mask == 0) {
        return;
    }

    row = &ctx->sh->wake.rows[ctx->wake_row];

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (row->pid == (ngx_atomic_uint_t) ngx_pid) {
        row->pid = 0;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ctx->wake_mask = 0;
}


static ngx_http_thim_zone_t **
ngx_http_thim_wake_zones(ngx_cycle_t *cycle, ngx_uint_t *n)
{
    ngx_uint_t                   i;
    ngx_shm_zone_t             **shm;
    ngx_http_thim_main_conf_t   *tmcf;

    static ngx_http_thim_zone_t  *zones[16];

    *n = 0;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_thim_module);
    if (tmcf == NULL) {
        return zones;
    }

    shm = tmcf->zones.elts;

    for (i = 0; i < tmcf->zones.nelts && *n < 16; i++) {
        zones[(*n)++] = shm[i]->data;
    }

    return zones;
}


/* a worker's name in the abstract namespace (sun_path[0] is 0) */

static socklen_t
ngx_http_thim_wake_addr(struct sockaddr_un *sa, ngx_atomic_uint_t pid,
    ngx_atomic_uint_t nonce)
{
    u_char  *p;

    ngx_memzero(sa, sizeof(struct sockaddr_un));

    sa->sun_family = AF_UNIX;

    p = ngx_snprintf((u_char *) sa->sun_path + 1, sizeof(sa->sun_path) - 1,
                     "ngx_thim_wake/%uA/%xA", pid, nonce);

    return offsetof(struct sockaddr_un, sun_path)
           + (p - (u_char *) sa->sun_path);
}


/*
 * Called under the zone's lock by whoever ended a fetch (see
 * ngx_http_thim_cache_landed()): nothing is sent here, the landing is
 * noted and told once the handler that ended it returns.
 */

void
ngx_http_thim_wake_landed(ngx_slab_pool_t *shpool,
    ngx_http_thim_wake_table_t *table, uint64_t own, uint32_t hash,
    uint64_t mask)
{
    ngx_http_thim_wake_landed_t  *l;

    if (ngx_http_thim_wake_pending == NULL) {
        /* not a worker: nobody waits */
        return;
    }

    l = ngx_array_push(ngx_http_thim_wake_pending);
    if (l == NULL) {
        /* the waiters' fallback poll finds the outcome */
        return;
    }

    l->shpool = shpool;
    l->table = table;
    l->own = own;
    l->mask = mask;
    l->hash = hash;

    if (!ngx_http_thim_wake_flush_ev.posted) {
        ngx_post_event(&ngx_http_thim_wake_flush_ev, &ngx_posted_events);
    }
}


/*
 * What landed so far told at once, not at the end of the event loop's
 * pass (outside the zone's lock): a worker that stored an origin answer
 * lets the other workers' waiters be answered while it writes its own
 * request's answer and its own waiters'.
 */

void
ngx_http_thim_wake_now(void)
{
    if (ngx_http_thim_wake_flush_ev.posted) {
        ngx_delete_posted_event(&ngx_http_thim_wake_flush_ev);
        ngx_http_thim_wake_flush(&ngx_http_thim_wake_flush_ev);
    }
}


/*
 * Every fetch that ended since the last pass, told: for each zone and
 * each worker named, one datagram with the keys' hashes; this worker's
 * own waiters are woken here.
 */

static void
ngx_http_thim_wake_flush(ngx_event_t *ev)
{
    uint64_t                      rows;
    ngx_uint_t                    i, j, n, row;
    ngx_http_thim_wake_landed_t  *l;

    l = ngx_http_thim_wake_pending->elts;
    n = ngx_http_thim_wake_pending->nelts;

    for (i = 0; i < n; i++) {

        if (l[i].mask == 0) {
            continue;
        }

        /* every worker named for this zone from here on */
        rows = 0;

        for (j = i; j < n; j++) {
            if (l[j].shpool == l[i].shpool) {
                rows |= l[j].mask;
            }
        }

        for (row = 0; row < NGX_HTTP_THIM_WAKE_ROWS; row++) {
            if (rows & ((uint64_t) 1 << row)) {
                ngx_http_thim_wake_tell(&l[i], n - i, row);
            }
        }

        for (j = n - 1; j > i; j--) {
            if (l[j].shpool == l[i].shpool) {
                l[j].mask = 0;
            }
        }
    }

    ngx_http_thim_wake_pending->nelts = 0;
}


/* the keys of zone l[0] that worker "row" waits on */

static void
ngx_http_thim_wake_tell(ngx_http_thim_wake_landed_t *l, ngx_uint_t n,
    ngx_uint_t row)
{
    uint64_t                   bit;
    ngx_uint_t                 i;
    ngx_http_thim_wake_msg_t   msg;

    bit = (uint64_t) 1 << row;

    msg.shpool = (uintptr_t) l[0].shpool;
    msg.n = 0;

    for (i = 0; i < n; i++) {

        if (l[i].shpool != l[0].shpool || !(l[i].mask & bit)) {
            continue;
        }

        if (bit == l[0].own) {
            ngx_http_thim_wake_local(l[i].shpool, l[i].hash);
            continue;
        }

        msg.hash[msg.n++] = l[i].hash;

        if (msg.n == NGX_HTTP_THIM_WAKE_BATCH) {
            ngx_http_thim_wake_send(&l[0].table->rows[row], &msg);
            msg.n = 0;
        }
    }

    if (msg.n) {
        ngx_http_thim_wake_send(&l[0].table->rows[row], &msg);
    }
}


/*
 * A full queue (a busy receiver) loses the datagram: the receiver is
 * told to wake all its waiters of the zone instead, by a flag in its row
 * and an empty datagram that makes sure it looks at the flag.  A name
 * nobody holds is a worker that died: its row is freed.
 */

static void
ngx_http_thim_wake_send(ngx_http_thim_wake_row_t *row,
    ngx_http_thim_wake_msg_t *msg)
{
    size_t              size;
    socklen_t           len;
    ngx_err_t           err;
    ngx_atomic_uint_t   pid;
    struct sockaddr_un  sa;

    pid = row->pid;

    if (pid == 0 || ngx_http_thim_wake_conn == NULL) {
        return;
    }

    len = ngx_http_thim_wake_addr(&sa, pid, row->nonce);
    size = offsetof(ngx_http_thim_wake_msg_t, hash)
           + msg->n * sizeof(uint32_t);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "thim tells worker %uA of %uD landed keys", pid, msg->n);

    if (sendto(ngx_http_thim_wake_conn->fd, msg, size, 0,
               (struct sockaddr *) &sa, len)
        != -1)
    {
        return;
    }

    err = ngx_socket_errno;

    if (err == NGX_EAGAIN) {
        row->overflow = 1;
        msg->n = 0;

        (void) sendto(ngx_http_thim_wake_conn->fd, msg,
                      offsetof(ngx_http_thim_wake_msg_t, hash), 0,
                      (struct sockaddr *) &sa, len);
        return;
    }

    if (err == NGX_ECONNREFUSED || err == NGX_ENOENT) {
        (void) ngx_atomic_cmp_set(&row->pid, pid, 0);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, err,
                  "thim: sendto() of a wake-up to worker %uA failed", pid);
}


static void
ngx_http_thim_wake_read(ngx_event_t *rev)
{
    ssize_t                    n;
    ngx_uint_t                 i, count;
    ngx_err_t                  err;
    ngx_connection_t          *c;
    ngx_http_thim_wake_msg_t   msg;

    c = rev->data;

    for ( ;; ) {
        n = recv(c->fd, &msg, sizeof(msg), 0);

        if (n == -1) {
            err = ngx_socket_errno;

            if (err == NGX_EINTR) {
                continue;
            }

            if (err != NGX_EAGAIN) {
                ngx_log_error(NGX_LOG_ERR, rev->log, err,
                              "thim: recv() of a wake-up failed");
            }

            break;
        }

        if ((size_t) n < offsetof(ngx_http_thim_wake_msg_t, hash)) {
            continue;
        }

        count = ((size_t) n - offsetof(ngx_http_thim_wake_msg_t, hash))
                / sizeof(uint32_t);
        count = ngx_min(count, msg.n);

        for (i = 0; i < count; i++) {
            ngx_http_thim_wake_local((ngx_slab_pool_t *) (uintptr_t)
                                     msg.shpool, msg.hash[i]);
        }
    }

    ngx_http_thim_wake_overflowed();
}


/* a wake-up was lost: every waiter of the zone looks once */

static void
ngx_http_thim_wake_overflowed(void)
{
    ngx_uint_t                  i, n;
    ngx_rbtree_node_t          *node, *next;
    ngx_http_thim_zone_t      **zones;
    ngx_http_thim_wake_key_t   *wk;
    ngx_http_thim_wake_row_t   *row;

    zones = ngx_http_thim_wake_zones((ngx_cycle_t *) ngx_cycle, &n);

    for (i = 0; i < n; i++) {

        if (zones[i]->wake_mask == 0) {
            continue;
        }

        row = &zones[i]->sh->wake.rows[zones[i]->wake_row];

        if (row->overflow == 0 || !ngx_atomic_cmp_set(&row->overflow, 1, 0))
        {
            continue;
        }

        if (ngx_http_thim_wake_tree.root == &ngx_http_thim_wake_sentinel) {
            continue;
        }

        node = ngx_rbtree_min(ngx_http_thim_wake_tree.root,
                              &ngx_http_thim_wake_sentinel);

        while (node) {
            next = ngx_rbtree_next(&ngx_http_thim_wake_tree, node);
            wk = (ngx_http_thim_wake_key_t *) node;

            if (wk->shpool == zones[i]->shpool) {
                ngx_http_thim_wake_key(wk);
            }

            node = next;
        }
    }
}


static void
ngx_http_thim_wake_local(ngx_slab_pool_t *shpool, uint32_t hash)
{
    ngx_http_thim_wake_key_t  *wk;

    wk = ngx_http_thim_wake_find(shpool, hash);

    if (wk) {
        ngx_http_thim_wake_key(wk);
    }
}


/*
 * The key's waiters look at the zone now: their wait event is posted
 * (it runs ngx_http_thim_wait_handler(), which polls the entry), and
 * they leave the table; one that has to wait on comes back.
 */

static void
ngx_http_thim_wake_key(ngx_http_thim_wake_key_t *wk)
{
    ngx_queue_t          *q;
    ngx_http_thim_ctx_t  *ctx;

    while (!ngx_queue_empty(&wk->waiters)) {
        q = ngx_queue_head(&wk->waiters);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_thim_ctx_t, wake_link);
        ctx->wake_key = NULL;

        if (ctx->wait.timer_set) {
            ngx_del_timer(&ctx->wait);
        }

        ngx_post_event(&ctx->wait, &ngx_posted_events);
    }

    ngx_rbtree_delete(&ngx_http_thim_wake_tree, &wk->node);
    ngx_free(wk);
}


/*
 * The request waits on a fetch owned elsewhere (lookup: WAIT, with the
 * key's lease held, "hash" the key's crc32) or for a fetch slot of its
 * origin (NGX_HTTP_THIM_SLOT_HASH()): it is woken when the fetch lands
 * or a slot frees.  NGX_DECLINED: it cannot be (no row, no memory), it
 * polls.
 */

ngx_int_t
ngx_http_thim_wake_wait(ngx_http_thim_ctx_t *ctx, uint32_t hash)
{
    ngx_http_thim_zone_t      *zone;
    ngx_http_thim_wake_key_t  *wk;

    zone = ctx->zone->data;

    if (zone->wake_mask == 0 || ngx_http_thim_wake_pending == NULL) {
        return NGX_DECLINED;
    }

    if (ctx->wake_key) {
        return NGX_OK;
    }

    wk = ngx_http_thim_wake_find(zone->shpool, hash);

    if (wk == NULL) {
        wk = ngx_alloc(sizeof(ngx_http_thim_wake_key_t), ngx_cycle->log);
        if (wk == NULL) {
            return NGX_DECLINED;
        }

        wk->node.key = ngx_http_thim_wake_id(zone->shpool, hash);
        wk->shpool = zone->shpool;
        ngx_queue_init(&wk->waiters);

        ngx_rbtree_insert(&ngx_http_thim_wake_tree, &wk->node);
    }

    ngx_queue_insert_tail(&wk->waiters, &ctx->wake_link);
    ctx->wake_key = wk;

    return NGX_OK;
}


/* the request stops waiting (woken, answered or gone) */

void
ngx_http_thim_wake_cancel(ngx_http_thim_ctx_t *ctx)
{
    ngx_http_thim_wake_key_t  *wk;

    if (ctx->wait.posted) {
        ngx_delete_posted_event(&ctx->wait);
    }

    wk = ctx->wake_key;

    if (wk == NULL) {
        return;
    }

    ngx_queue_remove(&ctx->wake_link);
    ctx->wake_key = NULL;

    if (ngx_queue_empty(&wk->waiters)) {
        ngx_rbtree_delete(&ngx_http_thim_wake_tree, &wk->node);
        ngx_free(wk);
    }
}


static ngx_http_thim_wake_key_t *
ngx_http_thim_wake_find(ngx_slab_pool_t *shpool, uint32_t hash)
{
    ngx_rbtree_key_t    id;
    ngx_rbtree_node_t  *node, *sentinel;

    id = ngx_http_thim_wake_id(shpool, hash);

    node = ngx_http_thim_wake_tree.root;
    sentinel = ngx_http_thim_wake_tree.sentinel;

    while (node != sentinel) {

        if (id == node->key) {
            return (ngx_http_thim_wake_key_t *) node;
        }

        node = (id < node->key) ? node->left : node->right;
    }

    return NULL;
}
