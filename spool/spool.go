// Package spool stores raw mail, content-addressed by SHA-256, durably on disk.
package spool

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// Spool is a directory of immutable blobs named by their SHA-256. Blobs up to SmallMax
// bytes live in one SQLite file in it (small.db), larger ones in a file each. Creating a
// file costs more than writing a few kilobytes, and on a filesystem where the mail server
// deletes its queue files it can cost a millisecond (docs/PERFORMANCE.md); a group of
// small blobs shares one transaction and one fsync instead.
//
// small.db keeps a rollback journal, not a write-ahead log: blobs are only ever appended,
// and SQLite journals no page beyond the file's old end, so each byte is written once. A
// write-ahead log wrote it twice (log, then checkpoint): a third of the CPU of storing a
// mail. The price is that readers and a writer exclude each other; in this process they
// take turns on mu, briefly, instead of in SQLite's sleeping busy handler.
//
// The spool, not triagem.db, is where mail text lives: the audit database holds none.
type Spool struct {
	dir      string
	db       *sql.DB
	mu       sync.RWMutex // small.db: readers share, a writer is alone
	getSmall *sql.Stmt    // prepared once: compiling the SQL cost as much as reading the blob
	putSmall *sql.Stmt
	putFrame *sql.Stmt
	hasSmall *sql.Stmt
	framesOf *sql.Stmt // the frames around any of a JSON array of sums
	// deleteFrom deletes a JSON array of sums from blobs, or from frames, and returns the
	// sums it deleted: one statement for a run of sent drafts, where one each, compiled
	// each time, cost 2.6 % of a backlog's CPU (docs/PERFORMANCE.md, lesson 31).
	deleteFrom map[string]*sql.Stmt
	recent     recent
}

// SmallMax is the largest blob kept in small.db.
const SmallMax = 256 << 10

// Open creates the directory if needed. Blobs hold patients' mail: only the owner may read
// them, and a deleted small blob is overwritten in the file (secure_delete).
func Open(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool %s: %w", dir, err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(TRUNCATE)", "synchronous(FULL)", "secure_delete(1)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	path := filepath.Join(dir, "small.db")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS blobs (sum TEXT PRIMARY KEY, data BLOB NOT NULL);` + framesSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open spool %s: %w (is the state directory writable by this user?)", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	s := &Spool{dir: dir, db: db, deleteFrom: map[string]*sql.Stmt{}}
	for _, table := range []string{"blobs", "frames"} {
		if err == nil {
			s.deleteFrom[table], err = db.Prepare(`DELETE FROM ` + table + ` WHERE sum IN (SELECT value FROM json_each(?)) RETURNING sum`)
		}
	}
	for _, st := range []struct {
		to  **sql.Stmt
		sql string
	}{
		{&s.getSmall, `SELECT data, '', 0 FROM blobs WHERE sum = ?1 UNION ALL SELECT data, inner, split FROM frames WHERE sum = ?1 LIMIT 1`},
		{&s.putSmall, `INSERT INTO blobs (sum, data) VALUES (?, ?) ON CONFLICT (sum) DO NOTHING`},
		{&s.putFrame, `INSERT INTO frames (sum, inner, split, data) VALUES (?, ?, ?, ?) ON CONFLICT (sum) DO NOTHING`},
		{&s.hasSmall, `SELECT 1 FROM blobs WHERE sum = ?`},
		{&s.framesOf, `SELECT sum, inner, split, data FROM frames WHERE inner IN (SELECT value FROM json_each(?))`},
	} {
		if err == nil {
			*st.to, err = db.Prepare(st.sql)
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	// A spool written by an older triagem is in WAL mode; it leaves it only when no other
	// process has it open. Until then a removed blob could outlive Forget in the log.
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "truncate" {
		db.Close()
		return nil, fmt.Errorf("open spool %s: journal mode %q, want truncate (%v): stop every other triagem process using this state directory, then start again", path, mode, err)
	}
	return s, nil
}

// Close closes small.db.
func (s *Spool) Close() error { return s.db.Close() }

// small returns a blob kept in small.db: whole, from memory if it was just written, or
// as a frame around another blob. ok is false when it is not there.
func (s *Spool) small(sum string) (b []byte, f *frame, ok bool, err error) {
	if b, ok := s.recent.take(sum); ok {
		return b, nil, true, nil
	}
	var inner string
	var split int
	s.mu.RLock()
	err = s.getSmall.QueryRow(sum).Scan(&b, &inner, &split)
	s.mu.RUnlock()
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("spool: read %s: %w", sum, err)
	}
	if inner != "" {
		if split < 0 || split > len(b) {
			return nil, nil, false, fmt.Errorf("spool: the frame %s is damaged: restore the spool from backup", sum)
		}
		return nil, &frame{inner: inner, split: split, data: b}, true, nil
	}
	return b, nil, true, nil
}

// Sum is the name a blob with these bytes gets.
func Sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (s *Spool) path(sum string) (string, error) {
	if len(sum) != 64 {
		return "", fmt.Errorf("spool: %q is not a SHA-256", sum)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return "", fmt.Errorf("spool: %q is not a SHA-256", sum)
	}
	return filepath.Join(s.dir, sum[:2], sum), nil
}

// PutReader streams r into the spool and returns its sum and size, durable at return.
// Past SmallMax the bytes are never held in memory as a whole, so a 25 MB scan costs a
// buffer, not 25 MB.
func (s *Spool) PutReader(r io.Reader) (string, int64, error) {
	b := s.Batch()
	sum, n, err := b.PutReader(r)
	if err == nil {
		err = b.Sync()
	}
	if err != nil {
		b.Discard()
		return "", n, err
	}
	return sum, n, nil
}

// Put stores b and returns its sum. It returns only once the bytes are on disk, so a
// database row that names the sum never points at nothing: a one-blob Batch.
func (s *Spool) Put(b []byte) (string, error) {
	bt := s.Batch()
	sum, err := bt.Put(b)
	if err == nil {
		err = bt.Sync()
	}
	if err != nil {
		bt.Discard()
		return "", err
	}
	return sum, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync dir: %w", err)
	}
	return nil
}

