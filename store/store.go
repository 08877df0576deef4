// Package store keeps triagem's durable state in SQLite: checkpoints, messages, decisions,
// the outbox and the hash-chained event log.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the database. Every write runs in one IMMEDIATE transaction through Tx.
type Store struct {
	db *sql.DB
	// Now is the clock; tests replace it.
	Now func() time.Time

	// writer is held by the one transaction that writes. SQLite allows one writer anyway;
	// queueing here instead of in SQLite's busy handler, which sleeps up to 100 ms between
	// tries, keeps the decider and the senders from stalling each other.
	writer chan struct{}
	// wconn is the one connection every write transaction uses. Each connection has its
	// own page cache, and SQLite drops a connection's whole cache when it sees that another
	// connection has written: spread over the pool, every commit emptied the caches of the
	// others, and the next transaction read its B-tree pages back with a system call each.
	wconn *sql.Conn

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
}

// Open opens (creating if needed) the database at path and applies pending migrations.
// Durability comes first: WAL with synchronous=FULL, so a committed row survives a crash.
func Open(path string) (*Store, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "busy_timeout(10000)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One writer at a time is SQLite's model; a small pool still lets readers proceed.
	db.SetMaxOpenConns(4)
	s := &Store{db: db, Now: time.Now, writer: make(chan struct{}, 1), stmts: map[string]*sql.Stmt{}}
	if s.wconn, err = db.Conn(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := s.migrate(context.Background()); err != nil {
		s.wconn.Close()
		db.Close()
		return nil, fmt.Errorf("migrate database %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
	s.stmtMu.Unlock()
	s.wconn.Close()
	return s.db.Close()
}

// stmt is query prepared once for the life of the Store. Preparing is not cheap: when
// triggers on events still kept the case index, SQLite compiled each into every INSERT,
// which cost more than running the statement (docs/PERFORMANCE.md). Only constant queries,
// or queries built from a few constant parts, come through here: each stays prepared.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts[query] = st
	return st, nil
}

// query runs a read through the pool with the Store's prepared statement for query. The
// readers of each pass (due sends, messages to move, undecided mail) compiled theirs at
// every call: 2.8 % of a backlog's CPU in-process (docs/PERFORMANCE.md, lesson 31).
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// DB exposes the handle for read-only queries (the log and audit commands).
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.Tx(ctx, func(tx *Tx) error {
			var n int
			if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", base, err)
			}
			_, err := tx.tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, tx.Now.UnixMilli())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Tx is one write transaction, with the time it started.
type Tx struct {
	s    *Store
	tx   *sql.Tx
	ctx  context.Context
	head *chainHead // the last event logged, once known
	// events are logged but not yet inserted; see flushEvents.
	events []pendingEvent
	sent   []sentMark // MarkSent calls not yet written; see flushSent
	// bound are the Store's statements bound to this transaction, each bound once:
	// database/sql's binding takes locks, allocates, and registers the bound statement
	// with the database, and a commit of 32 mails ran each statement dozens of times.
	bound map[string]*sql.Stmt
	// indexed are the (address, case) pairs this transaction has put in the case index.
	indexed map[[2]string]bool
	Now     time.Time
}

type chainHead struct {
	seq  int64
	hash string
}

// Tx runs fn in a transaction and commits it when fn returns nil. Transactions that write
// take turns; readers outside Tx never wait for them (WAL).
func (s *Store) Tx(ctx context.Context, fn func(*Tx) error) error {
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("begin transaction: %w", ctx.Err())
	}
	defer func() { <-s.writer }()
	return s.txLocked(ctx, fn)
}

func (s *Store) txLocked(ctx context.Context, fn func(*Tx) error) (err error) {
	sqlTx, err := s.wconn.BeginTx(ctx, nil)
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		// The pinned connection broke: take another from the pool, once.
		if c, cerr := s.db.Conn(ctx); cerr == nil {
			s.wconn.Close()
			s.wconn = c
			sqlTx, err = c.BeginTx(ctx, nil)
		}
	}
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if err != nil {
			if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				err = errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
			}
		}
	}()
	tx := &Tx{s: s, tx: sqlTx, ctx: ctx, Now: s.Now()}
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.flush(); err != nil {
		return err
	}
	if err = sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// TxEach runs every fn in one transaction, so that the commit (and its fsync) is shared:
// group commit. An fn's error rolls back its own writes only; the fns may then run twice,
// so they must do nothing but write through tx. It returns each fn's error, joined with the
// commit's: a failed commit fails them all, and none is told its writes are durable. It
// returns only once they are, and it is not cancelled by ctx: it records what has already
// happened (an SMTP 250), which must not be left out.
func (s *Store) TxEach(ctx context.Context, fns []func(*Tx) error) []error {
	ctx = context.WithoutCancel(ctx)
	s.writer <- struct{}{}
	defer func() { <-s.writer }()
	results := make([]error, len(fns))
	// Nearly always every fn succeeds: one plain transaction. Only when one fails is the
	// whole run again, each fn in a savepoint, so that the others' writes are kept.
	var failed error
	err := s.txLocked(ctx, func(tx *Tx) error {
		for _, fn := range fns {
			if failed = fn(tx); failed != nil {
				return failed
			}
		}
		return nil
	})
	switch {
	case err == nil:
		return results
	case failed == nil || len(fns) == 1: // the transaction itself failed, or the lone fn
		for i := range results {
			results[i] = err
		}
		return results
	}
	err = s.txLocked(ctx, func(tx *Tx) error {
		for i, fn := range fns {
			if _, err := tx.exec(`SAVEPOINT grouped`); err != nil {
				return err
			}
			// The fn's kept-back writes are made inside its savepoint, so that their failure is its.
			if results[i] = fn(tx); results[i] == nil {
				results[i] = tx.flush()
			}
			if results[i] != nil {
				if _, err := tx.exec(`ROLLBACK TO grouped`); err != nil {
					return err
				}
				// The rolled-back events are gone, the unwritten ones too, and their index rows.
				tx.head, tx.events, tx.sent, tx.indexed = nil, tx.events[:0], tx.sent[:0], nil
			}
			if _, err := tx.exec(`RELEASE grouped`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for i := range results {
			results[i] = errors.Join(err, results[i])
		}
	}
	return results
}

// flush writes what the transaction has kept back to write together: the outbox rows
// marked sent, and the events.
func (t *Tx) flush() error {
	if err := t.flushSent(); err != nil {
		return err
	}
	return t.flushEvents()
}

func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		// A *sql.Row can only carry its error through a query; this one fails the same way.
		return t.tx.QueryRowContext(t.ctx, query, args...)
	}
	return st.QueryRowContext(t.ctx, args...)
}

// stmt is the Store's prepared query, bound to this transaction.
func (t *Tx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := t.bound[query]; ok {
		return st, nil
	}
	st, err := t.s.stmt(t.ctx, query)
	if err != nil {
		return nil, err
	}
	if t.bound == nil {
		t.bound = make(map[string]*sql.Stmt, 16)
	}
	b := t.tx.StmtContext(t.ctx, st)
	t.bound[query] = b
	return b, nil
}
