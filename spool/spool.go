// Package spool stores raw mail, content-addressed by SHA-256, durably on disk.
package spool

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Spool is a directory of immutable blobs named by their SHA-256.
type Spool struct{ dir string }

// Open creates the directory if needed. Blobs hold patients' mail: only the owner may read them.
func Open(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool %s: %w", dir, err)
	}
	return &Spool{dir: dir}, nil
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

// PutReader streams r into the spool and returns its sum and size. The bytes are never
// held in memory as a whole, so a 25 MB scan costs a buffer, not 25 MB.
func (s *Spool) PutReader(r io.Reader) (string, int64, error) {
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return "", 0, fmt.Errorf("spool: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		tmp.Close()
		return "", n, fmt.Errorf("spool: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", n, fmt.Errorf("spool: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", n, fmt.Errorf("spool: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	p, _ := s.path(sum)
	if _, err := os.Stat(p); err == nil {
		return sum, n, nil
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", n, fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", n, fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", n, err
	}
	return sum, n, nil
}

// Put stores b and returns its sum. It returns only once the bytes are on disk (file and
// directory fsynced), so a database row that names the sum never points at nothing.
func (s *Spool) Put(b []byte) (string, error) {
	sum := Sum(b)
	p, err := s.path(sum)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err == nil {
		return sum, nil
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return "", fmt.Errorf("spool: write %s: %w", sum, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("spool: sync %s: %w", sum, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(dir); err != nil {
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
	return os.Open(p)
}

// Remove deletes a blob; removing one that is already gone is not an error.
func (s *Spool) Remove(sum string) error {
	p, err := s.path(sum)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
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
}

// Batch starts a batch of writes.
func (s *Spool) Batch() *Batch { return &Batch{s: s, pending: map[string]string{}} }

// Put writes b to a temporary file (no fsync yet) and returns its sum.
func (b *Batch) Put(data []byte) (string, error) {
	sum := Sum(data)
	p, err := b.s.path(sum)
	if err != nil {
		return "", err
	}
	if _, ok := b.pending[sum]; ok {
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

// Sync makes every pending blob durable under its sum: the files are fsynced, renamed into
// place, and the directories fsynced. After an error nothing may be committed that names
// these blobs.
func (b *Batch) Sync() error {
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

// Discard removes the temporary files of a batch that will not be committed.
func (b *Batch) Discard() {
	for _, tmp := range b.pending {
		os.Remove(tmp)
	}
	clear(b.pending)
}