// Get reads a whole blob.
func (s *Spool) Get(sum string) ([]byte, error) {
	p, err := s.path(sum)
	if err != nil {
		return nil, err
	}
	if b, f, ok, err := s.small(sum); err != nil || ok {
		if f != nil {
			return s.assemble(f)
		}
		return b, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("spool: blob %s is missing: restore it from backup or purge its case", sum)
	}
	return b, err
}

// Open streams a blob.
func (s *Spool) Open(sum string) (io.ReadCloser, error) {
	p, err := s.path(sum)
	if err != nil {
		return nil, err
	}
	if b, f, ok, err := s.small(sum); err != nil {
		return nil, err
	} else if f != nil {
		return s.openFrame(f)
	} else if ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("spool: blob %s is missing: restore it from backup or purge its case", sum)
	}
	return f, err
}

// Forget removes blobs that must not outlive their use (a sent draft mail holds its agent's
// token), in one transaction: secure_delete overwrites their bytes in small.db, and the
// journal that held the old pages is truncated at the commit, so they are gone from the
// files, not only unlinked. Callers collect a run of blobs and forget them together.
func (s *Spool) Forget(sums []string) error {
	if err := s.unframe(sums); err != nil {
		return err
	}
	for _, sum := range sums {
		s.recent.drop(sum)
	}
	small, err := s.deleteRows(sums, "blobs", "frames")
	if err != nil {
		return err
	}
	for _, sum := range sums {
		// A small blob is in small.db, never in a file of its own too (its size decides):
		// removing a file that was never there was a failed system call for each sent
		// draft. A frame's sum may also have become a file (unframe), so it is tried.
		if small[sum] {
			continue
		}
		if p, err := s.path(sum); err == nil {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("spool: %w", err)
			}
		}
	}
	return nil
}

// deleteRows deletes the rows of sums from each of tables, in one transaction of small.db,
// and returns the sums that the first table held.
func (s *Spool) deleteRows(sums []string, tables ...string) (inFirst map[string]bool, err error) {
	list, err := json.Marshal(sums)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.Begin()
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	inFirst = map[string]bool{}
	for i, table := range tables {
		if err := deleteFrom(tx.Stmt(s.deleteFrom[table]), string(list), inFirst, i == 0); err != nil {
			tx.Rollback()
			return nil, fmt.Errorf("spool: remove from %s: %w", table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("spool: commit: %w", err)
	}
	return inFirst, nil
}

// deleteFrom runs one of Spool.deleteFrom's statements and, when note, adds the sums it
// deleted to deleted.
func deleteFrom(st *sql.Stmt, list string, deleted map[string]bool, note bool) error {
	rows, err := st.Query(list)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			return err
		}
		if note {
			deleted[sum] = true
		}
	}
	return rows.Err()
}

// Remove deletes a blob, as Forget does; removing one that is already gone is not an
// error.
func (s *Spool) Remove(sum string) error {
	if _, err := s.path(sum); err != nil {
		return err
	}
	return s.Forget([]string{sum})
}

// Writer stores a blob and returns its sum: the Spool itself (each blob durable at once),
// or a Batch (durable at its Sync).
type Writer interface {
	Put(b []byte) (string, error)
}

// Batch writes blobs now and makes them durable together at Sync, before the database
// commit that names them: one flush for a group of mails instead of one per blob. Until
// Sync, a blob is only a temporary file, never under its sum, so a crash cannot leave a
// name pointing at incomplete bytes. A Batch is not safe for concurrent use.
type Batch struct {
	s       *Spool
	pending map[string]string // sum → temporary file
	small   map[string][]byte // sum → bytes for small.db
	frames  map[string]frame  // sum → a frame for small.db
	wholes  map[string][]byte // sum → a frame's whole bytes, for the recent copies
}

// Batch starts a batch of writes.
func (s *Spool) Batch() *Batch {
	return &Batch{s: s, pending: map[string]string{}, small: map[string][]byte{}, frames: map[string]frame{}, wholes: map[string][]byte{}}
}

// Put keeps a small blob in memory, or writes a larger one to a temporary file (no fsync
// yet), and returns its sum.
func (b *Batch) Put(data []byte) (string, error) {
	sum := Sum(data)
	p, err := b.s.path(sum)
	if err != nil {
		return "", err
	}
	if _, ok := b.pending[sum]; ok {
		return sum, nil
	}
	if _, ok := b.frames[sum]; ok {
		return sum, nil
	}
	if len(data) <= SmallMax {
		b.small[sum] = data
		return sum, nil
	}
	if _, err := os.Stat(p); err == nil {
		return sum, nil // already durable under its name
	}
	tmp, err := os.CreateTemp(b.s.dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("spool: write %s: %w", sum, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("spool: %w", err)
	}
	b.pending[sum] = tmp.Name()
	return sum, nil
}

// PutReader is Put for a stream: a small one is kept in memory, a large one streamed to a
// temporary file (no fsync yet), never held whole.
func (b *Batch) PutReader(r io.Reader) (string, int64, error) {
	head, err := readHead(r)
	if err != nil {
		return "", int64(len(head)), fmt.Errorf("spool: read: %w", err)
	}
	if len(head) <= SmallMax {
		sum, err := b.Put(head)
		return sum, int64(len(head)), err
	}
	tmp, err := os.CreateTemp(b.s.dir, ".tmp-*")
	if err != nil {
		return "", 0, fmt.Errorf("spool: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.MultiReader(bytes.NewReader(head), r))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", n, fmt.Errorf("spool: write: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if _, ok := b.pending[sum]; ok {
		os.Remove(tmp.Name())
		return sum, n, nil
	}
	b.pending[sum] = tmp.Name()
	return sum, n, nil
}

// readHead reads up to SmallMax+1 bytes of r. When r knows its size (an IMAP literal
// does), the buffer is made that big at once: io.ReadAll grows from 512 bytes, which for
// a 26 KB mail was a dozen reads, each a system call, and 60 KB of garbage.
func readHead(r io.Reader) ([]byte, error) {
	sized, ok := r.(interface{ Size() int64 })
	if !ok || sized.Size() <= 0 {
		return io.ReadAll(io.LimitReader(r, SmallMax+1))
	}
	// A stream that ends before its size is an error, never a shorter mail: an IMAP
	// connection dropped in the middle of a literal.
	head := make([]byte, min(sized.Size(), SmallMax+1))
	n, err := io.ReadFull(r, head)
	return head[:n], err
}

// Sync makes every pending blob durable under its sum: the small ones in one transaction
// of small.db; the files are fsynced, renamed into place, and the directories fsynced.
// After an error nothing may be committed that names these blobs.
func (b *Batch) Sync() error {
	if len(b.small) > 0 || len(b.frames) > 0 {
		if err := b.syncSmall(); err != nil {
			return err
		}
	}
	if len(b.pending) == 0 {
		return nil
	}
	for _, tmp := range b.pending {
		f, err := os.Open(tmp)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("spool: sync: %w", err)
		}
	}
	dirs := map[string]bool{}
	for sum, tmp := range b.pending {
		p, _ := b.s.path(sum)
		dir := filepath.Dir(p)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		dirs[dir] = true
	}
	dirs[b.s.dir] = true // the temporary files' directory lost entries too
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	clear(b.pending)
	return nil
}

// syncSmall writes the small blobs in one transaction of small.db.
func (b *Batch) syncSmall() error {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	tx, err := b.s.db.Begin()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	put := tx.Stmt(b.s.putSmall)
	for sum, data := range b.small {
		if _, err := put.Exec(sum, data); err != nil {
			tx.Rollback()
			return fmt.Errorf("spool: store %s: %w", sum, err)
		}
	}
	putFrame := tx.Stmt(b.s.putFrame)
	for sum, f := range b.frames {
		if _, err := putFrame.Exec(sum, f.inner, f.split, f.data); err != nil {
			tx.Rollback()
			return fmt.Errorf("spool: store %s: %w", sum, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("spool: commit: %w", err)
	}
	for sum, data := range b.small {
		b.s.recent.add(sum, data)
	}
	for sum, whole := range b.wholes {
		b.s.recent.add(sum, whole)
	}
	clear(b.small)
	clear(b.frames)
	clear(b.wholes)
	return nil
}

// Discard removes the temporary files of a batch that will not be committed.
func (b *Batch) Discard() {
	for _, tmp := range b.pending {
		os.Remove(tmp)
	}
	clear(b.pending)
	clear(b.small)
	clear(b.frames)
	clear(b.wholes)
}
